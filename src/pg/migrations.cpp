#include "pg/migrations.hpp"

#include "pg/connection.hpp"
#include "pg/logger.hpp"

#include <set>
#include <string>

namespace llmp::pg {
namespace {

// Keys and indexed text columns use the "C" collation: btree inserts then compare bytes
// (memcmp) instead of calling strcoll, which matters at tens of thousands of rows/s.
// Timestamps come from the events (request received, generation ended), never from insert
// time; `ingested_at` records the latter separately, which also shows the audit lag.
constexpr std::string_view v1_sql = R"sql(
CREATE TABLE requests (
    request_id   text COLLATE "C" PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    server_id    text NOT NULL,
    api_flavour  text NOT NULL,
    route        text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('chat', 'generate')),
    model        text COLLATE "C" NOT NULL,
    stream       boolean NOT NULL,
    priority     integer NOT NULL DEFAULT 0,
    messages     jsonb,
    prompt       text,
    options      jsonb NOT NULL DEFAULT '{}',
    extra        jsonb NOT NULL DEFAULT '{}',
    client_addr  text,
    user_agent   text,
    deadline_at  timestamptz,
    ingested_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX requests_received_at_idx ON requests (received_at);
CREATE INDEX requests_model_received_at_idx ON requests (model, received_at);

CREATE TABLE responses (
    request_id         text COLLATE "C" PRIMARY KEY,
    status             text COLLATE "C" NOT NULL CHECK (status IN ('ok', 'error', 'cancelled')),
    server_id          text,
    worker_id          text COLLATE "C",
    provider           text,
    model              text COLLATE "C",
    done_reason        text,
    text               text NOT NULL DEFAULT '',
    prompt_tokens      bigint NOT NULL DEFAULT 0,
    completion_tokens  bigint NOT NULL DEFAULT 0,
    ttft_ms            double precision,
    duration_ms        double precision,
    tokens_per_s       double precision,
    error_code         text,
    error_message      text,
    retryable          boolean,
    provider_metrics   jsonb,
    completed_at       timestamptz NOT NULL,
    ingested_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX responses_completed_at_idx ON responses (completed_at);
CREATE INDEX responses_model_completed_at_idx ON responses (model, completed_at);
CREATE INDEX responses_worker_completed_at_idx ON responses (worker_id, completed_at);
CREATE INDEX responses_status_completed_at_idx ON responses (status, completed_at);

CREATE TABLE response_chunks (
    request_id   text COLLATE "C" NOT NULL,
    attempt      integer NOT NULL,
    seq          bigint NOT NULL,
    worker_id    text,
    received_at  timestamptz NOT NULL,
    text         text NOT NULL,
    PRIMARY KEY (request_id, attempt, seq)
);
CREATE INDEX response_chunks_received_at_idx ON response_chunks (received_at);

CREATE TABLE workers (
    worker_id       text COLLATE "C" PRIMARY KEY,
    host            text NOT NULL DEFAULT '',
    provider        text NOT NULL DEFAULT '',
    models          text[] NOT NULL DEFAULT '{}',
    concurrency     integer NOT NULL DEFAULT 0,
    in_flight       integer NOT NULL DEFAULT 0,
    tokens_per_s    double precision NOT NULL DEFAULT 0,
    requests_total  bigint NOT NULL DEFAULT 0,
    tokens_total    bigint NOT NULL DEFAULT 0,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    left_at         timestamptz
);
CREATE INDEX workers_last_seen_idx ON workers (last_seen);
)sql";

// The monitor's reads (src/monitor): keyset paging of the history on (received_at, request_id),
// and substring search in prompts and messages with trigrams (pg_trgm ships with PostgreSQL's
// contrib and is a trusted extension: the database owner may create it). The indexed
// expression must stay identical to monitor/request_queries.cpp's search_text.
constexpr std::string_view v2_sql = R"sql(
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX requests_received_at_request_id_idx ON requests (received_at, request_id);
CREATE INDEX requests_search_trgm_idx ON requests
    USING gin ((coalesce(prompt, '') || ' ' || coalesce(messages::text, '')) gin_trgm_ops);
)sql";

// Ingest speed (issue 3): every index on `requests` is paid for on each of tens of thousands of
// inserts a second. The trigram GIN index cost a third of the ingest rate (bench/RESULTS.md);
// the monitor's text search now scans the history newest first within the filters and time
// window it is given (monitor/request_queries.cpp), bounded by a statement timeout. The plain
// received_at index is covered by the keyset index (received_at, request_id) of v2.
constexpr std::string_view v3_sql = R"sql(
DROP INDEX IF EXISTS requests_search_trgm_idx;
DROP INDEX IF EXISTS requests_received_at_idx;
)sql";

// Who decided a response's outcome. The worker reports what it generated; the API server
// reports what its client was told when it ended the stream itself (worker lost, deadline, client
// gone or too slow). The client's view decides status and error; the worker's report fills in the
// text, counts and timings: 'both' once both are merged (pg_writer's staged path).
constexpr std::string_view v4_sql = R"sql(
ALTER TABLE responses ADD COLUMN reported_by text COLLATE "C" NOT NULL DEFAULT 'worker'
    CHECK (reported_by IN ('worker', 'api', 'both'));
)sql";

// API keys (issue 14): only the SHA-256 of a key (keys/api_key.hpp) and its first 12 characters
// for display. Names stay unique after revoke so a log line or an audit row that names a key
// never means two keys. allowed_models holds glob patterns; empty = every model.
constexpr std::string_view v5_sql = R"sql(
CREATE TABLE api_keys (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL UNIQUE,
    owner           text,
    key_hash        text COLLATE "C" NOT NULL UNIQUE,
    key_prefix      text NOT NULL,
    allowed_models  text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    revoked_at      timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
)sql";

