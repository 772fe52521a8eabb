#include "api/openai_request_parser.hpp"

#include "api/field_checks.hpp"
#include "api/json_body.hpp"
#include "common/ascii.hpp"
#include "common/base64.hpp"
#include "common/json_get.hpp"
#include "common/json_limits.hpp"

#include <algorithm>
#include <limits>

namespace llmp::api {
namespace {

using json = nlohmann::json;

auto invalid(const std::string& what) {
    return fail("invalid_field", what);
}

/// An image_url part's url as what the request message carries in `images`: a data: URL's
/// base64 payload (Ollama's shape; the OpenAI-compatible provider makes it a data: URL again),
/// or a remote URL as it is (refused unless the operator allows remote images: image_inputs.hpp).
result<std::string> image_of_url(const std::string& url, const std::string& where) {
    if (url.size() >= 5 && starts_with_nocase(url, "data:")) {
        auto comma = url.find(',');
        auto meta = std::string_view{url}.substr(5, comma == std::string::npos ? 0 : comma - 5);
        if (comma == std::string::npos || meta.size() < 7 ||
            !starts_with_nocase(meta.substr(meta.size() - 7), ";base64")) {
            return invalid(where + " must be a base64 data: URL (data:image/png;base64,...)");
        }
        auto payload = url.substr(comma + 1);
        if (payload.empty() || !base64_decode(payload)) {
            return invalid(where + " holds no valid base64 image data");
        }
        return payload;
    }
    return url;
}

/// A message's content as one string and its images: a string as it is, an array of
/// {type:"text", text} parts joined and {type:"image_url", image_url:{url}} parts as images
/// (image_of_url), null as "".
result<std::string> content_text(const json& content, const std::string& where, json& images) {
    if (content.is_null()) {
        return std::string{};
    }
    if (content.is_string()) {
        return content.get<std::string>();
    }
    if (!content.is_array()) {
        return invalid(where + " must be a string or an array of content parts");
    }
    std::string text;
    for (std::size_t i = 0; i < content.size(); ++i) {
        const auto& part = content[i];
        auto at = where + "[" + std::to_string(i) + "]";
        if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
            return invalid(at + " must be an object with a \"type\"");
        }
        if (part["type"] == "image_url") {
            auto img = part.find("image_url");
            const json* url = img == part.end()                          ? nullptr
                              : img->is_object() && img->contains("url") ? &(*img)["url"]
                                                                         : &*img;
            if (url == nullptr || !url->is_string()) {
                return invalid(at + ".image_url.url must be a string (a data: URL)");
            }
            auto image = image_of_url(url->get<std::string>(), at + ".image_url.url");
            if (!image) {
                return image.error();
            }
            images.push_back(std::move(image.value()));
            continue;
        }
        if (part["type"] != "text") {
            return invalid(at + ".type '" + part["type"].get<std::string>() +
                           "' is not supported: only \"text\" and \"image_url\" parts are");
        }
        auto t = part.find("text");
        if (t == part.end() || !t->is_string()) {
            return invalid(at + ".text must be a string");
        }
        text += t->get_ref<const std::string&>();
    }
    return text;
}

/// An assistant message's OpenAI tool_calls -> Ollama's ({id, function:{index, name,
/// arguments:{...}}}); the arguments text must be a JSON object (it is what the model wrote).
result<json> translate_tool_calls(const json& calls, const std::string& where) {
    if (!calls.is_array()) {
        return invalid(where + " must be an array of {\"id\", \"type\": \"function\", \"function\"} objects");
    }
    json out = json::array();
    for (std::size_t k = 0; k < calls.size(); ++k) {
        const auto& c = calls[k];
        auto at = where + "[" + std::to_string(k) + "]";
        auto fn = c.is_object() ? c.find("function") : c.end();
        if (!c.is_object() || fn == c.end() || !fn->is_object() || !fn->contains("name") ||
            !(*fn)["name"].is_string()) {
            return invalid(at + " must be {\"id\", \"type\": \"function\", \"function\": {\"name\", \"arguments\"}}");
        }
        json arguments = json::object();
        if (auto a = fn->find("arguments"); a != fn->end() && !a->is_null()) {
            if (a->is_string()) {
                // Bounded: the object moves into the request message, under 7 levels of it.
                auto parsed = parse_json_bounded(a->get_ref<const std::string&>(), max_request_json_depth - 8);
                arguments = parsed ? std::move(parsed.value()) : json{};
            } else {
                arguments = *a;
            }
            if (!arguments.is_object()) {
                return invalid(at + ".function.arguments must be a JSON object (as text), nested at most " +
                               std::to_string(max_request_json_depth - 8) + " levels");
            }
        }
        json call = json::object();
        if (auto id = c.find("id"); id != c.end() && id->is_string()) {
            call["id"] = *id;
        }
        call["function"] = {{"index", k}, {"name", (*fn)["name"]}, {"arguments", std::move(arguments)}};
        out.push_back(std::move(call));
    }
    return out;
}

/// The tool name of the assistant tool call with this id earlier in the conversation (Ollama
/// wants tool_name on a tool message, OpenAI only sends tool_call_id), "" when none.
std::string tool_name_of(const json& translated, const std::string& id) {
    for (auto m = translated.rbegin(); m != translated.rend(); ++m) {
        if (auto calls = m->find("tool_calls"); calls != m->end()) {
            for (const auto& c : *calls) {
                if (get_or<std::string>(c, "id", "") == id) {
                    return get_or<std::string>(c["function"], "name", "");
                }
            }
        }
    }
    return {};
}

/// OpenAI messages -> Ollama-shaped {role, content, images?, tool_calls?, tool_call_id?, tool_name?}
/// (developer is system to Ollama).
result<json> translate_messages(const json& messages) {
    if (!messages.is_array() || messages.empty()) {
        return invalid("messages must be a non-empty array of {\"role\", \"content\"} objects");
    }
    json out = json::array();
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const auto& m = messages[i];
        auto where = "messages[" + std::to_string(i) + "]";
        if (!m.is_object()) {
            return invalid(where + " must be an object");
        }
        auto role = m.find("role");
        if (role == m.end() || !role->is_string()) {
            return invalid(where + ".role is required (system, developer, user, assistant or tool)");
        }
        std::string r = role->get<std::string>();
        if (r != "system" && r != "developer" && r != "user" && r != "assistant" && r != "tool") {
            return invalid(where + ".role '" + r + "' is not one of system, developer, user, assistant, tool");
        }
        if (r == "developer") {
            r = "system";
        }
        auto content = m.find("content");
        json images = json::array();
        auto text = content_text(content == m.end() ? json{} : *content, where + ".content", images);
        if (!text) {
            return text.error();
        }
        json msg = json::object();
        msg["role"] = r;
        msg["content"] = std::move(text.value());
        if (!images.empty()) {
            msg["images"] = std::move(images);
        }
        if (auto calls = m.find("tool_calls"); r == "assistant" && calls != m.end() && !calls->is_null()) {
            auto translated = translate_tool_calls(*calls, where + ".tool_calls");
            if (!translated) {
                return translated.error();
            }
            if (!translated.value().empty()) {
                msg["tool_calls"] = std::move(translated.value());
            }
        }
        if (r == "tool") {
            auto id = m.find("tool_call_id");
            if (id == m.end() || !id->is_string()) {
                return invalid(where + ".tool_call_id is required on a tool message (the id of the call it answers)");
            }
            msg["tool_call_id"] = *id;
            if (auto name = tool_name_of(out, id->get<std::string>()); !name.empty()) {
                msg["tool_name"] = std::move(name);
            }
        }
        out.push_back(std::move(msg));
    }
    return out;
}

