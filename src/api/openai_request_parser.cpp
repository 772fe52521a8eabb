#include "api/openai_request_parser.hpp"

#include "api/json_body.hpp"

#include <algorithm>

namespace llmp::api {
namespace {

using json = nlohmann::json;

auto invalid(const std::string& what) { return fail("invalid_field", what); }

/// A message's content as one string: a string as it is, an array of {type:"text", text}
/// parts joined (the providers take text only), null as "".
result<std::string> content_text(const json& content, const std::string& where) {
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
        if (part["type"] != "text") {
            return invalid(at + ".type '" + part["type"].get<std::string>() +
                           "' is not supported: only \"text\" parts are");
        }
        auto t = part.find("text");
        if (t == part.end() || !t->is_string()) {
            return invalid(at + ".text must be a string");
        }
        text += t->get_ref<const std::string&>();
    }
    return text;
}

/// OpenAI messages -> Ollama-shaped {role, content} (developer is system to Ollama).
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
        auto text = content_text(content == m.end() ? json{} : *content, where + ".content");
        if (!text) {
            return text.error();
        }
        json msg = json::object();
        msg["role"] = r;
        msg["content"] = std::move(text.value());
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

result<void> number_in(const json& j, const char* name, double lo, double hi, json& options,
                       const char* option) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) {
        return ok();
    }
    if (!it->is_number() || it->get<double>() < lo || it->get<double>() > hi) {
        return invalid(std::string{name} + " must be a number from " + std::to_string(static_cast<int>(lo)) +
                       " to " + std::to_string(static_cast<int>(hi)));
    }
    options[option] = *it;
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
        if (!n->is_number_integer() || n->get<std::int64_t>() != 1) {
            return invalid("n must be 1: this server generates one choice per request");
        }
    }
    // max_completion_tokens is the newer name; it wins when both are sent.
    for (const char* name : {"max_tokens", "max_completion_tokens"}) {
        auto it = j.find(name);
        if (it == j.end() || it->is_null()) {
            continue;
        }
        if (!it->is_number_integer() || it->get<std::int64_t>() <= 0) {
            return invalid(std::string{name} + " must be a positive integer");
        }
        m.options["num_predict"] = it->get<std::int64_t>();
    }
    if (auto v = number_in(j, "temperature", 0, 2, m.options, "temperature"); !v) {
        return v.error();
    }
    if (auto v = number_in(j, "top_p", 0, 1, m.options, "top_p"); !v) {
        return v.error();
    }
    if (auto v = number_in(j, "presence_penalty", -2, 2, m.options, "presence_penalty"); !v) {
        return v.error();
    }
    if (auto v = number_in(j, "frequency_penalty", -2, 2, m.options, "frequency_penalty"); !v) {
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
    if (auto seed = j.find("seed"); seed != j.end() && !seed->is_null()) {
        if (!seed->is_number_integer()) {
            return invalid("seed must be an integer");
        }
        m.options["seed"] = *seed;
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
    if (auto rf = j.find("response_format"); rf != j.end() && !rf->is_null()) {
        // JSON mode -> Ollama's format: "json", or the schema itself.
        auto type = rf->is_object() ? rf->value("type", std::string{}) : std::string{};
        if (type == "json_object") {
            m.extra["format"] = "json";
        } else if (type == "json_schema" && (*rf)["json_schema"].is_object() &&
                   (*rf)["json_schema"].contains("schema")) {
            m.extra["format"] = (*rf)["json_schema"]["schema"];
        } else if (type != "text") {
            return invalid("response_format must be {\"type\": \"text\" | \"json_object\" | \"json_schema\"}");
        }
    }
    return r;
}

}  // namespace llmp::api
