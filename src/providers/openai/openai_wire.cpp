#include "providers/openai/openai_wire.hpp"

#include "common/base64.hpp"
#include "common/json_get.hpp"
#include "providers/error_text.hpp"
#include "providers/upstream_policy.hpp"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

namespace llmp::providers::openai {
namespace {

using json = nlohmann::json;

/// Ollama sends images as bare base64; OpenAI wants a data: URL with a media type, which the
/// first bytes of the base64 text give away.
/// Remote URLs reach here only when the operator allowed them (apply_upstream_policy).
std::string image_url(const std::string& b64) {
    if (b64.rfind("data:", 0) == 0 || b64.rfind("http://", 0) == 0 || b64.rfind("https://", 0) == 0) {
        return b64;
    }
    std::string_view type = "image/png";
    if (b64.rfind("/9j/", 0) == 0) {
        type = "image/jpeg";
    } else if (b64.rfind("R0lGOD", 0) == 0) {
        type = "image/gif";
    } else if (b64.rfind("UklGR", 0) == 0) {
        type = "image/webp";
    }
    return "data:" + std::string{type} + ";base64," + b64;
}

json map_message(const json& m) {
    if (!m.is_object()) {
        return m;
    }
    json out = json::object();
    out["role"] = m.value("role", "user");
    auto content = m.find("content");
    json text = content == m.end() || content->is_null() ? json("") : *content;
    auto images = m.find("images");
    if (images != m.end() && images->is_array() && !images->empty()) {
        json parts = json::array();
        if (text.is_array()) {
            parts = text;
        } else if (text.is_string() && !text.get_ref<const std::string&>().empty()) {
            parts.push_back(json{{"type", "text"}, {"text", text}});
        }
        for (const auto& img : *images) {
            if (img.is_string()) {
                parts.push_back(
                    json{{"type", "image_url"}, {"image_url", json{{"url", image_url(img.get<std::string>())}}}});
            }
        }
        out["content"] = std::move(parts);
    } else {
        out["content"] = std::move(text);
    }
    auto calls = m.find("tool_calls");
    if (calls != m.end() && calls->is_array() && !calls->empty()) {
        // OpenAI's shape exactly ({id, type, function: {name, arguments}}): Ollama's
        // function.index and any other field stay behind, arguments objects become their text.
        json mapped = json::array();
        std::size_t i = 0;
        for (const auto& c : *calls) {
            auto fn = c.is_object() ? c.find("function") : c.end();
            if (fn == c.end() || !fn->is_object()) {
                continue;
            }
            json arguments = fn->value("arguments", json::object());
            json call = {{"id", get_or<std::string>(c, "id", "call_" + std::to_string(i))},
                         {"type", "function"},
                         {"function",
                          {{"name", get_or<std::string>(*fn, "name", "")},
                           {"arguments", arguments.is_string() ? arguments : json(arguments.dump())}}}};
            mapped.push_back(std::move(call));
            ++i;
        }
        out["tool_calls"] = std::move(mapped);
    }
    // A tool message answers by id (OpenAI has no name there); the others may be named.
    const char* key = out["role"] == "tool" ? "tool_call_id" : "name";
    if (auto it = m.find(key); it != m.end() && it->is_string()) {
        out[key] = *it;
    }
    return out;
}

/// Ollama's history may lack what OpenAI requires: an id on each assistant tool call and, on
/// each tool message, the tool_call_id it answers (Ollama names the tool instead, or nothing).
/// Gives calls without one a stable id ("call_<message>_<call>") and pairs each tool message
/// without an id with the earliest unanswered call of the same name (or the earliest at all).
json with_tool_call_ids(const json& messages) {
    json out = messages;
    std::vector<std::pair<std::string, std::string>> unanswered;  // (id, name)
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto& m = out[i];
        if (!m.is_object()) {
            continue;
        }
        const std::string role = get_or<std::string>(m, "role", "");
        auto calls = m.find("tool_calls");
        if (role == "assistant" && calls != m.end() && calls->is_array()) {
            unanswered.clear();
            for (std::size_t k = 0; k < calls->size(); ++k) {
                auto& c = (*calls)[k];
                if (!c.is_object()) {
                    continue;
                }
                auto id = c.find("id");
                if (id == c.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) {
                    c["id"] = "call_" + std::to_string(i) + "_" + std::to_string(k);
                }
                std::string name;
                if (auto fn = c.find("function"); fn != c.end() && fn->is_object()) {
                    name = get_or<std::string>(*fn, "name", "");
                }
                unanswered.emplace_back(c["id"].get<std::string>(), std::move(name));
            }
        } else if (role == "tool") {
            auto id = m.find("tool_call_id");
            if (id != m.end() && id->is_string() && !id->get_ref<const std::string&>().empty()) {
                auto answered =
                    std::find_if(unanswered.begin(), unanswered.end(), [&](const auto& u) { return u.first == *id; });
                if (answered != unanswered.end()) {
                    unanswered.erase(answered);
                }
                continue;
            }
            const std::string name = get_or<std::string>(m, "tool_name", get_or<std::string>(m, "name", ""));
            auto match = std::find_if(unanswered.begin(), unanswered.end(),
                                      [&](const auto& u) { return !name.empty() && u.second == name; });
            if (match == unanswered.end()) {
                match = unanswered.begin();
            }
            if (match != unanswered.end()) {
                m["tool_call_id"] = match->first;
                unanswered.erase(match);
            }
        }
    }
    return out;
}

std::int64_t int_or(const json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

/// One element of an event's choices into `out` (index, delta or text, tool calls, logprobs,
/// finish reason).
void read_choice(json& choice, stream_chunk& out) {
    if (auto i = choice.find("index"); i != choice.end() && i->is_number_integer()) {
        const auto v = i->get<std::int64_t>();
        out.index = v >= 0 && v <= max_frame_choice ? static_cast<int>(v) : -1;
    }
    if (auto d = choice.find("delta"); d != choice.end() && d->is_object()) {
        if (auto t = d->find("content"); t != d->end() && t->is_string()) {
            out.delta = t->get<std::string>();
        }
        if (auto t = d->find("tool_calls"); t != d->end() && t->is_array()) {
            out.tool_calls = *t;
        }
    } else if (auto t = choice.find("text"); t != choice.end() && t->is_string()) {
        out.delta = t->get<std::string>();
    }
    if (auto lp = choice.find("logprobs"); lp != choice.end() && lp->is_object()) {
        if (auto content = lp->find("content"); content != lp->end() && content->is_array()) {
            out.logprobs = std::move(*content);
        }
    }
    if (auto f = choice.find("finish_reason"); f != choice.end() && f->is_string()) {
        out.finish_reason = f->get<std::string>();
    }
}

}  // namespace

std::string request_body(const generation_request& req, const std::string& upstream_model) {
    json body = json::object();
    body["model"] = upstream_model;
    auto sys = req.extra.is_object() ? req.extra.find("system") : req.extra.end();
    bool has_system_text = req.extra.is_object() && sys != req.extra.end() && sys->is_string();
    if (req.kind == request_kind::chat) {
        json messages = json::array();
        if (req.messages.is_array()) {
            for (const auto& m : with_tool_call_ids(req.messages)) {
                messages.push_back(map_message(m));
            }
        }
        if (has_system_text) {
            bool has_system =
                !messages.empty() && messages.front().is_object() && messages.front().value("role", "") == "system";
            if (!has_system) {
                messages.insert(messages.begin(), json{{"role", "system"}, {"content", *sys}});
            }
        }
        body["messages"] = std::move(messages);
    } else {
        std::string prompt = req.prompt;
        if (has_system_text && !sys->get_ref<const std::string&>().empty()) {
            prompt = sys->get<std::string>() + "\n\n" + prompt;
        }
        body["prompt"] = std::move(prompt);
        if (auto s = req.extra.find("suffix"); req.extra.is_object() && s != req.extra.end() && s->is_string()) {
            body["suffix"] = *s;
        }
    }
    // Always bounded: without max_tokens an OpenAI-compatible server generates up to the
    // model's context length.
    body["max_tokens"] = token_limit_for(req, req.max_tokens).n;
    if (req.options.is_object()) {
        for (const char* key : {"temperature", "top_p", "seed"}) {
            if (auto it = req.options.find(key); it != req.options.end() && it->is_number()) {
                body[key] = *it;
            }
        }
        if (auto stop = req.options.find("stop");
            stop != req.options.end() && (stop->is_string() || stop->is_array())) {
            if (!stop->empty()) {
                body["stop"] = *stop;
            }
        }
    }
    if (req.extra.is_object()) {
        if (auto rf = req.extra.find("response_format"); rf != req.extra.end() && rf->is_object()) {
            body["response_format"] = *rf;  // an OpenAI client's own, name and strict included
        } else if (auto f = req.extra.find("format"); f != req.extra.end()) {
            if (f->is_string() && f->get_ref<const std::string&>() == "json") {
                body["response_format"] = json{{"type", "json_object"}};
            } else if (f->is_object()) {
                body["response_format"] =
                    json{{"type", "json_schema"}, {"json_schema", json{{"name", "response"}, {"schema", *f}}}};
            }
        }
        for (const char* key : {"tools", "tool_choice", "parallel_tool_calls"}) {
            if (auto it = req.extra.find(key); it != req.extra.end() && !it->is_null()) {
                body[key] = *it;
            }
        }
        // Chat only: /completions' logprobs is an integer of another meaning.
        if (auto lp = req.extra.find("logprobs");
            req.kind == request_kind::chat && lp != req.extra.end() && lp->is_boolean() && lp->get<bool>()) {
            body["logprobs"] = true;
            if (auto top = req.extra.find("top_logprobs"); top != req.extra.end() && top->is_number_integer()) {
                body["top_logprobs"] = *top;
            }
        }
    }
    if (const int n = choices_wanted(req); n > 1 && req.kind == request_kind::chat) {
        body["n"] = n;  // the upstream generates them; each chunk names its choice's index
    }
    body["stream"] = true;
    body["stream_options"] = json{{"include_usage", true}};
    return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

result<stream_chunk> parse_chunk(std::string_view data) {
    json j = json::parse(data, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
        return fail("upstream_error", "the upstream sent an event that is not a JSON object: " + shorten(data, 200));
    }
    stream_chunk out;
    if (auto e = j.find("error"); e != j.end() && !e->is_null()) {
        out.has_error = true;
        out.error = error_text(j.dump());
        return out;
    }
    if (auto c = j.find("choices"); c != j.end() && c->is_array()) {
        // One choice per event is what OpenAI and vLLM send (n > 1 too, each with its index);
        // any further choice of the same event goes to `others`.
        bool first = true;
        for (auto& choice : *c) {
            if (!choice.is_object()) {
                continue;
            }
            if (first) {
                read_choice(choice, out);
                first = false;
            } else {
                read_choice(choice, out.others.emplace_back());
            }
        }
    }
    if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
        out.has_usage = true;
        out.prompt_tokens = int_or(*u, "prompt_tokens");
        out.completion_tokens = int_or(*u, "completion_tokens");
        out.usage = *u;
    }
    return out;
}

std::string error_code(std::string_view body) {
    json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
        return {};
    }
    auto it = j.find("error");
    if (it == j.end() || !it->is_object()) {
        return {};
    }
    for (const char* key : {"code", "type"}) {
        if (auto c = it->find(key); c != it->end() && c->is_string()) {
            return c->get<std::string>();
        }
    }
    return {};
}