result<std::string> prompt_of(const json& prompt) {
    if (prompt.is_string()) {
        return prompt.get<std::string>();
    }
    if (prompt.is_array() && prompt.size() == 1 && prompt[0].is_string()) {
        return prompt[0].get<std::string>();
    }
    return invalid("prompt must be a string (or an array holding one string; token arrays are not supported)");
}

/// response_format -> Ollama's format: "json" for JSON mode, the schema itself for
/// json_schema, null for text.
result<json> format_of(const json& rf) {
    auto type = rf.find("type");  // end() unless rf is an object
    if (type == rf.end() || !type->is_string()) {
        return invalid("response_format must be {\"type\": \"text\" | \"json_object\" | \"json_schema\"}");
    }
    const auto& t = type->get_ref<const std::string&>();
    if (t == "text") {
        return json{};
    }
    if (t == "json_object") {
        return json("json");
    }
    if (t != "json_schema") {
        return invalid("response_format.type '" + t + "' is not one of text, json_object, json_schema");
    }
    auto js = rf.find("json_schema");
    if (js == rf.end() || !js->is_object() || !js->contains("schema") || !(*js)["schema"].is_object()) {
        return invalid("response_format.json_schema.schema must be an object (a JSON Schema)");
    }
    return (*js)["schema"];
}

/// The sampling numbers, with OpenAI's ranges, under their Ollama option names (the same).
result<void> copy_sampling_options(const json& j, json& options) {
    struct range {
        const char* name;
        double lo, hi;
    };
    for (auto r : {range{"temperature", 0, 2}, range{"top_p", 0, 1}, range{"presence_penalty", -2, 2},
                   range{"frequency_penalty", -2, 2}}) {
        auto v = number_field(j, r.name, r.lo, r.hi);
        if (!v) {
            return v.error();
        }
        if (v.value()) {
            options[r.name] = *j.find(r.name);  // as sent: 0.5 stays 0.5, 1 stays 1
        }
    }
    return ok();
}

