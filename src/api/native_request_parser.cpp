#include "api/native_request_parser.hpp"

#include "api/field_checks.hpp"
#include "api/json_body.hpp"
#include "common/json_get.hpp"

#include <array>

namespace llmp::api {
namespace {

using json = nlohmann::json;

// Keys passed through to the provider untouched (Ollama semantics).
constexpr std::array<const char*, 12> passthrough_keys{"format",   "keep_alive", "think",    "tools",
                                                       "system",   "suffix",     "images",   "raw",
                                                       "template", "context",    "logprobs", "top_logprobs"};

result<void> validate_messages(const json& messages) {
    if (!messages.is_array()) {
        return fail("invalid_field", "messages must be an array of {\"role\", \"content\"} objects");
    }
    if (messages.empty()) {
        return fail("invalid_field", "messages must not be empty");
    }
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const auto& m = messages[i];
        auto where = "messages[" + std::to_string(i) + "]";
        if (!m.is_object()) {
            return fail("invalid_field", where + " must be an object");
        }
        auto role = m.find("role");
        if (role == m.end() || !role->is_string()) {
            return fail("invalid_field", where + ".role is required (system, user, assistant or tool)");
        }
        auto r = role->get_ref<const std::string&>();
        if (r != "system" && r != "user" && r != "assistant" && r != "tool" && r != "developer") {
            return fail("invalid_field", where + ".role '" + r + "' is not one of system, user, assistant, tool");
        }
        auto content = m.find("content");
        if (content != m.end() && !content->is_string() && !content->is_array() && !content->is_null()) {
            return fail("invalid_field", where + ".content must be a string");
        }
    }
    return ok();
}

}  // namespace

result<native_generation_request> parse_native_generation_request(std::string_view body, request_kind kind) {
    auto parsed = parse_json_object(body);
    if (!parsed) {
        return parsed.error();
    }
    json j = std::move(parsed.value());
    native_generation_request out;
    if (auto r = j.find("resumable"); r != j.end() && !r->is_null()) {
        if (!r->is_boolean()) {
            return fail("invalid_field", "resumable must be true or false");
        }
        out.resumable = r->get<bool>();
    }
    request_message& m = out.message;
    m.kind = kind;
    auto model = j.find("model");
    if (model == j.end() || !model->is_string() || model->get_ref<const std::string&>().empty()) {
        return fail("missing_field", "model is required (a model name such as \"llama3.2\")");
    }
    m.model = model->get<std::string>();

    if (kind == request_kind::chat) {
        auto messages = j.find("messages");
        if (messages == j.end() || messages->is_null()) {
            return fail("missing_field", "messages is required (an array of {\"role\", \"content\"})");
        }
        if (auto v = validate_messages(*messages); !v) {
            return v.error();
        }
        m.messages = std::move(*messages);
    } else {
        auto prompt = j.find("prompt");
        if (prompt == j.end() || prompt->is_null()) {
            return fail("missing_field", "prompt is required (a string)");
        }
        if (!prompt->is_string()) {
            return fail("invalid_field", "prompt must be a string");
        }
        m.prompt = prompt->get<std::string>();
    }

    if (auto opts = j.find("options"); opts != j.end() && !opts->is_null()) {
        if (!opts->is_object()) {
            return fail("invalid_field", "options must be an object");
        }
        if (auto v = check_ollama_options(*opts); !v) {
            return v.error();
        }
        m.options = std::move(*opts);
    }
    if (auto stream = j.find("stream"); stream != j.end() && !stream->is_null()) {
        if (!stream->is_boolean()) {
            return fail("invalid_field", "stream must be true or false");
        }
        m.stream = stream->get<bool>();
    }
    auto prio = integer_field(j, "priority", 0, 9);
    if (!prio) {
        return prio.error();
    }
    m.priority = static_cast<int>(prio.value().value_or(0));
    // The upper bound is the server's --max-request-timeout-ms, checked by the relay.
    if (auto t = j.find("timeout_ms"); t != j.end() && !t->is_null()) {
        auto v = integer_of<std::int64_t>(*t);
        if (!v || *v <= 0) {
            return fail("invalid_field", "timeout_ms must be a positive integer (milliseconds)");
        }
        m.timeout_ms = *v;
    }
    if (auto tools = j.find("tools"); tools != j.end() && !tools->is_null() && !tools->is_array()) {
        return fail("invalid_field", "tools must be an array of {\"type\": \"function\", \"function\": {...}}");
    }
    for (const char* key : passthrough_keys) {
        if (auto it = j.find(key); it != j.end() && !it->is_null()) {
            m.extra[key] = std::move(*it);
        }
    }
    if (out.resumable && !m.stream) {
        return fail("invalid_field", "resumable needs a stream (\"stream\": false cannot be resumed)");
    }
    return out;
}

result<request_message> parse_generation_request(std::string_view body, request_kind kind) {
    auto parsed = parse_native_generation_request(body, kind);
    if (!parsed) {
        return parsed.error();
    }
    return std::move(parsed.value().message);
}

}  // namespace llmp::api
