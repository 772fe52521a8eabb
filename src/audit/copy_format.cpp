#include "audit/copy_format.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

namespace llmp::audit::copy_format {
namespace {

void sep(std::string& out) {
    out.push_back('\t');
}
void end(std::string& out) {
    out.push_back('\n');
}
void null(std::string& out) {
    out.append("\\N");
}

void num(std::string& out, std::int64_t v) {
    fmt::format_to(std::back_inserter(out), "{}", v);
}
void num(std::string& out, double v) {
    fmt::format_to(std::back_inserter(out), "{}", std::isfinite(v) ? v : 0.0);
}
void boolean(std::string& out, bool v) {
    out.push_back(v ? 't' : 'f');
}

/// key_id TAB key_name, both NULL when no key admitted the request (--auth none).
void append_key(std::string& out, const std::string& id, const std::string& name) {
    if (id.empty()) {
        null(out), sep(out), null(out);
        return;
    }
    append_field(out, id), sep(out);
    append_field(out, name);
}

}  // namespace

void append_field(std::string& out, std::string_view value) {
    // Runs of ordinary bytes are appended whole; only \ TAB LF CR are escaped (NULs were
    // stripped when the record was decoded, and are dropped here too: never sent).
    const char* p = value.data();
    const char* end = p + value.size();
    while (p < end) {
        const char* q = p;
        while (q < end && *q != '\\' && *q != '\t' && *q != '\n' && *q != '\r' && *q != '\0') {
            ++q;
        }
        out.append(p, q);
        if (q == end) {
            break;
        }
        switch (*q) {
            case '\\':
                out.append("\\\\");
                break;
            case '\t':
                out.append("\\t");
                break;
            case '\n':
                out.append("\\n");
                break;
            case '\r':
                out.append("\\r");
                break;
            default:
                break;  // NUL
        }
        p = q + 1;
    }
}

void append_timestamp(std::string& out, std::int64_t ms) {
    using namespace std::chrono;
    const sys_time<milliseconds> t{milliseconds{ms}};
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{t - day};
    fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}+00",
                   static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                   hms.hours().count(), hms.minutes().count(), hms.seconds().count(), hms.subseconds().count());
}

void append_row(std::string& out, const request_row& r) {
    append_field(out, r.request_id), sep(out);
    append_timestamp(out, r.received_at_ms), sep(out);
    append_field(out, r.server_id), sep(out);
    append_field(out, r.api_flavour), sep(out);
    append_field(out, r.route), sep(out);
    append_field(out, r.kind), sep(out);
    append_field(out, r.model), sep(out);
    boolean(out, r.stream), sep(out);
    num(out, std::int64_t{r.priority}), sep(out);
    r.messages_json ? append_field(out, *r.messages_json) : null(out);
    sep(out);
    r.prompt ? append_field(out, *r.prompt) : null(out);
    sep(out);
    append_field(out, r.options_json), sep(out);
    append_field(out, r.extra_json), sep(out);
    append_field(out, r.client_addr), sep(out);
    append_field(out, r.user_agent), sep(out);
    r.deadline_ms > 0 ? append_timestamp(out, r.deadline_ms) : null(out);
    sep(out);
    append_key(out, r.key_id, r.key_name), sep(out);
    r.model_alias.empty() ? null(out) : append_field(out, r.model_alias);
    end(out);
}

