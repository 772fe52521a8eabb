#include "common/messages.hpp"

#include "common/json_get.hpp"
#include "common/json_limits.hpp"

namespace llmp {
namespace {

using json = nlohmann::json;

result<json> parse_object(std::string_view body, std::string_view what) {
    auto j = parse_json_bounded(body, max_message_json_depth);
    if (!j || !j.value().is_object()) {
        return fail("malformed_message",
                    std::string{what} + " is not a JSON object" + (j ? "" : ": " + j.error().message));
    }
    return j;
}

// The API key fields go on the wire only when a key admitted the request: with --auth none the
// messages stay as they were, byte for byte.
void put_key(json& j, const std::string& key_id, const std::string& key_name) {
    if (!key_id.empty()) {
        j["key_id"] = key_id;
        j["key_name"] = key_name;
    }
}

// Likewise the request's receipt time: absent when unknown.
void put_request_received_at(json& j, std::int64_t ms) {
    if (ms > 0) {
        j["request_received_at_ms"] = ms;
    }
}

}  // namespace

std::string_view to_string(request_kind k) {
    switch (k) {
        case request_kind::chat:
            return "chat";
        case request_kind::generate:
            return "generate";
        case request_kind::embed:
            return "embed";
    }
    return "chat";
}

std::string encode(const request_message& m) {
    json j{{"request_id", m.request_id},
           {"server_id", m.server_id},
           {"received_at_ms", m.received_at_ms},
           {"deadline_ms", m.deadline_ms},
           {"kind", to_string(m.kind)},
           {"model", m.model},
           {"options", m.options},
           {"extra", m.extra},
           {"stream", m.stream},
           {"priority", m.priority},
           {"timeout_ms", m.timeout_ms},
           {"api_flavour", m.api_flavour},
           {"route", m.route},
           {"client_addr", m.client_addr},
           {"user_agent", m.user_agent}};
    if (m.kind == request_kind::chat) {
        j["messages"] = m.messages;
    } else if (m.kind == request_kind::embed) {
        j["input"] = m.input;
    } else {
        j["prompt"] = m.prompt;
    }
    if (!m.model_alias.empty()) {  // absent without aliases: the message stays as it was
        j["model_alias"] = m.model_alias;
    }
    put_key(j, m.key_id, m.key_name);
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

result<request_message> decode_request(std::string_view body) {
    auto parsed = parse_object(body, "request message");
    if (!parsed) {
        return parsed.error();
    }
    const json& j = parsed.value();
    request_message m;
    m.request_id = get_or<std::string>(j, "request_id", "");
    m.server_id = get_or<std::string>(j, "server_id", "");
    m.model = get_or<std::string>(j, "model", "");
    if (m.request_id.empty() || m.server_id.empty() || m.model.empty()) {
        return fail("malformed_message", "request message lacks request_id, server_id or model");
    }
    m.model_alias = get_or<std::string>(j, "model_alias", "");
    m.received_at_ms = get_or<std::int64_t>(j, "received_at_ms", 0);
    m.deadline_ms = get_or<std::int64_t>(j, "deadline_ms", 0);
    const auto kind = get_or<std::string>(j, "kind", "chat");
    m.kind = kind == "generate" ? request_kind::generate : kind == "embed" ? request_kind::embed : request_kind::chat;
    if (auto it = j.find("messages"); it != j.end() && it->is_array()) {
        m.messages = *it;
    }
    if (auto it = j.find("input"); it != j.end() && it->is_array()) {
        m.input = *it;
    }
    m.prompt = get_or<std::string>(j, "prompt", "");
    if (auto it = j.find("options"); it != j.end() && it->is_object()) {
        m.options = *it;
    }
    if (auto it = j.find("extra"); it != j.end() && it->is_object()) {
        m.extra = *it;
    }
    m.stream = get_or<bool>(j, "stream", true);
    m.priority = get_or<int>(j, "priority", 0);
    m.timeout_ms = get_or<std::int64_t>(j, "timeout_ms", 0);
    m.api_flavour = get_or<std::string>(j, "api_flavour", "native");
    m.route = get_or<std::string>(j, "route", "");
    m.client_addr = get_or<std::string>(j, "client_addr", "");
    m.user_agent = get_or<std::string>(j, "user_agent", "");
    m.key_id = get_or<std::string>(j, "key_id", "");
    m.key_name = get_or<std::string>(j, "key_name", "");
    return m;
}

std::string encode(const final_message& m) {
    json j{{"done_reason", m.done_reason},
           {"text", m.text},
           {"prompt_tokens", m.prompt_tokens},
           {"completion_tokens", m.completion_tokens},
           {"ttft_ms", m.ttft_ms},
           {"duration_ms", m.duration_ms},
           {"tokens_per_s", m.tokens_per_s},
           {"worker_id", m.worker_id},
           {"provider", m.provider},
           {"model", m.model},
           {"provider_metrics", m.provider_metrics},
           {"completed_at_ms", m.completed_at_ms}};
    put_key(j, m.key_id, m.key_name);
    put_request_received_at(j, m.request_received_at_ms);
    if (m.tool_calls.is_array() && !m.tool_calls.empty()) {
        j["tool_calls"] = m.tool_calls;
    }
    if (m.embeddings.is_array() && !m.embeddings.empty()) {
        j["embeddings"] = m.embeddings;
    }
    if (m.logprobs.is_array() && !m.logprobs.empty()) {
        j["logprobs"] = m.logprobs;
    }
    if (!m.choices.empty()) {
        j["choices"] = choices_json(m.choices);
    }
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

nlohmann::json choices_json(const std::vector<choice_outcome>& choices) {
    json out = json::array();
    for (const auto& c : choices) {
        json one{{"index", c.index}, {"done_reason", c.done_reason}, {"text", c.text}};
        if (c.tool_calls.is_array() && !c.tool_calls.empty()) {
            one["tool_calls"] = c.tool_calls;
        }
        if (c.logprobs.is_array() && !c.logprobs.empty()) {
            one["logprobs"] = c.logprobs;
        }
        out.push_back(std::move(one));
    }
    return out;
}

std::vector<choice_outcome> choices_of(const nlohmann::json& j) {
    std::vector<choice_outcome> out;
    if (!j.is_array()) {
        return out;
    }
    for (const auto& one : j) {
        if (!one.is_object()) {
            continue;
        }
        choice_outcome c;
        c.index = get_or<int>(one, "index", static_cast<int>(out.size()) + 1);
        c.done_reason = get_or<std::string>(one, "done_reason", "stop");
        c.text = get_or<std::string>(one, "text", "");
        if (auto it = one.find("tool_calls"); it != one.end() && it->is_array()) {
            c.tool_calls = *it;
        }
        if (auto it = one.find("logprobs"); it != one.end() && it->is_array()) {
            c.logprobs = *it;
        }
        out.push_back(std::move(c));
    }
    return out;
}

result<final_message> decode_final(std::string_view body) {
    auto parsed = parse_object(body, "final message");
    if (!parsed) {
        return parsed.error();
    }
    const json& j = parsed.value();
    final_message m;
    m.done_reason = get_or<std::string>(j, "done_reason", "stop");
    m.text = get_or<std::string>(j, "text", "");
    m.prompt_tokens = get_or<std::int64_t>(j, "prompt_tokens", 0);
    m.completion_tokens = get_or<std::int64_t>(j, "completion_tokens", 0);
    m.ttft_ms = get_or<double>(j, "ttft_ms", 0);
    m.duration_ms = get_or<double>(j, "duration_ms", 0);
    m.tokens_per_s = get_or<double>(j, "tokens_per_s", 0);
    m.worker_id = get_or<std::string>(j, "worker_id", "");
    m.provider = get_or<std::string>(j, "provider", "");
    m.model = get_or<std::string>(j, "model", "");
    m.completed_at_ms = get_or<std::int64_t>(j, "completed_at_ms", 0);
    if (auto it = j.find("provider_metrics"); it != j.end() && it->is_object()) {
        m.provider_metrics = *it;
    }
    m.key_id = get_or<std::string>(j, "key_id", "");
    m.key_name = get_or<std::string>(j, "key_name", "");
    m.request_received_at_ms = get_or<std::int64_t>(j, "request_received_at_ms", 0);
    if (auto it = j.find("tool_calls"); it != j.end() && it->is_array()) {
        m.tool_calls = *it;
    }
    if (auto it = j.find("embeddings"); it != j.end() && it->is_array()) {
        m.embeddings = *it;
    }
    if (auto it = j.find("logprobs"); it != j.end() && it->is_array()) {
        m.logprobs = *it;
    }
    if (auto it = j.find("choices"); it != j.end()) {
        m.choices = choices_of(*it);
    }
    return m;
}

std::string encode(const error_message& m) {
    json j{{"code", m.code},
           {"message", m.message},
           {"retryable", m.retryable},
           {"worker_id", m.worker_id},
           {"partial_text", m.partial_text},
           {"prompt_tokens", m.prompt_tokens},
           {"completion_tokens", m.completion_tokens},
           {"ttft_ms", m.ttft_ms},
           {"duration_ms", m.duration_ms},
           {"provider", m.provider},
           {"model", m.model}};
    j["completed_at_ms"] = m.completed_at_ms;
    put_key(j, m.key_id, m.key_name);
    put_request_received_at(j, m.request_received_at_ms);
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

result<error_message> decode_error(std::string_view body) {
    auto parsed = parse_object(body, "error message");
    if (!parsed) {
        return parsed.error();
    }
    const json& j = parsed.value();
    error_message m;
    m.code = get_or<std::string>(j, "code", "internal_error");
    m.message = get_or<std::string>(j, "message", "");
    m.retryable = get_or<bool>(j, "retryable", false);
    m.worker_id = get_or<std::string>(j, "worker_id", "");
    m.partial_text = get_or<std::string>(j, "partial_text", "");
    m.prompt_tokens = get_or<std::int64_t>(j, "prompt_tokens", 0);
    m.completion_tokens = get_or<std::int64_t>(j, "completion_tokens", 0);
    m.ttft_ms = get_or<double>(j, "ttft_ms", 0);
    m.duration_ms = get_or<double>(j, "duration_ms", 0);
    m.provider = get_or<std::string>(j, "provider", "");
    m.model = get_or<std::string>(j, "model", "");
    m.completed_at_ms = get_or<std::int64_t>(j, "completed_at_ms", 0);
    m.key_id = get_or<std::string>(j, "key_id", "");
    m.key_name = get_or<std::string>(j, "key_name", "");
    m.request_received_at_ms = get_or<std::int64_t>(j, "request_received_at_ms", 0);
    return m;
}

std::string encode(const worker_heartbeat& m) {
    json j{{"worker_id", m.worker_id},
           {"host", m.host},
           {"provider", m.provider},
           {"models", m.models},
           {"in_flight", m.in_flight},
           {"concurrency", m.concurrency},
           {"tokens_per_s", m.tokens_per_s},
           {"requests_total", m.requests_total},
           {"tokens_total", m.tokens_total},
           {"sent_at_ms", m.sent_at_ms},
           {"leaving", m.leaving}};
    return j.dump();
}

result<worker_heartbeat> decode_heartbeat(std::string_view body) {
    auto parsed = parse_object(body, "heartbeat");
    if (!parsed) {
        return parsed.error();
    }
    const json& j = parsed.value();
    worker_heartbeat m;
    m.worker_id = get_or<std::string>(j, "worker_id", "");
    if (m.worker_id.empty()) {
        return fail("malformed_message", "heartbeat lacks worker_id");
    }
    m.host = get_or<std::string>(j, "host", "");
    m.provider = get_or<std::string>(j, "provider", "");
    m.models = get_or<std::vector<std::string>>(j, "models", {});
    m.in_flight = get_or<int>(j, "in_flight", 0);
    m.concurrency = get_or<int>(j, "concurrency", 0);
    m.tokens_per_s = get_or<double>(j, "tokens_per_s", 0);
    m.requests_total = get_or<std::int64_t>(j, "requests_total", 0);
    m.tokens_total = get_or<std::int64_t>(j, "tokens_total", 0);
    m.sent_at_ms = get_or<std::int64_t>(j, "sent_at_ms", 0);
    m.leaving = get_or<bool>(j, "leaving", false);
    return m;
}

// The one rule for model names (Ollama's): a name is name[:tag], the tag defaulting to "latest",
// so "llama3", "llama3:" and "llama3:latest" are one model; a ':' before the last '/' is a
// registry port, not a tag. Workers advertise and the API lists (/api/models, /v1/models,
// /ollama/api/tags) the normalized name; requests are matched to workers by it; replies echo the
// name the client sent, on every front door, as Ollama and vLLM do.
std::string normalize_model_name(std::string_view name) {
    std::string out{name};
    auto slash = out.rfind('/');
    auto colon = out.rfind(':');
    if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) {
        out += ":latest";
    } else if (colon + 1 == out.size()) {
        out += "latest";  // "llama3:" has an empty tag: the default one
    }
    return out;
}

}  // namespace llmp
