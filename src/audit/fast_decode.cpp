#include "audit/fast_decode.hpp"

#include "common/json_limits.hpp"

#include <simdjson.h>

#include <cstdint>
#include <limits>
#include <string>

namespace llmp::audit::fast_decode {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

simdjson::dom::parser& parser() {
    thread_local simdjson::dom::parser p;
    return p;
}

/// The document's top-level object, or nullopt (not JSON, not an object, trailing content).
std::optional<simdjson::dom::object> parse_object(std::string_view body) {
    // The reference decoder's depth limit (simdjson's default is 1024): what nests deeper is
    // left to it, and it refuses it. parse() grows the buffers and keeps the depth.
    auto& p = parser();
    if (p.max_depth() != max_message_json_depth && p.allocate(1 << 16, max_message_json_depth) != simdjson::SUCCESS) {
        return std::nullopt;
    }
    element doc;
    if (p.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS) {
        return std::nullopt;
    }
    simdjson::dom::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS) {
        return std::nullopt;
    }
    return obj;
}

// Each reader: true when the value has the expected type (or is null: the default stays), false
// when the reference decoder must decide.

bool read(element v, std::string& out) {
    if (v.is_null()) {
        return true;
    }
    std::string_view s;
    if (v.get_string().get(s) != simdjson::SUCCESS) {
        return false;
    }
    // simdjson validated the UTF-8 already, so of clean_text's work only the NULs (from \u0000
    // escapes) are left to strip.
    out.assign(s);
    if (out.find('\0') != std::string::npos) {
        std::erase(out, '\0');
    }
    return true;
}

bool read(element v, std::int64_t& out) {
    if (v.is_null()) {
        return true;
    }
    return v.type() == element_type::INT64 && v.get_int64().get(out) == simdjson::SUCCESS;
}

bool read(element v, int& out) {
    std::int64_t wide = out;
    if (!read(v, wide) || wide < std::numeric_limits<int>::min() || wide > std::numeric_limits<int>::max()) {
        return false;
    }
    out = static_cast<int>(wide);
    return true;
}

bool read(element v, double& out) {
    if (v.is_null()) {
        return true;
    }
    return v.is_number() && v.get_double().get(out) == simdjson::SUCCESS;
}

bool read(element v, bool& out) {
    if (v.is_null()) {
        return true;
    }
    return v.get_bool().get(out) == simdjson::SUCCESS;
}

/// An array/object kept as JSON text: `out` when `v` has type `t`, `fallback` when it has
/// another type (what the reference decoder does); false when its text holds a NUL escape.
bool read_json(element v, element_type t, std::string& out, std::string_view fallback) {
    if (v.type() != t) {
        out = fallback;
        return true;
    }
    out = simdjson::minify(v);
    return out.find("\\u0000") == std::string::npos;
}