// Per-key limits (issue 14 item 3): NULL = unlimited. Counted fleet-wide by the API servers in
// Redis (api/limiter.hpp); only the limits live here, never the counts.
constexpr std::string_view v6_sql = R"sql(
ALTER TABLE api_keys
    ADD COLUMN rpm_limit        bigint CHECK (rpm_limit > 0),
    ADD COLUMN tpm_limit        bigint CHECK (tpm_limit > 0),
    ADD COLUMN max_streams      bigint CHECK (max_streams > 0),
    ADD COLUMN daily_tokens     bigint CHECK (daily_tokens > 0),
    ADD COLUMN monthly_tokens   bigint CHECK (monthly_tokens > 0),
    ADD COLUMN priority_ceiling smallint CHECK (priority_ceiling BETWEEN 0 AND 9);
)sql";

// Roles of API keys (issue 14, item 5): what a key may do — user: call the API; viewer: read
// the monitor's numbers, not its texts; admin: everything. Every existing key stays a user key.
constexpr std::string_view v7_sql = R"sql(
ALTER TABLE api_keys ADD COLUMN role text NOT NULL DEFAULT 'user'
    CHECK (role IN ('user', 'viewer', 'admin'));
)sql";

// Which API key each request came with (issue 14 item 7): its id and its name as they were when
// the request came in, never the key, hash or prefix; NULL with --auth none. Text like every id
// here (a malformed id must not make PostgreSQL refuse a batch), no foreign key (the audit never
// waits for, or loses rows over, the api_keys table). The indexes serve the monitor's per-key
// reads over time; partial, so an --auth none deployment pays nothing at ingest. IF NOT EXISTS:
// an operator's database rebuilt from an older version may have the columns already.
constexpr std::string_view v8_sql = R"sql(
ALTER TABLE requests ADD COLUMN IF NOT EXISTS key_id text COLLATE "C",
                     ADD COLUMN IF NOT EXISTS key_name text;
ALTER TABLE responses ADD COLUMN IF NOT EXISTS key_id text COLLATE "C",
                      ADD COLUMN IF NOT EXISTS key_name text;
CREATE INDEX IF NOT EXISTS requests_key_received_at_idx ON requests (key_id, received_at)
    WHERE key_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS responses_key_completed_at_idx ON responses (key_id, completed_at)
    WHERE key_id IS NOT NULL;
)sql";

// Tool calls (issue 17): the function calls a model answered with, as the final message carries
// them (common/tool_calls.hpp); NULL when there were none (every row before this version too).
constexpr std::string_view v20_sql = R"sql(
ALTER TABLE responses ADD COLUMN IF NOT EXISTS tool_calls jsonb;
)sql";

constexpr migration migrations[] = {
    {1, "requests, responses, response_chunks, workers", v1_sql},
    {2, "monitor: history keyset index, trigram search index", v2_sql},
    {3, "ingest: drop the trigram search index and the index the keyset index covers", v3_sql},
    {4, "responses.reported_by: the API server's verdict over the worker's outcome", v4_sql},
    {5, "api_keys: hashed API keys with allowed models, expiry and revocation", v5_sql},
    {6, "api_keys: per-key limits (requests and tokens per minute, streams, daily and monthly tokens, priority)",
     v6_sql},
    {7, "api_keys.role: user, viewer or admin (the monitor's access)", v7_sql},
    {8, "requests/responses.key_id, key_name: the API key each request came with", v8_sql},
    {20, "responses.tool_calls: the function calls a model answered with", v20_sql},
};

// Any constant shared by every migrator of this schema.
constexpr std::string_view lock_sql = "SELECT pg_advisory_xact_lock(7316270417)";

}  // namespace

std::span<const migration> all_migrations() {
    return migrations;
}

result<int> migrate(connection& conn) {
    if (auto r = conn.exec("BEGIN"); !r) {
        return r.error();
    }
    auto rollback = [&conn](error e) -> result<int> {
        (void)conn.exec("ROLLBACK");
        return e;
    };
    if (auto r = conn.exec(lock_sql); !r) {
        return rollback(r.error());
    }
    if (auto r = conn.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                           " version integer PRIMARY KEY, name text NOT NULL,"
                           " applied_at timestamptz NOT NULL DEFAULT now())");
        !r) {
        return rollback(r.error());
    }
    auto done = conn.query("SELECT version FROM schema_migrations");
    if (!done) {
        return rollback(done.error());
    }
    std::set<int> applied;
    for (const auto& row : done.value().rows) {
        applied.insert(std::stoi(row[0].value_or("0")));
    }
    int count = 0;
    for (const auto& m : all_migrations()) {
        if (applied.count(m.version) != 0) {
            continue;
        }
        if (auto r = conn.exec(m.sql); !r) {
            auto e = r.error();
            e.message = "migration " + std::to_string(m.version) + " failed: " + e.message;
            return rollback(std::move(e));
        }
        auto ins = conn.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                              {std::to_string(m.version), std::string{m.name}});
        if (!ins) {
            return rollback(ins.error());
        }
        logger()->info("msg=\"migration applied\" version={} name=\"{}\"", m.version, m.name);
        ++count;
    }
    if (auto r = conn.exec("COMMIT"); !r) {
        return r.error();
    }
    return count;
}

}  // namespace llmp::pg