void append_row(std::string& out, const response_row& r) {
    append_field(out, r.request_id), sep(out);
    append_field(out, r.status), sep(out);
    append_field(out, r.server_id), sep(out);
    append_field(out, r.worker_id), sep(out);
    append_field(out, r.provider), sep(out);
    append_field(out, r.model), sep(out);
    r.status == "ok" ? append_field(out, r.done_reason) : null(out);
    sep(out);
    append_field(out, r.text), sep(out);
    num(out, r.prompt_tokens), sep(out);
    num(out, r.completion_tokens), sep(out);
    num(out, r.ttft_ms), sep(out);
    num(out, r.duration_ms), sep(out);
    num(out, r.tokens_per_s), sep(out);
    if (r.status == "ok") {
        null(out), sep(out), null(out), sep(out), null(out), sep(out);
    } else {
        append_field(out, r.error_code), sep(out);
        append_field(out, r.error_message), sep(out);
        boolean(out, r.retryable), sep(out);
    }
    append_field(out, r.provider_metrics_json), sep(out);
    append_timestamp(out, r.completed_at_ms), sep(out);
    append_field(out, r.reported_by), sep(out);
    append_key(out, r.key_id, r.key_name);
    sep(out);
    r.tool_calls_json.empty() ? null(out) : append_field(out, r.tool_calls_json);
    sep(out);
    r.choices_json.empty() ? null(out) : append_field(out, r.choices_json);
    sep(out);
    // Unknown (an older worker or API server): -infinity, the legacy or DEFAULT partition.
    if (r.request_received_at_ms > 0) {
        append_timestamp(out, r.request_received_at_ms);
    } else {
        out.append("-infinity");
    }
    end(out);
}

void append_row(std::string& out, const chunk_row& r) {
    append_field(out, r.request_id), sep(out);
    num(out, r.attempt), sep(out);
    num(out, r.seq), sep(out);
    append_field(out, r.worker_id), sep(out);
    append_timestamp(out, r.received_at_ms), sep(out);
    append_field(out, r.text);
    end(out);
}

void append_row(std::string& out, const chunk_rows& r) {
    for (const auto& row : r.rows) {
        append_row(out, row);
    }
}

namespace {

/// `key` empty: any unique violation means the row is stored already. requests (pg migration
/// 29): its key is (received_at, request_id), and the legacy partition (the table as it was
/// before the conversion) also keeps request_id unique on its own.
table_statements make_statements(std::string_view table, std::string_view columns, std::string_view key) {
    const auto t = std::string{table};
    const auto cols = std::string{columns};
    const std::string conflict =
        key.empty() ? " ON CONFLICT DO NOTHING" : " ON CONFLICT (" + std::string{key} + ") DO NOTHING";
    return {"COPY " + t + " (" + cols + ") FROM STDIN", "COPY stage_" + t + " (" + cols + ") FROM STDIN",
            "INSERT INTO " + t + " (" + cols + ") SELECT " + cols + " FROM stage_" + t + conflict};
}

/// `responses` from staging: a worker's report and an API server's verdict (reported_by 'api')
/// merge into one row whichever is stored first; among reports of one kind the first stays (a
/// redelivery changes nothing). DISTINCT ON because an upsert may touch a row once per
/// statement; ctid order is COPY order, so the batch's first copy wins.
/// The key (pg migration 29) includes the partition column, the request's receipt time: a
/// redelivery carries the same time, so it meets its first copy in one partition. A report
/// whose time differs from the stored row's (a message from an older process has none: a
/// verdict meeting a report stored before the conversion) takes the stored row's time, so the
/// two still merge: a probe by id per staged row, on this path only.
std::string responses_from_staging(const std::string& cols) {
    // Both reports carry the request's key; one from an older process may not.
    const std::string keep_key =
        " key_id = coalesce(r.key_id, EXCLUDED.key_id), key_name = coalesce(r.key_name, EXCLUDED.key_name)";
    const std::string time_col = ", request_received_at";
    const auto at = cols.rfind(time_col);
    const std::string select_cols = cols.substr(0, at) +
                                    ", coalesce((SELECT t.request_received_at FROM responses t"
                                    " WHERE t.request_id = s.request_id LIMIT 1), s.request_received_at)" +
                                    cols.substr(at + time_col.size());
    const std::string from =
        "SELECT DISTINCT ON (request_id) " + select_cols + " FROM stage_responses s WHERE reported_by = ";
    return "INSERT INTO responses AS r (" + cols + ") " + from +
           "'worker' ORDER BY request_id, ctid"
           " ON CONFLICT (request_received_at, request_id) DO UPDATE SET worker_id = EXCLUDED.worker_id, provider = "
           "EXCLUDED.provider,"
           " model = EXCLUDED.model, text = EXCLUDED.text, prompt_tokens = EXCLUDED.prompt_tokens,"
           " completion_tokens = EXCLUDED.completion_tokens, ttft_ms = EXCLUDED.ttft_ms,"
           " duration_ms = EXCLUDED.duration_ms, tokens_per_s = EXCLUDED.tokens_per_s,"
           " provider_metrics = EXCLUDED.provider_metrics, tool_calls = EXCLUDED.tool_calls,"
           " choices = EXCLUDED.choices, reported_by = 'both'," +
           keep_key +
           " WHERE r.reported_by = 'api';"
           " INSERT INTO responses AS r (" +
           cols + ") " + from +
           "'api' ORDER BY request_id, ctid"
           " ON CONFLICT (request_received_at, request_id) DO UPDATE SET status = EXCLUDED.status, done_reason = NULL,"
           " error_code = EXCLUDED.error_code, error_message = EXCLUDED.error_message,"
           " retryable = EXCLUDED.retryable, reported_by = 'both'," +
           keep_key + " WHERE r.reported_by = 'worker'";
}

table_statements responses_statements() {
    const std::string cols =
        "request_id, status, server_id, worker_id, provider, model, done_reason, text, prompt_tokens, "
        "completion_tokens, ttft_ms, duration_ms, tokens_per_s, error_code, error_message, retryable, "
        "provider_metrics, completed_at, reported_by, key_id, key_name, tool_calls, choices, request_received_at";
    auto s = make_statements("responses", cols, "request_received_at, request_id");
    s.insert_from_staging = responses_from_staging(cols);
    return s;
}

}  // namespace