std::optional<std::vector<std::string>> model_ids(std::string_view body) {
    json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
        return std::nullopt;
    }
    auto data = j.find("data");
    if (data == j.end() || !data->is_array()) {
        return std::nullopt;
    }
    std::vector<std::string> ids;
    for (const auto& m : *data) {
        if (m.is_object()) {
            if (auto id = m.find("id");
                id != m.end() && id->is_string() && !id->get_ref<const std::string&>().empty()) {
                ids.push_back(id->get<std::string>());
            }
        }
    }
    return ids;
}

std::string embed_request_body(const generation_request& req, const std::string& upstream_model) {
    json body = {{"model", upstream_model},
                 {"input", req.input.is_array() ? req.input : json::array()},
                 {"encoding_format", "float"}};
    if (auto d = req.extra.is_object() ? req.extra.find("dimensions") : req.extra.end(); d != req.extra.end()) {
        body["dimensions"] = *d;
    }
    return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

result<completion> parse_embed_response(std::string_view body) {
    auto j = json::parse(body, nullptr, /*allow_exceptions=*/false);
    auto data = j.is_object() ? j.find("data") : j.end();
    if (!j.is_object() || data == j.end() || !data->is_array()) {
        return fail("upstream_error", "the answer to POST /embeddings holds no \"data\" list");
    }
    std::vector<json> vectors(data->size());
    for (std::size_t k = 0; k < data->size(); ++k) {
        const auto& item = (*data)[k];
        auto index = item.is_object() ? get_or<std::int64_t>(item, "index", static_cast<std::int64_t>(k)) : -1;
        auto e = item.is_object() ? item.find("embedding") : item.end();
        if (index < 0 || static_cast<std::size_t>(index) >= vectors.size() || e == item.end()) {
            return fail("upstream_error", "the answer to POST /embeddings has a data item without index or embedding");
        }
        if (e->is_string()) {
            auto bytes = base64_decode(e->get_ref<const std::string&>());
            if (!bytes || bytes->size() % sizeof(float) != 0) {
                return fail("upstream_error",
                            "the answer to POST /embeddings has an embedding that is not base64 float32");
            }
            json v = json::array();
            for (std::size_t i = 0; i < bytes->size(); i += sizeof(float)) {
                float f = 0;
                std::memcpy(&f, bytes->data() + i, sizeof(float));
                v.push_back(static_cast<double>(f));
            }
            vectors[static_cast<std::size_t>(index)] = std::move(v);
        } else {
            vectors[static_cast<std::size_t>(index)] = *e;
        }
    }
    completion c;
    c.embeddings = json::array();
    for (auto& v : vectors) {
        c.embeddings.push_back(std::move(v));
    }
    if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
        c.prompt_tokens = get_or<std::int64_t>(*u, "prompt_tokens", 0);
        c.provider_metrics["usage"] = *u;
    }
    return c;
}

}  // namespace llmp::providers::openai
