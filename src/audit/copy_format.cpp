#include "audit/copy_format.hpp"

#include <fmt/format.h>

#include <cmath>

namespace llmp::audit::copy_format {
namespace {

void sep(std::string& out) { out.push_back('\t'); }
void end(std::string& out) { out.push_back('\n'); }
void null(std::string& out) { out.append("\\N"); }

void num(std::string& out, std::int64_t v) { fmt::format_to(std::back_inserter(out), "{}", v); }
void num(std::string& out, double v) {
    fmt::format_to(std::back_inserter(out), "{}", std::isfinite(v) ? v : 0.0);
}
void boolean(std::string& out, bool v) { out.push_back(v ? 't' : 'f'); }

}  // namespace

void append_field(std::string& out, std::string_view value) {
    for (char c : value) {
        switch (c) {
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
        case '\0':
            break;  // cleaned before; never sent
        default:
            out.push_back(c);
        }
    }
}

void append_row(std::string& out, const request_row& r) {
    append_field(out, r.request_id), sep(out);
    num(out, r.received_at_ms), sep(out);
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
    r.deadline_ms > 0 ? num(out, r.deadline_ms) : null(out);
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
    num(out, r.completed_at_ms);
    end(out);
}

void append_row(std::string& out, const chunk_row& r) {
    append_field(out, r.request_id), sep(out);
    num(out, r.attempt), sep(out);
    num(out, r.seq), sep(out);
    append_field(out, r.worker_id), sep(out);
    num(out, r.received_at_ms), sep(out);
    append_field(out, r.text);
    end(out);
}

const std::string_view create_staging_sql = R"sql(
CREATE TEMP TABLE IF NOT EXISTS stage_requests (
    request_id text, received_at_ms bigint, server_id text, api_flavour text, route text,
    kind text, model text, stream boolean, priority integer, messages jsonb, prompt text,
    options jsonb, extra jsonb, client_addr text, user_agent text, deadline_ms bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_responses (
    request_id text, status text, server_id text, worker_id text, provider text, model text,
    done_reason text, text text, prompt_tokens bigint, completion_tokens bigint,
    ttft_ms double precision, duration_ms double precision, tokens_per_s double precision,
    error_code text, error_message text, retryable boolean, provider_metrics jsonb,
    completed_at_ms bigint
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_chunks (
    request_id text, attempt integer, seq bigint, worker_id text, received_at_ms bigint, text text
) ON COMMIT DELETE ROWS;
)sql";

const std::string_view copy_requests_sql = "COPY stage_requests FROM STDIN";
const std::string_view copy_responses_sql = "COPY stage_responses FROM STDIN";
const std::string_view copy_chunks_sql = "COPY stage_chunks FROM STDIN";

const std::string_view insert_requests_sql = R"sql(
INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream,
                      priority, messages, prompt, options, extra, client_addr, user_agent, deadline_at)
SELECT request_id, to_timestamp(received_at_ms / 1000.0), server_id, api_flavour, route, kind, model,
       stream, priority, messages, prompt, options, extra, client_addr, user_agent,
       to_timestamp(deadline_ms / 1000.0)
FROM stage_requests
ON CONFLICT (request_id) DO NOTHING
)sql";

const std::string_view insert_responses_sql = R"sql(
INSERT INTO responses (request_id, status, server_id, worker_id, provider, model, done_reason, text,
                       prompt_tokens, completion_tokens, ttft_ms, duration_ms, tokens_per_s,
                       error_code, error_message, retryable, provider_metrics, completed_at)
SELECT request_id, status, server_id, worker_id, provider, model, done_reason, text,
       prompt_tokens, completion_tokens, ttft_ms, duration_ms, tokens_per_s,
       error_code, error_message, retryable, provider_metrics, to_timestamp(completed_at_ms / 1000.0)
FROM stage_responses
ON CONFLICT (request_id) DO NOTHING
)sql";

const std::string_view insert_chunks_sql = R"sql(
INSERT INTO response_chunks (request_id, attempt, seq, worker_id, received_at, text)
SELECT request_id, attempt, seq, worker_id, to_timestamp(received_at_ms / 1000.0), text
FROM stage_chunks
ON CONFLICT (request_id, attempt, seq) DO NOTHING
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
