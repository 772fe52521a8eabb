#include "monitor/request_queries.hpp"

#include "monitor/model_name_sql.hpp"
#include "monitor/partition_join_sql.hpp"
#include "monitor/pg_values.hpp"

#include <algorithm>
#include <vector>

namespace llmp::monitor {
namespace {

using nlohmann::json;

bool all_digits(const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// A time bound as SQL over parameter $n: unix ms, or anything PostgreSQL reads as timestamptz.
std::string time_expr(const std::string& v, std::size_t n) {
    if (all_digits(v)) {
        return "(timestamptz 'epoch' + $" + std::to_string(n) + "::bigint * interval '1 millisecond')";
    }
    return "$" + std::to_string(n) + "::timestamptz";
}

/// LIKE pattern for a substring: the user's % _ and \ match themselves.
std::string like_pattern(const std::string& s) {
    std::string out = "%";
    for (char c : s) {
        if (c == '%' || c == '_' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + "%";
}

// What the text search matches: the prompt and the messages (roles and contents) as JSON text,
// llmp_search_doc (pg migration 36), whose value request_search.doc holds
// (audit/search_index.cpp) and whose trigram index the closed days' partitions carry
// (audit/search_coverage.cpp). An SQL function the planner inlines: the index serves the call.
std::string search_text(const char* alias) {
    return std::string{"llmp_search_doc("} + alias + ".prompt, " + alias + ".messages)";
}

/// The window applied: the filter's, or a text search's default when it has no `from`.
std::optional<std::int64_t> search_window_s(const request_filter& f) {
    if (f.text && !f.from && !f.window_s) {
        return default_search_window_s;
    }
    return f.window_s;
}

}  // namespace

result<void> validate(const request_filter& f) {
    if (f.status && *f.status != "ok" && *f.status != "error" && *f.status != "cancelled" && *f.status != "pending") {
        return fail("invalid_field", "status must be ok, error, cancelled or pending");
    }
    if (f.limit < 1 || f.limit > 500) {
        return fail("invalid_field", "limit must be between 1 and 500");
    }
    return ok();
}

result<std::optional<search_range>> read_search_coverage(pg::connection& c, const request_filter& f) {
    // Clamped to the filter's time bounds (a superset of them: the list's own conditions stay),
    // so a day window plans the one or two covered partitions it reaches, not every covered
    // one (planning each costs ~0.4 ms, bench/RESULTS.md). now() is the transaction's time: the
    // list's query, in the same transaction, sees the same.
    std::vector<std::optional<std::string>> p;
    auto param = [&](std::string v) {
        p.emplace_back(std::move(v));
        return p.size();
    };
    std::string lo = "c.covered_from";
    std::string hi = "c.covered_until";
    if (f.from) {
        lo += ", " + time_expr(*f.from, param(*f.from));
    }
    if (f.to) {
        hi += ", " + time_expr(*f.to, param(*f.to));
    }
    if (const auto window_s = search_window_s(f)) {
        const std::string end = f.to ? time_expr(*f.to, param(*f.to)) : std::string{"now()"};
        lo +=
            ", " + end + " - make_interval(secs => $" + std::to_string(param(std::to_string(*window_s))) + "::float8)";
    }
    auto r = c.query("SELECT lo::text, hi::text FROM (SELECT greatest(" + lo + ") AS lo, least(" + hi +
                         ") AS hi FROM search_coverage c) x WHERE lo < hi",
                     p);
    if (!r) {
        return r.error();
    }
    if (r.value().rows.empty()) {
        return std::optional<search_range>{};
    }
    const auto& row = r.value().rows.front();
    return std::optional<search_range>{search_range{row.at(0).value_or(""), row.at(1).value_or("")}};
}

request_list_query request_list_sql(const request_filter& f, const std::optional<search_range>& covered) {
    std::vector<std::optional<std::string>> p;
    std::string where;
    auto add = [&](const std::string& cond) { where += (where.empty() ? " WHERE " : " AND ") + cond; };
    auto param = [&](std::string v) {
        p.emplace_back(std::move(v));
        return p.size();
    };
    if (f.model) {
        // Stored names are as the client or the worker spelled them: match every spelling of
        // the model (an IN list, so the (model, received_at) index still serves).
        std::string names;
        for (auto& spelling : model_name_spellings(*f.model)) {
            names += (names.empty() ? "$" : ", $") + std::to_string(param(std::move(spelling)));
        }
        add("(q.model IN (" + names + ") OR r.model IN (" + names + "))");
    }
    if (f.status) {
        if (*f.status == "pending") {
            // The unanswered requests of the horizon from pending_requests (pg migration 27, kept
            // by triggers): a few rows, where probing the responses once per request of the
            // horizon cost 50-250 ms at 1 M rows (bench/RESULTS.md). NOT EXISTS still checks the
            // page's rows: a response stored before its request (pg migration 38), or the two
            // stored concurrently, leave a row there until the audit's next retention pass.
            const auto horizon = "now() - make_interval(secs => $" +
                                 std::to_string(param(std::to_string(pending_horizon_s))) + "::float8)";
            add("q.request_id IN (SELECT u.request_id FROM pending_requests u WHERE u.received_at > " + horizon + ")");
            add("NOT EXISTS (SELECT 1 FROM responses p WHERE " + response_of_request_sql("q", "p") + ")");
            add("q.received_at > " + horizon);
        } else {
            add("r.status = $" + std::to_string(param(*f.status)));
        }
    }
    if (f.worker) {
        add("r.worker_id = $" + std::to_string(param(*f.worker)));
    }
    if (f.key) {
        // An id, or a name resolved to its key's id through api_keys (names are unique there, even
        // after revoke): the (key_id, received_at) index of audit migration 8 serves either.
        auto n = std::to_string(param(*f.key));
        add("q.key_id = ANY (ARRAY(SELECT id::text FROM api_keys WHERE name = $" + n + ") || $" + n + "::text)");
    }
    // The time bounds, as conditions over a received_at column (the requests', and the text
    // search's tables').
    std::vector<std::string> bounds;
    if (f.from) {
        bounds.push_back(" >= " + time_expr(*f.from, param(*f.from)));
    }
    if (f.to) {
        bounds.push_back(" < " + time_expr(*f.to, param(*f.to)));
    }
    const std::optional<std::int64_t> window_s = search_window_s(f);
    if (window_s) {
        const std::string end = f.to ? time_expr(*f.to, param(*f.to)) : std::string{"now()"};
        bounds.push_back(" > " + end + " - make_interval(secs => $" + std::to_string(param(std::to_string(*window_s))) +
                         "::float8)");
    }
    auto bounded = [&bounds](const std::string& column) {
        std::string out;
        for (const auto& b : bounds) {
            out += " AND " + column + b;
        }
        return out;
    };
    for (const auto& b : bounds) {
        add("q.received_at" + b);
    }
    if (f.text) {
        // The requests the audit has indexed by trigrams (request_search, pg migration 28), and
        // those still queued for it (search_backlog: the last seconds, or a backlog after an
        // upgrade) scanned: each request is in exactly one of the two in any snapshot. The queue
        // holds each request's received_at: the join reads its day partition only.
        const auto pattern = "$" + std::to_string(param(like_pattern(*f.text)));
        std::string cf;
        std::string cu;
        std::string covered_branch;
        if (covered) {
            // The covered closed days (pg migration 36) through their partitions' own trigram
            // indexes instead, late rows of those days included; the other two branches skip
            // them, so each request is matched by one branch. The range is read by the caller in
            // this query's snapshot and given as values, so PostgreSQL prunes to the covered
            // partitions when planning and estimates each as read whole: with the range read by
            // initplans the pruning happens at run time, but the planner, knowing no bound, took
            // the range for 0.5 % of each partition and ANDed a bitmap of the whole day's
            // (received_at, request_id) index with the trigram one (16 ms against 0.7 ms on
            // 150,000 rows, bench/RESULTS.md).
            cf = "$" + std::to_string(param(covered->from)) + "::timestamptz";
            cu = "$" + std::to_string(param(covered->until)) + "::timestamptz";
            covered_branch = " UNION ALL SELECT d.request_id FROM requests d WHERE " + search_text("d") + " ILIKE " +
                             pattern + " AND d.received_at >= " + cf + " AND d.received_at < " + cu +
                             bounded("d.received_at");
        }
        auto skip_covered = [&](const std::string& column) {
            return covered ? " AND (" + column + " < " + cf + " OR " + column + " >= " + cu + ")" : std::string{};
        };
        add("q.request_id IN (SELECT s.request_id FROM request_search s WHERE s.doc ILIKE " + pattern +
            skip_covered("s.received_at") + bounded("s.received_at") +
            " UNION ALL SELECT b.request_id FROM search_backlog b JOIN requests q ON q.received_at = b.received_at"
            " AND q.request_id = b.request_id WHERE " +
            search_text("q") + " ILIKE " + pattern + skip_covered("b.received_at") + bounded("b.received_at") +
            covered_branch + ")");
    }
    if (f.after) {
        auto us = param(std::to_string(f.after->received_us));
        auto id = param(f.after->request_id);
        add("(q.received_at, q.request_id) < (timestamptz 'epoch' + $" + std::to_string(us) +
            "::bigint * interval '1 microsecond', $" + std::to_string(id) + ")");
    }
    // Each request's response from the request's day partition (partition_join_sql.hpp) — but
    // by id alone when a condition on the response (status, worker) makes the join an inner one:
    // PostgreSQL, taking the two equalities (id and time) as independent, then expects one row
    // of the whole join and hashes both tables (1-1.4 s at 1 M rows, bench/RESULTS.md), where by
    // id it walks the requests newest first, or starts from the responses' (worker_id,
    // completed_at) or (status, completed_at) index for a rare value.
    const bool response_filter = (f.status && *f.status != "pending") || f.worker;
    const std::string response_join =
        response_filter ? std::string{"USING (request_id)"} : "ON " + response_of_request_sql();
    std::string sql =
        "SELECT q.request_id, (extract(epoch FROM q.received_at) * 1000000)::bigint, q.model, q.kind, q.route, "
        "q.stream, q.api_flavour, left(coalesce(q.prompt, q.messages->-1->>'content', ''), " +
        std::to_string(preview_chars) +
        "), coalesce(r.status, 'pending'), r.worker_id, r.prompt_tokens, r.completion_tokens, r.ttft_ms, "
        "r.duration_ms, r.tokens_per_s, r.error_code, (extract(epoch FROM r.completed_at) * 1000)::bigint, "
        "q.key_id, q.key_name "
        "FROM requests q LEFT JOIN responses r " +
        response_join + where + " ORDER BY q.received_at DESC, q.request_id DESC LIMIT " + std::to_string(f.limit + 1);
    return {std::move(sql), std::move(p), window_s};
}

result<json> query_requests(pg::connection& c, const request_filter& f) {
    // `pending` probes the responses once per request of its horizon and stops at a page: a
    // parallel worker's start-up costs more than it saves there (bench/RESULTS.md, issue 19).
    // SET LOCAL in a transaction of its own: the session's setting is back after COMMIT. A text
    // search reads the search's covered range and runs in one snapshot (REPEATABLE READ): a
    // day covered in between would be matched by neither.
    const bool serial = f.status && *f.status == "pending";
    const bool text = f.text.has_value();
    if (serial || text) {
        const std::string begin = std::string{text ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN"} +
                                  (serial ? "; SET LOCAL max_parallel_workers_per_gather = 0" : "");
        if (auto s = c.exec(begin); !s) {
            (void)c.exec("ROLLBACK");
            return s.error();
        }
    }
    std::optional<search_range> covered;
    if (text) {
        auto range = read_search_coverage(c, f);
        if (!range) {
            (void)c.exec("ROLLBACK");
            return range.error();
        }
        covered = range.value();
    }
    auto [sql, p, window_s] = request_list_sql(f, covered);
    auto r = c.query(sql, p);
    if (serial || text) {
        // After a failed query COMMIT ends the aborted transaction as a ROLLBACK would.
        if (auto s = c.exec("COMMIT"); !s && r) {
            return s.error();
        }
    }
    if (!r) {
        return r.error();
    }
    auto& rows = r.value().rows;
    json list = json::array();
    json next = nullptr;
    for (std::size_t i = 0; i < rows.size() && i < static_cast<std::size_t>(f.limit); ++i) {
        const auto& row = rows[i];
        list.push_back({{"request_id", row[0].value_or("")},
                        {"received_at_ms", as_int(row[1]) / 1000},
                        {"model", row[2].value_or("")},
                        {"kind", row[3].value_or("")},
                        {"route", row[4].value_or("")},
                        {"stream", as_bool(row[5])},
                        {"api_flavour", row[6].value_or("")},
                        {"preview", row[7].value_or("")},
                        {"status", row[8].value_or("")},
                        {"worker_id", text_or_null(row[9])},
                        {"prompt_tokens", number_or_null(row[10])},
                        {"completion_tokens", number_or_null(row[11])},
                        {"ttft_ms", number_or_null(row[12])},
                        {"duration_ms", number_or_null(row[13])},
                        {"tokens_per_s", number_or_null(row[14])},
                        {"error_code", text_or_null(row[15])},
                        {"completed_at_ms", number_or_null(row[16])},
                        {"key_id", text_or_null(row[17])},
                        {"key_name", text_or_null(row[18])}});
    }
    if (rows.size() > static_cast<std::size_t>(f.limit)) {
        const auto& last = rows[static_cast<std::size_t>(f.limit) - 1];
        next = cursor{as_int(last[1]), last[0].value_or("")}.encode();
    }
    json out{{"requests", std::move(list)}, {"next_cursor", std::move(next)}};
    if (window_s) {
        out["window_s"] = *window_s;
    }
    return out;
}

result<json> query_request_detail(pg::connection& c, const std::string& request_id) {
    auto r = c.query(R"sql(
SELECT q.request_id, (extract(epoch FROM q.received_at) * 1000)::float8, q.server_id, q.api_flavour, q.route, q.kind,
       q.model, q.stream, q.priority, q.messages::text, q.prompt, q.options::text, q.extra::text, q.client_addr,
       q.user_agent, (extract(epoch FROM q.deadline_at) * 1000)::float8,
       r.request_id, r.status, r.server_id, r.worker_id, r.provider, r.model, r.done_reason, r.text, r.prompt_tokens,
       r.completion_tokens, r.ttft_ms, r.duration_ms, r.tokens_per_s, r.error_code, r.error_message, r.retryable,
       r.provider_metrics::text, (extract(epoch FROM r.completed_at) * 1000)::float8,
       (extract(epoch FROM r.ingested_at) * 1000)::float8, r.reported_by, q.key_id, q.key_name, r.key_id, r.key_name
FROM (SELECT $1::text COLLATE "C" AS request_id) k
LEFT JOIN requests q ON q.request_id = k.request_id
LEFT JOIN responses r ON r.request_id = k.request_id)sql",
                     {request_id});
    if (!r) {
        return r.error();
    }
    const auto& row = r.value().rows.at(0);
    if (!row[0] && !row[16]) {
        return fail("not_found", "no request " + request_id + " in the audit database");
    }
    auto parse_json = [](const std::optional<std::string>& v) -> json {
        if (!v) {
            return nullptr;
        }
        return json::parse(*v, nullptr, false);
    };
    json out{{"request_id", request_id}};
    if (row[0]) {
        out["request"] = {{"received_at_ms", number_or_null(row[1])},
                          {"server_id", row[2].value_or("")},
                          {"api_flavour", row[3].value_or("")},
                          {"route", row[4].value_or("")},
                          {"kind", row[5].value_or("")},
                          {"model", row[6].value_or("")},
                          {"stream", as_bool(row[7])},
                          {"priority", as_int(row[8])},
                          {"messages", parse_json(row[9])},
                          {"prompt", text_or_null(row[10])},
                          {"options", parse_json(row[11])},
                          {"extra", parse_json(row[12])},
                          {"client_addr", text_or_null(row[13])},
                          {"user_agent", text_or_null(row[14])},
                          {"deadline_at_ms", number_or_null(row[15])},
                          {"key_id", text_or_null(row[36])},
                          {"key_name", text_or_null(row[37])}};
    } else {
        out["request"] = nullptr;
    }
    if (row[16]) {
        out["response"] = {{"status", row[17].value_or("")},
                           {"server_id", text_or_null(row[18])},
                           {"worker_id", text_or_null(row[19])},
                           {"provider", text_or_null(row[20])},
                           {"model", text_or_null(row[21])},
                           {"done_reason", text_or_null(row[22])},
                           {"text", row[23].value_or("")},
                           {"prompt_tokens", as_int(row[24])},
                           {"completion_tokens", as_int(row[25])},
                           {"ttft_ms", number_or_null(row[26])},
                           {"duration_ms", number_or_null(row[27])},
                           {"tokens_per_s", number_or_null(row[28])},
                           {"error_code", text_or_null(row[29])},
                           {"error_message", text_or_null(row[30])},
                           {"retryable", row[31] ? json(as_bool(row[31])) : json(nullptr)},
                           {"provider_metrics", parse_json(row[32])},
                           {"completed_at_ms", number_or_null(row[33])},
                           {"ingested_at_ms", number_or_null(row[34])},
                           {"reported_by", row[35].value_or("worker")},
                           {"key_id", text_or_null(row[38])},
                           {"key_name", text_or_null(row[39])}};
    } else {
        out["response"] = nullptr;
    }
    // Chunk timings exist only while chunk audit is on; offsets are from the request's arrival.
    auto chunks = c.query(R"sql(
SELECT c.attempt, c.seq, c.worker_id,
       (extract(epoch FROM c.received_at - q.received_at) * 1000)::float8, length(c.text)
FROM response_chunks c LEFT JOIN requests q USING (request_id)
WHERE c.request_id = $1 ORDER BY c.attempt, c.seq LIMIT 20000)sql",
                          {request_id});
    if (!chunks) {
        return chunks.error();
    }
    json list = json::array();
    for (const auto& ch : chunks.value().rows) {
        list.push_back({{"attempt", as_int(ch[0])},
                        {"seq", as_int(ch[1])},
                        {"worker_id", text_or_null(ch[2])},
                        {"t_ms", number_or_null(ch[3])},
                        {"chars", as_int(ch[4])}});
    }
    out["chunks"] = std::move(list);
    return out;
}

}  // namespace llmp::monitor
