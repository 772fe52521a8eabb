#include "api/final_decode.hpp"

#include "common/json_limits.hpp"

#include <simdjson.h>

#include <cstdint>
#include <string>

namespace llmp::api {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

simdjson::dom::parser& parser() {
    thread_local simdjson::dom::parser p;
    return p;
}

// Each reader: true when the value has the type the reference reads (or is null: the default
// stays), false when the reference decoder must decide.

bool read(element v, std::string& out) {
    if (v.is_null()) {
        return true;
    }
    std::string_view s;
    if (v.get_string().get(s) != simdjson::SUCCESS) {
        return false;
    }
    out.assign(s);
    return true;
}

bool read(element v, std::int64_t& out) {
    if (v.is_null()) {
        return true;
    }
    return v.type() == element_type::INT64 && v.get_int64().get(out) == simdjson::SUCCESS;
}

bool read(element v, double& out) {
    if (v.is_null()) {
        return true;
    }
    return v.is_number() && v.get_double().get(out) == simdjson::SUCCESS;
}

/// The value as nlohmann's parser builds it: non-negative integers unsigned, negative ones
/// signed, the last of repeated keys kept.
nlohmann::json to_json(element v) {
    switch (v.type()) {
        case element_type::OBJECT: {
            nlohmann::json out = nlohmann::json::object();
            simdjson::dom::object members;  // named: a range over the temporary result dangles
            if (v.get_object().get(members) == simdjson::SUCCESS) {
                for (auto [key, value] : members) {
                    out[std::string{key}] = to_json(value);
                }
            }
            return out;
        }
        case element_type::ARRAY: {
            nlohmann::json out = nlohmann::json::array();
            simdjson::dom::array items;
            if (v.get_array().get(items) == simdjson::SUCCESS) {
                for (element value : items) {
                    out.push_back(to_json(value));
                }
            }
            return out;
        }
        case element_type::INT64: {
            std::int64_t i = v.get_int64().value_unsafe();
            return i >= 0 ? nlohmann::json(static_cast<std::uint64_t>(i)) : nlohmann::json(i);
        }
        case element_type::UINT64:
            return v.get_uint64().value_unsafe();
        case element_type::DOUBLE:
            return v.get_double().value_unsafe();
        case element_type::STRING:
            return std::string{v.get_string().value_unsafe()};
        case element_type::BOOL:
            return v.get_bool().value_unsafe();
        case element_type::NULL_VALUE:
            return nullptr;
    }
    return nullptr;
}

constexpr std::string_view final_keys[] = {
    "done_reason", "text", "prompt_tokens", "completion_tokens", "ttft_ms", "duration_ms", "tokens_per_s", "worker_id",
    "provider", "model", "provider_metrics", "completed_at_ms", "key_id", "key_name", "request_received_at_ms",
    // Present: the reference's path.
    "tool_calls", "embeddings", "logprobs", "choices"};
constexpr int first_left_to_reference = 15;

int index_of(std::string_view key) {
    for (std::size_t i = 0; i < std::size(final_keys); ++i) {
        if (final_keys[i] == key) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

}  // namespace

std::optional<final_message> fast_decode_final(std::string_view body) {
    // The reference's depth limit (simdjson's default is 1024): what nests deeper is left to it,
    // and it refuses it. parse() grows the buffers and keeps the depth.
    auto& p = parser();
    if (p.max_depth() != max_message_json_depth && p.allocate(1 << 16, max_message_json_depth) != simdjson::SUCCESS) {
        return std::nullopt;
    }
    element doc;
    simdjson::dom::object obj;
    if (p.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS ||
        doc.get_object().get(obj) != simdjson::SUCCESS) {
        return std::nullopt;
    }
    final_message m;
    std::uint32_t seen = 0;
    for (auto [key, v] : obj) {
        const int i = index_of(key);
        if (i < 0) {
            continue;  // unknown: the reference ignores it too
        }
        if (i >= first_left_to_reference || (seen & (1u << i)) != 0) {
            return std::nullopt;  // a rarer shape, or a repeated key (the reference keeps the last)
        }
        seen |= 1u << i;
        bool ok = true;
        switch (i) {
            case 0:
                ok = read(v, m.done_reason);
                break;
            case 1:
                ok = read(v, m.text);
                break;
            case 2:
                ok = read(v, m.prompt_tokens);
                break;
            case 3:
                ok = read(v, m.completion_tokens);
                break;
            case 4:
                ok = read(v, m.ttft_ms);
                break;
            case 5:
                ok = read(v, m.duration_ms);
                break;
            case 6:
                ok = read(v, m.tokens_per_s);
                break;
            case 7:
                ok = read(v, m.worker_id);
                break;
            case 8:
                ok = read(v, m.provider);
                break;
            case 9:
                ok = read(v, m.model);
                break;
            case 10:
                if (v.type() == element_type::OBJECT) {
                    m.provider_metrics = to_json(v);
                }  // else the reference keeps its default too
                break;
            case 11:
                ok = read(v, m.completed_at_ms);
                break;
            case 12:
                ok = read(v, m.key_id);
                break;
            case 13:
                ok = read(v, m.key_name);
                break;
            default:
                ok = read(v, m.request_received_at_ms);
                break;
        }
        if (!ok) {
            return std::nullopt;
        }
    }
    return m;
}

result<final_message> decode_final_message(std::string_view body) {
    if (auto m = fast_decode_final(body)) {
        return std::move(*m);
    }
    return decode_final(body);
}

}  // namespace llmp::api