/// tools: [{type:"function", function:{name, description?, parameters?}}] (the same in Ollama).
result<void> check_tools(const json& tools) {
    if (!tools.is_array()) {
        return invalid("tools must be an array of {\"type\": \"function\", \"function\": {\"name\", ...}}");
    }
    for (std::size_t i = 0; i < tools.size(); ++i) {
        const auto& t = tools[i];
        auto fn = t.is_object() ? t.find("function") : t.end();
        if (!t.is_object() || get_or<std::string>(t, "type", "") != "function" || fn == t.end() || !fn->is_object() ||
            !fn->contains("name") || !(*fn)["name"].is_string() ||
            (*fn)["name"].get_ref<const std::string&>().empty()) {
            return invalid("tools[" + std::to_string(i) +
                           "] must be {\"type\": \"function\", \"function\": {\"name\", \"parameters\"?}}");
        }
    }
    return ok();
}

/// tool_choice: "none" | "auto" | "required" | {type:"function", function:{name}}.
result<void> check_tool_choice(const json& choice) {
    if (choice.is_string()) {
        const auto& c = choice.get_ref<const std::string&>();
        if (c == "none" || c == "auto" || c == "required") {
            return ok();
        }
    } else if (choice.is_object() && get_or<std::string>(choice, "type", "") == "function" &&
               choice.contains("function") && choice["function"].is_object() && choice["function"].contains("name") &&
               choice["function"]["name"].is_string()) {
        return ok();
    }
    return invalid(
        "tool_choice must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\"}}");
}

/// tools, tool_choice, parallel_tool_calls -> extra (the providers pass them on in their terms).
result<void> copy_tool_fields(const json& j, json& extra) {
    if (auto tools = j.find("tools"); tools != j.end() && !tools->is_null()) {
        if (auto v = check_tools(*tools); !v) {
            return v.error();
        }
        if (!tools->empty()) {
            extra["tools"] = *tools;
        }
    }
    if (auto choice = j.find("tool_choice"); choice != j.end() && !choice->is_null()) {
        if (auto v = check_tool_choice(*choice); !v) {
            return v.error();
        }
        if (!extra.contains("tools")) {
            return invalid("tool_choice is only allowed when tools are given");
        }
        extra["tool_choice"] = *choice;
    }
    if (auto p = j.find("parallel_tool_calls"); p != j.end() && !p->is_null()) {
        if (!p->is_boolean()) {
            return invalid("parallel_tool_calls must be true or false");
        }
        if (extra.contains("tools")) {
            extra["parallel_tool_calls"] = *p;
        }
    }
    return ok();
}

/// logprobs (true/false) and top_logprobs (0..20, only with logprobs) of a chat request ->
/// extra, the names both upstream kinds use. The legacy completions' integer `logprobs` is
/// refused rather than ignored.
result<void> copy_logprobs_fields(const json& j, request_kind kind, json& extra) {
    auto lp = j.find("logprobs");
    bool wanted = false;
    if (lp != j.end() && !lp->is_null()) {
        if (kind != request_kind::chat) {
            return invalid("logprobs is supported on /v1/chat/completions only");
        }
        if (!lp->is_boolean()) {
            return invalid("logprobs must be true or false");
        }
        wanted = lp->get<bool>();
    }
    auto top = integer_field(j, "top_logprobs", 0, 20);
    if (!top) {
        return top.error();
    }
    if (top.value() && !wanted) {
        return invalid("top_logprobs requires logprobs: true");
    }
    if (wanted) {
        extra["logprobs"] = true;
        if (top.value()) {
            extra["top_logprobs"] = *top.value();
        }
    }
    return ok();
}

}  // namespace

