#include "audit/record.hpp"

#include "audit/fast_decode.hpp"
#include "audit/image_digest.hpp"
#include "broker/topology.hpp"
#include "common/chunk_frames.hpp"
#include "common/json_get.hpp"
#include "common/json_limits.hpp"

namespace llmp::audit {
namespace {

using json = nlohmann::json;

/// Length of the valid UTF-8 sequence at s[i], or 0 if it is invalid (RFC 3629: no overlong
/// forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_len(std::string_view s, std::size_t i) {
    auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    std::size_t n = s.size() - i;
    auto cont = [&](std::size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        return n >= 2 && cont(i + 1) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || !cont(i + 1) || !cont(i + 2)) {
            return 0;
        }
        unsigned char c1 = b(i + 1);
        if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0)) {
            return 0;
        }
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) {
            return 0;
        }
        unsigned char c1 = b(i + 1);
        if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 >= 0x90)) {
            return 0;
        }
        return 4;
    }
    return 0;
}

bool needs_cleaning(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        if (s[i] == '\0') {
            return true;
        }
        auto n = utf8_len(s, i);
        if (n == 0) {
            return true;
        }
        i += n;
    }
    return false;
}

std::string status_of(const std::string& code) {
    return code == "cancelled" ? "cancelled" : "error";
}

/// "<server-id>.<kind>" -> {server-id, kind}
std::pair<std::string, std::string> split_key(const std::string& key) {
    auto dot = key.rfind('.');
    if (dot == std::string::npos) {
        return {"", key};
    }
    return {key.substr(0, dot), key.substr(dot + 1)};
}

std::int64_t fallback_time(const broker::delivery& d, std::int64_t arrival_ms) {
    return d.props.timestamp > 0 ? d.props.timestamp * 1000 : arrival_ms;
}

result<record> decode_request_row(const broker::delivery& d, std::int64_t arrival_ms, bool fast,
                                  const decode_options& options) {
    // Images are digested from the decoded message (the fast path copies JSON text as it is);
    // a body with \u escapes might spell the key otherwise, so it is decoded too.
    const bool may_have_images =
        d.body.find("\"images\"") != std::string::npos || d.body.find("\\u") != std::string::npos;
    if (fast && (options.image_bytes || !may_have_images)) {
        if (auto row = fast_decode::request(d.body)) {
            if (row->received_at_ms <= 0) {
                row->received_at_ms = fallback_time(d, arrival_ms);
            }
            return record{std::move(*row)};
        }
    }
    auto m = decode_request(d.body);
    if (!m) {
        return m.error();
    }
    auto& r = m.value();
    request_row row;
    row.request_id = clean_text(r.request_id);
    row.received_at_ms = r.received_at_ms > 0 ? r.received_at_ms : fallback_time(d, arrival_ms);
    row.server_id = clean_text(r.server_id);
    row.api_flavour = clean_text(r.api_flavour);
    row.route = clean_text(r.route);
    row.kind = std::string{to_string(r.kind)};
    row.model = clean_text(r.model);
    row.model_alias = clean_text(r.model_alias);
    row.stream = r.stream;
    row.priority = r.priority;
    if (!options.image_bytes) {
        digest_images(r.messages, r.extra);
    }
    if (r.kind == request_kind::chat) {
        row.messages_json = clean_dump(std::move(r.messages));
    } else if (r.kind == request_kind::embed) {
        row.messages_json = clean_dump(std::move(r.input));  // the texts; the vectors are not stored
    } else {
        row.prompt = clean_text(r.prompt);
    }
    row.options_json = clean_dump(std::move(r.options));
    row.extra_json = clean_dump(std::move(r.extra));
    row.client_addr = clean_text(r.client_addr);
    row.user_agent = clean_text(r.user_agent);
    row.deadline_ms = r.deadline_ms;
    row.key_id = clean_text(r.key_id);
    row.key_name = clean_text(r.key_name);
    return record{std::move(row)};
}

/// A multiplexed chunks message (`<server-id>.chunks`): a row per frame, the request id and
/// seq/attempt from the frame, the worker from the message's header.
result<record> decode_chunk_frames_rows(const broker::delivery& d, std::int64_t arrival_ms) {
    std::vector<chunk_frame_view> frames;
    if (auto r = decode_chunk_frames(d.body, frames); !r) {
        return r.error();
    }
    const auto worker = clean_text(broker::field_string(d.props.headers, "worker"));
    chunk_rows out;
    out.rows.reserve(frames.size());
    for (const auto& f : frames) {
        out.rows.push_back(
            chunk_row{clean_text(f.request_id), f.attempt, f.seq, worker, arrival_ms, clean_text(f.text)});
    }
    return record{std::move(out)};
}