const table_statements& statements(std::size_t record_index) {
    static const table_statements all[] = {
        make_statements("requests",
                        "request_id, received_at, server_id, api_flavour, route, kind, model, stream, priority, "
                        "messages, prompt, options, extra, client_addr, user_agent, deadline_at, key_id, key_name, "
                        "model_alias",
                        ""),
        responses_statements(),
        make_statements("response_chunks", "request_id, attempt, seq, worker_id, received_at, text",
                        "request_id, attempt, seq"),
    };
    return all[record_index];
}

// LIKE copies the columns, their NOT NULL constraints and defaults (ingested_at), nothing else:
// no keys or indexes, so duplicates are caught only by the INSERT's ON CONFLICT.
const std::string_view create_staging_sql = R"sql(
CREATE TEMP TABLE IF NOT EXISTS stage_requests (LIKE requests INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_responses (LIKE responses INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_response_chunks (LIKE response_chunks INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
)sql";

const std::string_view upsert_worker_sql = R"sql(
INSERT INTO workers AS w (worker_id, host, provider, models, concurrency, in_flight, tokens_per_s,
                          requests_total, tokens_total, first_seen, last_seen, left_at)
VALUES ($1, $2, $3, ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5::integer, $6::integer,
        $7::double precision, $8::bigint, $9::bigint, to_timestamp($10::bigint / 1000.0),
        to_timestamp($10::bigint / 1000.0),
        CASE WHEN $11::boolean THEN to_timestamp($10::bigint / 1000.0) END)
ON CONFLICT (worker_id) DO UPDATE SET
    host = EXCLUDED.host, provider = EXCLUDED.provider, models = EXCLUDED.models,
    concurrency = EXCLUDED.concurrency, in_flight = EXCLUDED.in_flight,
    tokens_per_s = EXCLUDED.tokens_per_s, requests_total = EXCLUDED.requests_total,
    tokens_total = EXCLUDED.tokens_total, last_seen = EXCLUDED.last_seen,
    first_seen = LEAST(w.first_seen, EXCLUDED.first_seen), left_at = EXCLUDED.left_at
WHERE w.last_seen <= EXCLUDED.last_seen
)sql";

}  // namespace llmp::audit::copy_format