result<openai_request> parse_openai_request(std::string_view body, request_kind kind) {
    auto parsed = parse_json_object(body);
    if (!parsed) {
        return parsed.error();
    }
    json j = std::move(parsed.value());
    openai_request r;
    auto& m = r.msg;
    m.kind = kind;
    m.api_flavour = "openai";
    m.stream = false;  // OpenAI's default, unlike Ollama's

    auto model = j.find("model");
    if (model == j.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
        return fail("missing_field", "model is required (one of the ids GET /v1/models lists)");
    }
    m.model = model->get<std::string>();

    if (kind == request_kind::chat) {
        auto messages = j.find("messages");
        if (messages == j.end() || messages->is_null()) {
            return fail("missing_field", "messages is required (an array of {\"role\", \"content\"})");
        }
        auto translated = translate_messages(*messages);
        if (!translated) {
            return translated.error();
        }
        m.messages = std::move(translated.value());
    } else {
        auto prompt = j.find("prompt");
        if (prompt == j.end() || prompt->is_null()) {
            return fail("missing_field", "prompt is required (a string)");
        }
        auto text = prompt_of(*prompt);
        if (!text) {
            return text.error();
        }
        m.prompt = std::move(text.value());
        if (auto s = j.find("suffix"); s != j.end() && !s->is_null()) {
            if (!s->is_string()) {
                return invalid("suffix must be a string");
            }
            m.extra["suffix"] = *s;
        }
    }

    if (auto n = j.find("n"); n != j.end() && !n->is_null()) {
        // Several choices: /v1/chat/completions only (kept in extra.n; the worker asks an
        // OpenAI-compatible upstream for them, or runs n generations on an Ollama one). n = 1
        // leaves the request as it was.
        const auto wanted = integer_of<std::int64_t>(*n);
        if (kind != request_kind::chat && wanted != 1) {
            return invalid(
                "n must be 1 on /v1/completions: llmproxy generates several choices on "
                "/v1/chat/completions only (send n requests for n completions)");
        }
        if (!wanted || *wanted < 1 || *wanted > max_openai_choices) {
            return invalid("n must be an integer from 1 to " + std::to_string(max_openai_choices));
        }
        if (*wanted > 1) {
            r.n = static_cast<int>(*wanted);
            m.extra["n"] = *wanted;
        }
    }
    if (auto v = copy_logprobs_fields(j, kind, m.extra); !v) {
        return v.error();
    }
    // max_completion_tokens is the newer name; it wins when both are sent.
    for (const char* name : {"max_tokens", "max_completion_tokens"}) {
        auto v = integer_field(j, name, 1, int32_max);
        if (!v) {
            return v.error();
        }
        if (v.value()) {
            m.options["num_predict"] = *v.value();
        }
    }
    if (auto v = copy_sampling_options(j, m.options); !v) {
        return v.error();
    }
    if (auto stop = j.find("stop"); stop != j.end() && !stop->is_null()) {
        json list = json::array();
        if (stop->is_string()) {
            list.push_back(*stop);
        } else if (stop->is_array() && stop->size() <= 4 &&
                   std::all_of(stop->begin(), stop->end(), [](const json& s) { return s.is_string(); })) {
            list = *stop;
        } else {
            return invalid("stop must be a string or an array of up to 4 strings");
        }
        m.options["stop"] = std::move(list);
    }
    auto seed =
        integer_field(j, "seed", std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max());
    if (!seed) {
        return seed.error();
    }
    if (seed.value()) {
        m.options["seed"] = *seed.value();
    }
    if (auto stream = j.find("stream"); stream != j.end() && !stream->is_null()) {
        if (!stream->is_boolean()) {
            return invalid("stream must be true or false");
        }
        m.stream = stream->get<bool>();
    }
    if (auto so = j.find("stream_options"); so != j.end() && !so->is_null()) {
        if (!m.stream) {
            return invalid("stream_options is only allowed when stream is true");
        }
        if (!so->is_object()) {
            return invalid("stream_options must be an object");
        }
        if (auto iu = so->find("include_usage"); iu != so->end() && !iu->is_null()) {
            if (!iu->is_boolean()) {
                return invalid("stream_options.include_usage must be true or false");
            }
            r.include_usage = iu->get<bool>();
        }
    }
    if (auto user = j.find("user"); user != j.end() && !user->is_null()) {
        if (!user->is_string()) {
            return invalid("user must be a string");
        }
        m.extra["user"] = *user;  // kept with the request for the audit
    }
    if (auto meta = j.find("metadata"); meta != j.end() && !meta->is_null()) {
        // OpenAI's limits: up to 16 string values, keys up to 64 characters, values up to 512.
        bool fits = meta->is_object() && meta->size() <= 16;
        if (fits) {
            for (const auto& [key, value] : meta->items()) {
                fits =
                    fits && key.size() <= 64 && value.is_string() && value.get_ref<const std::string&>().size() <= 512;
            }
        }
        if (!fits) {
            return invalid(
                "metadata must be an object of up to 16 string values (keys up to 64 characters, values "
                "up to 512)");
        }
        m.extra["metadata"] = *meta;  // kept with the request for the audit, not sent upstream
    }
    if (kind == request_kind::chat) {
        if (auto v = copy_tool_fields(j, m.extra); !v) {
            return v.error();
        }
    }
    if (auto rf = j.find("response_format"); rf != j.end() && !rf->is_null()) {
        auto format = format_of(*rf);
        if (!format) {
            return format.error();
        }
        if (!format.value().is_null()) {
            m.extra["format"] = std::move(format.value());
            m.extra["response_format"] = *rf;  // as sent (name, strict) for an OpenAI-compatible upstream
        }
    }
    return r;
}

}  // namespace llmp::api