result<record> decode_response_row(const broker::delivery& d, std::int64_t arrival_ms, bool fast) {
    if (d.props.type == broker::delivered_type) {
        auto m = decode_delivery_confirmation(d.body);
        if (!m) {
            return m.error();
        }
        auto& c = m.value();
        c.server_id = clean_text(c.server_id);
        for (auto& id : c.request_ids) {
            id = clean_text(id);
        }
        if (c.sent_at_ms <= 0) {
            c.sent_at_ms = arrival_ms;
        }
        return record{std::move(c)};
    }
    if (d.props.type != broker::verdict_type && split_key(d.routing_key).second == "chunks") {
        return decode_chunk_frames_rows(d, arrival_ms);  // no correlation id: the frames carry them
    }
    std::string request_id = !d.props.correlation_id.empty() ? d.props.correlation_id : d.props.message_id;
    if (request_id.empty()) {
        return fail("malformed_message", "response message has no correlation_id (request id)");
    }
    const bool verdict = d.props.type == broker::verdict_type;
    auto [server_id, kind] = verdict
                                 ? std::pair{broker::field_string(d.props.headers, "server_id"), std::string{"error"}}
                                 : split_key(d.routing_key);
    if (kind == "chunk") {
        chunk_row c;
        c.request_id = clean_text(request_id);
        c.seq = broker::field_int(d.props.headers, "seq", 0);
        c.attempt = broker::field_int(d.props.headers, "attempt", 1);
        c.worker_id = clean_text(broker::field_string(d.props.headers, "worker"));
        c.received_at_ms = arrival_ms;
        c.text = clean_text(d.body);
        return record{chunk_rows{{std::move(c)}}};
    }
    if (kind != "final" && kind != "error") {
        return fail("malformed_message",
                    "response routing key '" + d.routing_key + "' is not *.final, *.error, *.chunks or *.chunk");
    }
    if (fast && kind == "final") {
        if (auto f = fast_decode::final(d.body)) {
            auto& row = f->row;
            row.request_id = clean_text(request_id);
            row.server_id = clean_text(server_id);
            if (!f->worker_id_given) {
                row.worker_id = clean_text(broker::field_string(d.props.headers, "worker"));
            }
            if (row.completed_at_ms <= 0) {
                row.completed_at_ms = fallback_time(d, arrival_ms);
            }
            return record{std::move(row)};
        }
    }
    auto parsed = parse_json_bounded(d.body, max_message_json_depth);
    if (!parsed || !parsed.value().is_object()) {
        return fail("malformed_message",
                    kind + " message body is not a JSON object" + (parsed ? "" : ": " + parsed.error().message));
    }
    json& j = parsed.value();
    response_row row;
    row.request_id = clean_text(request_id);
    row.server_id = clean_text(server_id);
    row.worker_id = clean_text(get_or<std::string>(j, "worker_id", broker::field_string(d.props.headers, "worker")));
    row.provider = clean_text(get_or<std::string>(j, "provider", ""));
    row.model = clean_text(get_or<std::string>(j, "model", ""));
    row.prompt_tokens = get_or<std::int64_t>(j, "prompt_tokens", 0);
    row.completion_tokens = get_or<std::int64_t>(j, "completion_tokens", 0);
    row.ttft_ms = get_or<double>(j, "ttft_ms", 0);
    row.duration_ms = get_or<double>(j, "duration_ms", 0);
    auto completed = get_or<std::int64_t>(j, "completed_at_ms", 0);
    row.completed_at_ms = completed > 0 ? completed : fallback_time(d, arrival_ms);
    row.key_id = clean_text(get_or<std::string>(j, "key_id", ""));
    row.key_name = clean_text(get_or<std::string>(j, "key_name", ""));
    row.request_received_at_ms = get_or<std::int64_t>(j, "request_received_at_ms", 0);
    if (kind == "final") {
        row.status = "ok";
        row.done_reason = clean_text(get_or<std::string>(j, "done_reason", "stop"));
        row.text = clean_text(get_or<std::string>(j, "text", ""));
        row.tokens_per_s = get_or<double>(j, "tokens_per_s", 0);
        if (auto it = j.find("provider_metrics"); it != j.end() && it->is_object()) {
            row.provider_metrics_json = clean_dump(std::move(*it));
        }
        if (auto it = j.find("tool_calls"); it != j.end() && it->is_array() && !it->empty()) {
            row.tool_calls_json = clean_dump(std::move(*it));
        }
        if (auto it = j.find("choices"); it != j.end() && it->is_array() && !it->empty()) {
            row.choices_json = clean_dump(std::move(*it));
        }
    } else {
        row.error_code = clean_text(get_or<std::string>(j, "code", "internal_error"));
        row.status = status_of(row.error_code);
        row.error_message = clean_text(get_or<std::string>(j, "message", ""));
        row.retryable = get_or<bool>(j, "retryable", false);
        if (verdict) {
            row.reported_by = "api";
        }
        row.text = clean_text(get_or<std::string>(j, "partial_text", ""));
        if (row.completion_tokens == 0) {
            row.completion_tokens = broker::field_int(d.props.headers, "seq", 0);
        }
    }
    return record{std::move(row)};
}

}  // namespace

