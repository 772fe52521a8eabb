#include "api/responses_queries.hpp"

#include "common/json_get.hpp"
#include "common/json_limits.hpp"
#include "pg/connection.hpp"

#include <charconv>

namespace llmp::api {
namespace {

using json = nlohmann::json;

// Only requests made through POST /v1/responses carry extra.responses (responses_routes.cpp).
// The condition that picks the kind follows (where_responses, where_resumable_stream).
constexpr std::string_view select_sql = R"sql(
SELECT r.model, r.model_alias, r.messages::text, r.extra::text,
       floor(extract(epoch FROM r.received_at))::bigint,
       s.status, s.text, s.tool_calls::text, s.prompt_tokens, s.completion_tokens, s.done_reason,
       s.error_code, s.error_message, floor(extract(epoch FROM s.completed_at))::bigint,
       d.request_id IS NOT NULL, r.key_id, r.server_id LIKE 'bg.%'
FROM requests r
LEFT JOIN responses s ON s.request_id = r.request_id
LEFT JOIN deleted_responses d ON d.request_id = r.request_id
WHERE r.request_id = $1 AND )sql";
constexpr std::string_view where_responses = "r.extra ? 'responses'";
// A native resumable stream: published under the background server id through a native route
// (the stored route is the request target, query string and all).
constexpr std::string_view where_resumable_stream =
    "r.server_id LIKE 'bg.%' AND split_part(r.route, '?', 1) IN ('/api/chat', '/api/generate')";

std::int64_t integer_of(const std::optional<std::string>& v) {
    std::int64_t n = 0;
    if (v) {
        std::from_chars(v->data(), v->data() + v->size(), n);
    }
    return n;
}

json json_of(const std::optional<std::string>& v) {
    if (!v) {
        return json{};
    }
    // Stored by the audit from a message this tree wrote: bounded as every message is.
    auto parsed = parse_json_bounded(*v, max_message_json_depth + 2);
    return parsed ? std::move(parsed.value()) : json{};
}

const std::string& text_of(const std::optional<std::string>& v) {
    static const std::string none;
    return v ? *v : none;
}

}  // namespace

result<std::optional<stored_response>> query_stored_response(pg::connection& conn, const std::string& request_id,
                                                             stored_request_kind kind) {
    std::string sql{select_sql};
    sql += kind == stored_request_kind::responses ? where_responses : where_resumable_stream;
    auto q = conn.query(sql, {request_id});
    if (!q) {
        return q.error();
    }
    if (q.value().rows.empty()) {
        return std::optional<stored_response>{};
    }
    const auto& row = q.value().rows[0];
    stored_response s;
    s.head.request_id = request_id;
    s.head.model = row[1] && !row[1]->empty() ? *row[1] : text_of(row[0]);
    s.messages = json_of(row[2]);
    if (!s.messages.is_array()) {
        s.messages = json::array();
    }
    auto extra = json_of(row[3]);
    json responses = extra.is_object() && extra.contains("responses") ? extra["responses"] : json::object();
    s.head.echo = responses.is_object() && responses.contains("echo") ? responses["echo"] : json::object();
    s.input_items = responses.is_object() && responses.contains("input") ? responses["input"] : json::array();
    s.store = get_or<bool>(responses, "store", true);
    s.head.created_at = integer_of(row[4]);
    s.deleted = row[14] && *row[14] == "t";
    s.key_id = text_of(row[15]);
    s.background = row[16] && *row[16] == "t";
    if (!row[5]) {
        return std::optional<stored_response>{std::move(s)};  // no response row (yet)
    }
    auto& o = s.outcome;
    const auto& status = *row[5];
    o.text = text_of(row[6]);
    o.tool_calls = json_of(row[7]);
    if (!o.tool_calls.is_array()) {
        o.tool_calls = json::array();
    }
    o.has_usage = true;
    o.input_tokens = integer_of(row[8]);
    o.output_tokens = integer_of(row[9]);
    o.completed_at = integer_of(row[13]);
    if (status == "ok") {
        o.status = text_of(row[10]) == "length" ? "incomplete" : "completed";
    } else if (status == "cancelled") {
        o.status = "cancelled";
    } else {
        o.status = "failed";
        o.error_code = text_of(row[11]);
        o.error_message = text_of(row[12]);
    }
    return std::optional<stored_response>{std::move(s)};
}

result<std::vector<stored_chunk>> query_stored_chunks(pg::connection& conn, const std::string& request_id) {
    auto q = conn.query(R"sql(
SELECT seq, text FROM response_chunks
WHERE request_id = $1 AND attempt = (SELECT max(attempt) FROM response_chunks WHERE request_id = $1)
ORDER BY seq
)sql",
                        {request_id});
    if (!q) {
        return q.error();
    }
    std::vector<stored_chunk> out;
    out.reserve(q.value().rows.size());
    for (const auto& row : q.value().rows) {
        out.push_back({integer_of(row[0]), text_of(row[1])});
    }
    return out;
}

result<bool> mark_response_deleted(pg::connection& conn, const std::string& request_id) {
    auto found = query_stored_response(conn, request_id);
    if (!found) {
        return found.error();
    }
    if (!found.value() || !found.value()->visible()) {
        return false;
    }
    auto ins =
        conn.query("INSERT INTO deleted_responses (request_id) VALUES ($1) ON CONFLICT DO NOTHING", {request_id});
    if (!ins) {
        return ins.error();
    }
    return ins.value().affected > 0;
}

}  // namespace llmp::api
