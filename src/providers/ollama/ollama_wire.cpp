#include "providers/ollama/ollama_wire.hpp"

#include "common/json_get.hpp"
#include "providers/error_text.hpp"
#include "providers/upstream_policy.hpp"

#include <simdjson.h>

#include <array>
#include <utility>

namespace llmp::providers::ollama {
namespace {

using json = nlohmann::json;

/// Keys of a request body that the provider sets itself; `extra` cannot override them.
bool owned_key(std::string_view k) {
    return k == "model" || k == "messages" || k == "prompt" || k == "stream" || k == "options";
}

/// Ollama has no tool_choice (nor parallel_tool_calls): "none" sends no tools, a named function
/// sends only that one; "auto" and "required" send them all (Ollama cannot force a call).
json tools_for_ollama(const json& tools, const json& choice) {
    if (choice.is_string() && choice.get_ref<const std::string&>() == "none") {
        return json{};
    }
    const json* fn = choice.is_object() && choice.contains("function") ? &choice["function"] : nullptr;
    if (fn == nullptr || !fn->is_object() || !fn->contains("name") || !tools.is_array()) {
        return tools;
    }
    json only = json::array();
    for (const auto& t : tools) {
        if (t.is_object() && t.contains("function") && t["function"].is_object() &&
            get_or<std::string>(t["function"], "name", "") == (*fn)["name"]) {
            only.push_back(t);
        }
    }
    return only;
}

/// Ollama's figures on the done:true line, passed on as provider_metrics (all int64 ns/counts).
using metric_field = std::optional<std::int64_t> stream_line::*;
constexpr std::array<std::pair<std::string_view, metric_field>, 6> metric_keys{{
    {"total_duration", &stream_line::total_duration},
    {"load_duration", &stream_line::load_duration},
    {"prompt_eval_count", &stream_line::prompt_eval_count},
    {"prompt_eval_duration", &stream_line::prompt_eval_duration},
    {"eval_count", &stream_line::eval_count},
    {"eval_duration", &stream_line::eval_duration},
}};

}  // namespace

std::string request_body(const generation_request& req) {
    json body = json::object();
    body["model"] = req.model;
    if (req.kind == request_kind::chat) {
        json messages = req.messages.is_array() ? req.messages : json::array();
        auto sys = req.extra.find("system");
        if (sys != req.extra.end() && sys->is_string()) {
            bool has_system =
                !messages.empty() && messages.front().is_object() && messages.front().value("role", "") == "system";
            if (!has_system) {
                messages.insert(messages.begin(), json{{"role", "system"}, {"content", *sys}});
            }
        }
        body["messages"] = std::move(messages);
    } else {
        body["prompt"] = req.prompt;
    }
    if (req.extra.is_object()) {
        for (const auto& [key, value] : req.extra.items()) {
            if (owned_key(key) || (req.kind == request_kind::chat && key == "system") || key == "tool_choice" ||
                key == "parallel_tool_calls" || key == "response_format" || key == "n") {
                continue;
            }
            if (key == "tools") {
                auto tools = tools_for_ollama(value, req.extra.value("tool_choice", json{}));
                if (!tools.is_null()) {
                    body[key] = std::move(tools);
                }
                continue;
            }
            body[key] = value;
        }
    }
    json options = req.options.is_object() ? req.options : json::object();
    // Always bounded: Ollama's own default (-1, or a missing num_predict) generates until the
    // context is full, which the proxy never asks for.
    options["num_predict"] = token_limit_for(req, req.max_tokens).n;
    body["options"] = std::move(options);
    body["stream"] = true;
    return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string embed_request_body(const generation_request& req) {
    json body = {{"model", req.model}, {"input", req.input.is_array() ? req.input : json::array()}};
    if (req.extra.is_object()) {
        for (const char* key : {"truncate", "dimensions", "keep_alive"}) {
            if (auto it = req.extra.find(key); it != req.extra.end()) {
                body[key] = *it;
            }
        }
    }
    if (req.options.is_object() && !req.options.empty()) {
        body["options"] = req.options;
    }
    return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

result<completion> parse_embed_response(std::string_view body) {
    auto j = json::parse(body, nullptr, /*allow_exceptions=*/false);
    auto list = j.is_object() ? j.find("embeddings") : j.end();
    if (!j.is_object() || list == j.end() || !list->is_array()) {
        return fail("upstream_error", "the answer to POST /api/embed holds no \"embeddings\" list");
    }
    completion c;
    c.embeddings = std::move(*list);
    // get_or: an upstream's mistyped count reads as none (json::value would throw type_error).
    c.prompt_tokens = get_or<std::int64_t>(j, "prompt_eval_count", 0);
    for (const char* key : {"total_duration", "load_duration", "prompt_eval_count"}) {
        if (auto it = j.find(key); it != j.end() && it->is_number_integer()) {
            c.provider_metrics[key] = *it;
        }
    }
    return c;
}

struct stream_parser::impl {
    simdjson::ondemand::parser parser;
    std::string buf;
};

stream_parser::stream_parser() : impl_{std::make_unique<impl>()} {}

stream_parser::~stream_parser() = default;

result<stream_line> stream_parser::parse(std::string_view line) {
    auto bad = [&](const char* why) {
        return fail("upstream_error",
                    std::string{"Ollama sent a line that is not a JSON object ("} + why + "): " + shorten(line, 200));
    };
    auto& buf = impl_->buf;
    buf.assign(line);
    buf.append(simdjson::SIMDJSON_PADDING, '\0');

    simdjson::ondemand::document doc;
    if (impl_->parser.iterate(buf.data(), line.size(), buf.size()).get(doc) != simdjson::SUCCESS) {
        return bad("cannot parse");
    }
    simdjson::ondemand::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS) {
        return bad("not an object");
    }
    stream_line out;
    for (auto field_result : obj) {
        simdjson::ondemand::field field;
        if (std::move(field_result).get(field) != simdjson::SUCCESS) {
            return bad("malformed");
        }
        auto key = field.key();
        auto value = field.value();
        if (key == "message") {
            simdjson::ondemand::object message;
            if (value.get_object().get(message) == simdjson::SUCCESS) {
                for (auto inner_result : message) {
                    simdjson::ondemand::field inner;
                    if (std::move(inner_result).get(inner) != simdjson::SUCCESS) {
                        return bad("malformed message");
                    }
                    if (inner.key() == "content") {
                        std::string_view content;
                        if (inner.value().get_string().get(content) == simdjson::SUCCESS) {
                            out.delta = content;
                        }
                    } else if (inner.key() == "tool_calls") {
                        simdjson::ondemand::array calls;
                        std::string_view raw;
                        if (inner.value().get_array().get(calls) == simdjson::SUCCESS &&
                            calls.raw_json().get(raw) == simdjson::SUCCESS) {
                            out.tool_calls = raw;
                        }
                    }
                }
            }
        } else if (key == "logprobs") {
            simdjson::ondemand::array entries;
            std::string_view raw;
            if (value.get_array().get(entries) == simdjson::SUCCESS &&
                entries.raw_json().get(raw) == simdjson::SUCCESS) {
                out.logprobs = raw;
            }
        } else if (key == "response") {
            std::string_view response;
            if (value.get_string().get(response) == simdjson::SUCCESS) {
                out.delta = response;
            }
        } else if (key == "done") {
            bool done = false;
            if (value.get_bool().get(done) == simdjson::SUCCESS) {
                out.done = done;
            }
        } else if (key == "done_reason") {
            std::string_view reason;
            if (value.get_string().get(reason) == simdjson::SUCCESS) {
                out.done_reason = reason;
            }
        } else if (key == "error") {
            out.has_error = true;
            std::string_view text;
            if (value.get_string().get(text) == simdjson::SUCCESS) {
                out.error = text;
            } else {
                out.error = "unknown error";
            }
        } else {
            for (const auto& [name, member] : metric_keys) {
                if (key == name) {
                    std::int64_t v = 0;
                    if (value.get_int64().get(v) == simdjson::SUCCESS) {
                        out.*member = v;
                    }
                    break;
                }
            }
        }
    }
    return out;
}

namespace {

/// {token, logprob, bytes} of one Ollama token entry; null when it is not one.
json token_logprob(const json& e) {
    auto token = e.is_object() ? e.find("token") : e.end();
    if (token == e.end() || !token->is_string()) {
        return json{};
    }
    json bytes = json::array();
    if (auto b = e.find("bytes"); b != e.end() && b->is_array()) {
        bytes = *b;
    } else {
        for (unsigned char ch : token->get_ref<const std::string&>()) {
            bytes.push_back(static_cast<int>(ch));
        }
    }
    auto lp = e.find("logprob");
    return json{{"token", *token},
                {"logprob", lp != e.end() && lp->is_number() ? *lp : json(0.0)},
                {"bytes", std::move(bytes)}};
}

}  // namespace

nlohmann::json logprobs_to_openai(const nlohmann::json& ollama) {
    json out = json::array();
    if (!ollama.is_array()) {
        return out;
    }
    for (const auto& e : ollama) {
        json entry = token_logprob(e);
        if (entry.is_null()) {
            continue;
        }
        json top = json::array();
        if (auto t = e.find("top_logprobs"); t != e.end() && t->is_array()) {
            for (const auto& alt : *t) {
                if (json a = token_logprob(alt); !a.is_null()) {
                    top.push_back(std::move(a));
                }
            }
        }
        entry["top_logprobs"] = std::move(top);
        out.push_back(std::move(entry));
    }
    return out;
}

nlohmann::json metrics_json(const stream_line& line) {
    json out = json::object();
    for (const auto& [name, member] : metric_keys) {
        if (const auto& v = line.*member) {
            out[std::string{name}] = *v;
        }
    }
    return out;
}

}  // namespace llmp::providers::ollama