std::string clean_text(std::string_view s) {
    if (!needs_cleaning(s)) {
        return std::string{s};
    }
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        if (s[i] == '\0') {
            ++i;
            continue;
        }
        auto n = utf8_len(s, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";  // U+FFFD
            ++i;
            continue;
        }
        out.append(s.substr(i, n));
        i += n;
    }
    return out;
}

void clean_json(json& j) {
    if (j.is_string()) {
        auto& s = j.get_ref<std::string&>();
        if (needs_cleaning(s)) {
            s = clean_text(s);
        }
    } else if (j.is_array()) {
        for (auto& e : j) {
            clean_json(e);
        }
    } else if (j.is_object()) {
        json out = json::object();
        for (auto& [k, v] : j.items()) {
            clean_json(v);
            out[clean_text(k)] = std::move(v);
        }
        j = std::move(out);
    }
}

std::string clean_dump(json j) {
    auto text = j.dump(-1, ' ', false, json::error_handler_t::replace);
    if (text.find("\\u0000") == std::string::npos) {
        return text;
    }
    clean_json(j);
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

result<record> decode_any(source from, const broker::delivery& d, std::int64_t arrival_ms, bool fast,
                          const decode_options& options) {
    switch (from) {
        case source::requests:
            return decode_request_row(d, arrival_ms, fast, options);
        case source::responses:
            return decode_response_row(d, arrival_ms, fast);
        case source::heartbeats: {
            auto hb = decode_heartbeat(d.body);
            if (!hb) {
                return hb.error();
            }
            auto& h = hb.value();
            h.worker_id = clean_text(h.worker_id);
            h.host = clean_text(h.host);
            h.provider = clean_text(h.provider);
            for (auto& m : h.models) {
                m = clean_text(m);
            }
            if (h.sent_at_ms <= 0) {
                h.sent_at_ms = arrival_ms;
            }
            return record{std::move(h)};
        }
    }
    return fail("malformed_message", "unknown source");
}

}  // namespace

result<record> decode_record(source from, const broker::delivery& d, std::int64_t arrival_ms,
                             const decode_options& options) {
    return decode_any(from, d, arrival_ms, /*fast=*/true, options);
}

result<record> decode_record_reference(source from, const broker::delivery& d, std::int64_t arrival_ms,
                                       const decode_options& options) {
    return decode_any(from, d, arrival_ms, /*fast=*/false, options);
}

std::int64_t event_time_ms(const record& r) {
    return std::visit(
        [](const auto& v) -> std::int64_t {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, request_row>) {
                return v.received_at_ms;
            } else if constexpr (std::is_same_v<T, response_row>) {
                return v.completed_at_ms;
            } else if constexpr (std::is_same_v<T, chunk_rows>) {
                return v.rows.empty() ? 0 : v.rows.front().received_at_ms;
            } else {
                return v.sent_at_ms;
            }
        },
        r);
}

std::size_t row_count(const record& r) {
    if (const auto* c = std::get_if<chunk_rows>(&r)) {
        return c->rows.size();
    }
    return is_audit_row(r) ? 1 : 0;
}

bool is_audit_row(const record& r) {
    return !std::holds_alternative<worker_heartbeat>(r) && !std::holds_alternative<delivery_confirmation>(r);
}

}  // namespace llmp::audit