/// Index of `key` in `keys`, or -1 if unknown.
template <std::size_t N>
int index_of(const std::string_view (&keys)[N], std::string_view key) {
    for (std::size_t i = 0; i < N; ++i) {
        if (keys[i] == key) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

/// Calls read_field(index, value) for every member; false at an unknown or repeated key (the
/// reference decoder keeps the last of repeated keys and ignores unknown ones: let it decide) or
/// when read_field does.
template <std::size_t N, class Fn>
bool for_each_member(simdjson::dom::object obj, const std::string_view (&keys)[N], Fn read_field) {
    static_assert(N <= 32);
    std::uint32_t seen = 0;
    for (auto [key, v] : obj) {
        int i = index_of(keys, key);
        if (i < 0 || (seen & (1u << i)) != 0) {
            return false;
        }
        seen |= 1u << i;
        if (!read_field(i, v)) {
            return false;
        }
    }
    return true;
}

constexpr std::string_view request_keys[] = {
    "request_id", "server_id",   "model",      "received_at_ms", "deadline_ms", "kind",       "messages",
    "prompt",     "options",     "extra",      "stream",         "priority",    "timeout_ms", "api_flavour",
    "route",      "client_addr", "user_agent", "key_id",         "key_name",    "model_alias"};

constexpr std::string_view final_keys[] = {"done_reason", "text",        "prompt_tokens",    "completion_tokens",
                                           "ttft_ms",     "duration_ms", "tokens_per_s",     "worker_id",
                                           "provider",    "model",       "provider_metrics", "completed_at_ms",
                                           "key_id",      "key_name",    "tool_calls",       "request_received_at_ms"};

}  // namespace

std::optional<request_row> request(std::string_view body) {
    auto obj = parse_object(body);
    if (!obj) {
        return std::nullopt;
    }
    request_row row;
    row.api_flavour = "native";
    std::string kind = "chat";
    std::string messages = "[]";
    std::string prompt;
    std::int64_t timeout_ms = 0;
    bool ok = for_each_member(*obj, request_keys, [&](int i, element v) {
        switch (i) {
            case 0:
                return read(v, row.request_id);
            case 1:
                return read(v, row.server_id);
            case 2:
                return read(v, row.model);
            case 3:
                return read(v, row.received_at_ms);
            case 4:
                return read(v, row.deadline_ms);
            case 5:
                return read(v, kind);
            case 6:
                return read_json(v, element_type::ARRAY, messages, "[]");
            case 7:
                return read(v, prompt);
            case 8:
                return read_json(v, element_type::OBJECT, row.options_json, "{}");
            case 9:
                return read_json(v, element_type::OBJECT, row.extra_json, "{}");
            case 10:
                return read(v, row.stream);
            case 11:
                return read(v, row.priority);
            case 12:
                return read(v, timeout_ms);
            case 13:
                return read(v, row.api_flavour);
            case 14:
                return read(v, row.route);
            case 15:
                return read(v, row.client_addr);
            case 16:
                return read(v, row.user_agent);
            case 17:
                return read(v, row.key_id);
            case 18:
                return read(v, row.key_name);
            default:
                return read(v, row.model_alias);
        }
    });
    if (!ok || row.request_id.empty() || row.server_id.empty() || row.model.empty()) {
        return std::nullopt;
    }
    if (kind == "embed") {
        return std::nullopt;  // its input goes where the reference decoder puts it
    }
    if (kind == "generate") {
        row.kind = "generate";
        row.prompt = std::move(prompt);
    } else {
        row.kind = "chat";
        row.messages_json = std::move(messages);
    }
    return row;
}

std::optional<final_row> final(std::string_view body) {
    auto obj = parse_object(body);
    if (!obj) {
        return std::nullopt;
    }
    final_row out;
    auto& row = out.row;
    row.status = "ok";
    row.done_reason = "stop";
    bool ok = for_each_member(*obj, final_keys, [&](int i, element v) {
        switch (i) {
            case 0:
                return read(v, row.done_reason);
            case 1:
                return read(v, row.text);
            case 2:
                return read(v, row.prompt_tokens);
            case 3:
                return read(v, row.completion_tokens);
            case 4:
                return read(v, row.ttft_ms);
            case 5:
                return read(v, row.duration_ms);
            case 6:
                return read(v, row.tokens_per_s);
            case 7:
                out.worker_id_given = !v.is_null();
                return read(v, row.worker_id);
            case 8:
                return read(v, row.provider);
            case 9:
                return read(v, row.model);
            case 10:
                return read_json(v, element_type::OBJECT, row.provider_metrics_json, "{}");
            case 11:
                return read(v, row.completed_at_ms);
            case 12:
                return read(v, row.key_id);
            case 13:
                return read(v, row.key_name);
            case 14:
                return read_json(v, element_type::ARRAY, row.tool_calls_json, "");
            default:
                return read(v, row.request_received_at_ms);
        }
    });
    if (!ok) {
        return std::nullopt;
    }
    if (row.tool_calls_json == "[]") {
        row.tool_calls_json.clear();  // as the slow path: no calls is NULL
    }
    return out;
}

}  // namespace llmp::audit::fast_decode
