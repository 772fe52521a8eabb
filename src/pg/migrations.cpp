#include "pg/migrations.hpp"

#include "pg/connection.hpp"
#include "pg/logger.hpp"

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>

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

// Model aliases (issue 15 item 3): a request sent under an alias (`gpt-4o-mini` for
// `llama3.2:3b`) keeps the served model in requests.model, which routing, responses and every
// per-model read use, and the name the client sent here; NULL when it sent the model's own name.
constexpr std::string_view v9_sql = R"sql(
ALTER TABLE requests ADD COLUMN IF NOT EXISTS model_alias text;
)sql";

// Rollups of the responses (issue 19): what the dashboard's wide windows read instead of
// millions of rows. One row per grain ('minute', 'hour') × time × model × worker × status ×
// route × key: counts, token sums, the tokens/s mean's parts, and latency histograms of the
// successful responses (TTFT and duration). The histograms are sparse bigint arrays: each entry
// is count * 256 + bucket, bucket k covering (2^((k-1)/8), 2^(k/8)] ms (k = 0: up to 1 ms; the
// last, 255, everything from 2^(254/8) ms ≈ 3.7 days up). Eight buckets per octave: a percentile
// read as its bucket's geometric middle is within 2^(1/16) - 1 ≈ 4.4 % of the exact value.
//
// Maintained inside the transaction that writes the responses, by statement-level triggers over
// transition tables: COPY, the staged INSERT ... ON CONFLICT and the merge of a worker's report
// with the API's verdict (an UPDATE: the old row is subtracted, the new one added) all keep the
// rollups equal to the table, whichever path the audit writer takes. The route, and the model
// of a response that names none, come from the request stored by then ('' if it is not: the
// audit writer copies a batch's requests before its responses). The rows already stored are
// rolled up here (from scratch: IF NOT EXISTS and OR REPLACE, since a database rebuilt from an
// older version may hold these objects already). On a large database that takes a while, inside
// the migration's transaction (bench/RESULTS.md, issue 19: the time it took on 1 M rows).
constexpr std::string_view v10_sql = R"sql(
CREATE TABLE IF NOT EXISTS response_rollups (
    grain              text COLLATE "C" NOT NULL CHECK (grain IN ('minute', 'hour')),
    t                  timestamptz NOT NULL,
    model              text COLLATE "C" NOT NULL,
    worker_id          text COLLATE "C" NOT NULL,
    status             text COLLATE "C" NOT NULL,
    route              text COLLATE "C" NOT NULL,
    key_id             text COLLATE "C" NOT NULL,
    key_name           text,
    n                  bigint NOT NULL,
    prompt_tokens      bigint NOT NULL,
    completion_tokens  bigint NOT NULL,
    tps_sum            double precision NOT NULL,
    tps_n              bigint NOT NULL,
    ttft_hist          bigint[] NOT NULL DEFAULT '{}',
    duration_hist      bigint[] NOT NULL DEFAULT '{}',
    last_at            timestamptz NOT NULL,
    PRIMARY KEY (grain, t, model, worker_id, status, route, key_id)
);

CREATE OR REPLACE FUNCTION llmp_latency_bucket(ms double precision) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN ms IS NULL OR ms = 'NaN' THEN NULL WHEN ms <= 1 THEN 0
                ELSE least(255, ceil(8 * ln(ms) / ln(2.0::float8)))::integer END;

-- Entries (count * 256 + bucket) of two histograms added; zero counts dropped.
CREATE OR REPLACE FUNCTION llmp_hist_merge(a bigint[], b bigint[]) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN coalesce((SELECT array_agg(c * 256 + k ORDER BY k)
                     FROM (SELECT ((e % 256) + 256) % 256 AS k, sum((e - ((e % 256) + 256) % 256) / 256) AS c
                           FROM unnest(a || b) AS e GROUP BY 1) AS s
                     WHERE c <> 0), '{}');

-- The statement that adds the rollup rows of `source` (responses with a sign column in front:
-- +1 stored, -1 replaced by an update). Text, because a trigger's transition tables are visible
-- only to statements the trigger function runs itself.
CREATE OR REPLACE FUNCTION llmp_rollup_sql(source text) RETURNS text LANGUAGE sql IMMUTABLE
RETURN format($q$
WITH d AS (%s),
e AS (SELECT d.sign, g.grain, date_trunc(g.grain, d.completed_at) AS t,
             coalesce(nullif(d.model, ''), q.model, '') AS model, coalesce(d.worker_id, '') AS worker_id,
             d.status, coalesce(q.route, '') AS route, coalesce(d.key_id, '') AS key_id, d.key_name,
             d.prompt_tokens, d.completion_tokens, d.completed_at,
             CASE WHEN d.status = 'ok' AND d.tokens_per_s > 0 THEN d.tokens_per_s END AS tps,
             CASE WHEN d.status = 'ok' THEN llmp_latency_bucket(d.ttft_ms) END AS tb,
             CASE WHEN d.status = 'ok' THEN llmp_latency_bucket(d.duration_ms) END AS db
      FROM d LEFT JOIN requests q ON q.request_id = d.request_id
      CROSS JOIN (VALUES ('minute'), ('hour')) AS g(grain)),
th AS (SELECT grain, t, model, worker_id, status, route, key_id, array_agg(c * 256 + tb ORDER BY tb) AS h
       FROM (SELECT grain, t, model, worker_id, status, route, key_id, tb, sum(sign) AS c FROM e
             WHERE tb IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) x
       WHERE c <> 0 GROUP BY 1, 2, 3, 4, 5, 6, 7),
dh AS (SELECT grain, t, model, worker_id, status, route, key_id, array_agg(c * 256 + db ORDER BY db) AS h
       FROM (SELECT grain, t, model, worker_id, status, route, key_id, db, sum(sign) AS c FROM e
             WHERE db IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) x
       WHERE c <> 0 GROUP BY 1, 2, 3, 4, 5, 6, 7),
a AS (SELECT grain, t, model, worker_id, status, route, key_id, max(key_name) AS key_name, sum(sign) AS n,
             sum(sign * prompt_tokens) AS pt, sum(sign * completion_tokens) AS ct,
             coalesce(sum(sign * tps), 0) AS tps_sum, coalesce(sum(sign) FILTER (WHERE tps IS NOT NULL), 0) AS tps_n,
             max(completed_at) AS last_at
      FROM e GROUP BY 1, 2, 3, 4, 5, 6, 7)
INSERT INTO response_rollups AS u (grain, t, model, worker_id, status, route, key_id, key_name, n, prompt_tokens,
                                   completion_tokens, tps_sum, tps_n, ttft_hist, duration_hist, last_at)
SELECT a.grain, a.t, a.model, a.worker_id, a.status, a.route, a.key_id, a.key_name, a.n, a.pt, a.ct, a.tps_sum,
       a.tps_n, coalesce(th.h, '{}'), coalesce(dh.h, '{}'), a.last_at
FROM a LEFT JOIN th USING (grain, t, model, worker_id, status, route, key_id)
       LEFT JOIN dh USING (grain, t, model, worker_id, status, route, key_id)
ON CONFLICT (grain, t, model, worker_id, status, route, key_id) DO UPDATE SET
    key_name = coalesce(EXCLUDED.key_name, u.key_name), n = u.n + EXCLUDED.n,
    prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,
    completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens,
    tps_sum = u.tps_sum + EXCLUDED.tps_sum, tps_n = u.tps_n + EXCLUDED.tps_n,
    ttft_hist = llmp_hist_merge(u.ttft_hist, EXCLUDED.ttft_hist),
    duration_hist = llmp_hist_merge(u.duration_hist, EXCLUDED.duration_hist),
    last_at = greatest(u.last_at, EXCLUDED.last_at)
$q$, source);

CREATE OR REPLACE FUNCTION llmp_rollup_responses() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE llmp_rollup_sql('SELECT 1 AS sign, * FROM llmp_new_rows');
    ELSE
        EXECUTE llmp_rollup_sql('SELECT 1 AS sign, * FROM llmp_new_rows UNION ALL SELECT -1, * FROM llmp_old_rows');
    END IF;
    RETURN NULL;
END $f$;

DROP TRIGGER IF EXISTS responses_rollup_insert ON responses;
DROP TRIGGER IF EXISTS responses_rollup_update ON responses;
CREATE TRIGGER responses_rollup_insert AFTER INSERT ON responses
    REFERENCING NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_rollup_responses();
CREATE TRIGGER responses_rollup_update AFTER UPDATE ON responses
    REFERENCING OLD TABLE AS llmp_old_rows NEW TABLE AS llmp_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION llmp_rollup_responses();

TRUNCATE response_rollups;
DO $d$ BEGIN EXECUTE llmp_rollup_sql('SELECT 1 AS sign, * FROM responses'); END $d$;

-- Requests received per grain × time × key (the usage tables' "received"); requests are never
-- updated, so an insert trigger keeps it.
CREATE TABLE IF NOT EXISTS request_rollups (
    grain     text COLLATE "C" NOT NULL CHECK (grain IN ('minute', 'hour')),
    t         timestamptz NOT NULL,
    key_id    text COLLATE "C" NOT NULL,
    key_name  text,
    n         bigint NOT NULL,
    PRIMARY KEY (grain, t, key_id)
);

CREATE OR REPLACE FUNCTION llmp_request_rollup_sql(source text) RETURNS text LANGUAGE sql IMMUTABLE
RETURN format($q$
INSERT INTO request_rollups AS u (grain, t, key_id, key_name, n)
SELECT g.grain, date_trunc(g.grain, d.received_at), coalesce(d.key_id, ''), max(d.key_name), count(*)
FROM (%s) d CROSS JOIN (VALUES ('minute'), ('hour')) AS g(grain)
GROUP BY 1, 2, 3
ON CONFLICT (grain, t, key_id) DO UPDATE SET n = u.n + EXCLUDED.n, key_name = coalesce(EXCLUDED.key_name, u.key_name)
$q$, source);

CREATE OR REPLACE FUNCTION llmp_rollup_requests() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE llmp_request_rollup_sql('SELECT * FROM llmp_new_rows');
    RETURN NULL;
END $f$;

DROP TRIGGER IF EXISTS requests_rollup_insert ON requests;
CREATE TRIGGER requests_rollup_insert AFTER INSERT ON requests
    REFERENCING NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_rollup_requests();

TRUNCATE request_rollups;
DO $d$ BEGIN EXECUTE llmp_request_rollup_sql('SELECT * FROM requests'); END $d$;
)sql";

// Tool calls (issue 17): the function calls a model answered with, as the final message carries
// them (common/tool_calls.hpp); NULL when there were none (every row before this version too).
constexpr std::string_view v20_sql = R"sql(
ALTER TABLE responses ADD COLUMN IF NOT EXISTS tool_calls jsonb;
)sql";

// Several choices (issue 17, OpenAI's n > 1): the choices after the first as the final message
// carries them ([{index, done_reason, text, tool_calls?, logprobs?}]; choice 0 stays in text,
// done_reason and tool_calls); NULL for every single-choice answer.
constexpr std::string_view v32_sql = R"sql(
ALTER TABLE responses ADD COLUMN IF NOT EXISTS choices jsonb;
)sql";

// One statement trigger per table and event (issue 19): `requests` AFTER INSERT fired three
// (rollup, pending, search queue) and `responses` AFTER INSERT three (rollup, series, pending)
// and AFTER UPDATE two, each reading the whole transition table (responses carry their text)
// and each planned on its own. Now each event fires one trigger whose one statement reads the
// transition table once, into a narrow MATERIALIZED CTE, and feeds every target table from it
// by data-modifying CTEs; on responses the request is looked up once per row (not once per
// grain), and response_series is summed from the rollup's groups instead of regrouping the rows.
// Same rows in every table as migrations 10, 27, 28 and 29 wrote (the old functions stay,
// unused). Transition tables cannot serve a trigger of two events, hence two on responses.
//
// error_rollups (per grain × time × route × status × error code of the non-ok responses: count
// and latest completed_at): the dashboard's error list over a wide window read every non-ok
// response of it joined with its request (0.9 s at 24 h, 3.9 s at 7 d on 2 M rows,
// bench/RESULTS.md). Kept by the same trigger with the rollups' sign (+1 stored, -1 replaced by
// an update); last_at only grows: a response counted there and later merged into another
// status or code leaves its time behind (monitor/error_queries.cpp). NULL codes are one group
// (NULLS NOT DISTINCT, PostgreSQL 15). Filled here from the stored responses.
constexpr std::string_view v33_sql = R"sql(
CREATE TABLE IF NOT EXISTS error_rollups (
    grain       text COLLATE "C" NOT NULL CHECK (grain IN ('minute', 'hour')),
    t           timestamptz NOT NULL,
    route       text NOT NULL,
    status      text COLLATE "C" NOT NULL,
    error_code  text,
    n           bigint NOT NULL,
    last_at     timestamptz NOT NULL,
    CONSTRAINT error_rollups_key UNIQUE NULLS NOT DISTINCT (grain, t, route, status, error_code)
);

CREATE OR REPLACE FUNCTION llmp_requests_stored() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE $q$
WITH n AS MATERIALIZED (SELECT request_id, received_at, key_id, key_name FROM llmp_new_rows),
rollups AS (
    INSERT INTO request_rollups AS u (grain, t, key_id, key_name, n)
    SELECT g.grain, date_trunc(g.grain, n.received_at), coalesce(n.key_id, ''), max(n.key_name), count(*)
    FROM n CROSS JOIN (VALUES ('minute'), ('hour')) AS g(grain)
    GROUP BY 1, 2, 3
    ON CONFLICT (grain, t, key_id) DO UPDATE SET n = u.n + EXCLUDED.n,
        key_name = coalesce(EXCLUDED.key_name, u.key_name)),
pending AS (
    INSERT INTO pending_requests (request_id, received_at)
    SELECT n.request_id, n.received_at FROM n
    WHERE NOT EXISTS (SELECT 1 FROM responses r WHERE r.request_id = n.request_id
                      AND r.request_received_at IN (n.received_at, '-infinity'))
    ON CONFLICT (request_id) DO NOTHING),
search AS (
    INSERT INTO search_backlog (request_id, received_at) SELECT n.request_id, n.received_at FROM n
    ON CONFLICT (request_id) DO NOTHING)
SELECT 1
$q$;
    RETURN NULL;
END $f$;

-- The statement of the responses' trigger over `source` (responses with a sign column in
-- front), `more` a further CTE (the pending rows' removal, on INSERT).
CREATE OR REPLACE FUNCTION llmp_responses_stored_sql(source text, more text) RETURNS text LANGUAGE sql IMMUTABLE
RETURN format($q$
WITH d AS MATERIALIZED (
    SELECT s.sign, s.request_id, coalesce(nullif(s.model, ''), q.model, '') AS model,
           coalesce(s.worker_id, '') AS worker_id, s.status, coalesce(q.route, '') AS route, s.error_code,
           coalesce(s.key_id, '') AS key_id, s.key_name, s.prompt_tokens, s.completion_tokens, s.completed_at,
           CASE WHEN s.status = 'ok' AND s.tokens_per_s > 0 THEN s.tokens_per_s END AS tps,
           CASE WHEN s.status = 'ok' THEN llmp_latency_bucket(s.ttft_ms) END AS tb,
           CASE WHEN s.status = 'ok' THEN llmp_latency_bucket(s.duration_ms) END AS db
    FROM (%s) s LEFT JOIN LATERAL (
        SELECT q.model, q.route FROM requests q
        WHERE q.received_at = s.request_received_at AND q.request_id = s.request_id
        UNION ALL
        SELECT q.model, q.route FROM requests q
        WHERE s.request_received_at = '-infinity' AND q.request_id = s.request_id
        LIMIT 1) q ON true),
e AS (SELECT d.*, g.grain, date_trunc(g.grain, d.completed_at) AS t
      FROM d CROSS JOIN (VALUES ('minute'), ('hour')) AS g(grain)),
tc AS (SELECT grain, t, model, worker_id, status, route, key_id, tb, sum(sign) AS c FROM e
       WHERE tb IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7, 8),
dc AS (SELECT grain, t, model, worker_id, status, route, key_id, db, sum(sign) AS c FROM e
       WHERE db IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7, 8),
th AS (SELECT grain, t, model, worker_id, status, route, key_id, array_agg(c * 256 + tb ORDER BY tb) AS h
       FROM tc WHERE c <> 0 GROUP BY 1, 2, 3, 4, 5, 6, 7),
dh AS (SELECT grain, t, model, worker_id, status, route, key_id, array_agg(c * 256 + db ORDER BY db) AS h
       FROM dc WHERE c <> 0 GROUP BY 1, 2, 3, 4, 5, 6, 7),
a AS (SELECT grain, t, model, worker_id, status, route, key_id, max(key_name) AS key_name, sum(sign) AS n,
             sum(sign * prompt_tokens) AS pt, sum(sign * completion_tokens) AS ct,
             coalesce(sum(sign * tps), 0) AS tps_sum, coalesce(sum(sign) FILTER (WHERE tps IS NOT NULL), 0) AS tps_n,
             max(completed_at) AS last_at
      FROM e GROUP BY 1, 2, 3, 4, 5, 6, 7),
rollups AS (
    INSERT INTO response_rollups AS u (grain, t, model, worker_id, status, route, key_id, key_name, n, prompt_tokens,
                                       completion_tokens, tps_sum, tps_n, ttft_hist, duration_hist, last_at)
    SELECT a.grain, a.t, a.model, a.worker_id, a.status, a.route, a.key_id, a.key_name, a.n, a.pt, a.ct, a.tps_sum,
           a.tps_n, coalesce(th.h, '{}'), coalesce(dh.h, '{}'), a.last_at
    FROM a LEFT JOIN th USING (grain, t, model, worker_id, status, route, key_id)
           LEFT JOIN dh USING (grain, t, model, worker_id, status, route, key_id)
    ON CONFLICT (grain, t, model, worker_id, status, route, key_id) DO UPDATE SET
        key_name = coalesce(EXCLUDED.key_name, u.key_name), n = u.n + EXCLUDED.n,
        prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,
        completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens,
        tps_sum = u.tps_sum + EXCLUDED.tps_sum, tps_n = u.tps_n + EXCLUDED.tps_n,
        ttft_hist = llmp_hist_merge(u.ttft_hist, EXCLUDED.ttft_hist),
        duration_hist = llmp_hist_merge(u.duration_hist, EXCLUDED.duration_hist),
        last_at = greatest(u.last_at, EXCLUDED.last_at)),
sth AS (SELECT grain, t, status, array_agg(c * 256 + tb ORDER BY tb) AS h
        FROM (SELECT grain, t, status, tb, sum(c) AS c FROM tc GROUP BY 1, 2, 3, 4) x
        WHERE c <> 0 GROUP BY 1, 2, 3),
sdh AS (SELECT grain, t, status, array_agg(c * 256 + db ORDER BY db) AS h
        FROM (SELECT grain, t, status, db, sum(c) AS c FROM dc GROUP BY 1, 2, 3, 4) x
        WHERE c <> 0 GROUP BY 1, 2, 3),
sa AS (SELECT grain, t, status, sum(n) AS n, sum(pt) AS pt, sum(ct) AS ct, sum(tps_sum) AS tps_sum,
              sum(tps_n) AS tps_n, max(last_at) AS last_at
       FROM a GROUP BY 1, 2, 3),
series AS (
    INSERT INTO response_series AS u (grain, t, status, n, prompt_tokens, completion_tokens, tps_sum, tps_n,
                                      ttft_hist, duration_hist, last_at)
    SELECT sa.grain, sa.t, sa.status, sa.n, sa.pt, sa.ct, sa.tps_sum, sa.tps_n, coalesce(sth.h, '{}'),
           coalesce(sdh.h, '{}'), sa.last_at
    FROM sa LEFT JOIN sth USING (grain, t, status) LEFT JOIN sdh USING (grain, t, status)
    ON CONFLICT (grain, t, status) DO UPDATE SET
        n = u.n + EXCLUDED.n, prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,
        completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens,
        tps_sum = u.tps_sum + EXCLUDED.tps_sum, tps_n = u.tps_n + EXCLUDED.tps_n,
        ttft_hist = llmp_hist_merge(u.ttft_hist, EXCLUDED.ttft_hist),
        duration_hist = llmp_hist_merge(u.duration_hist, EXCLUDED.duration_hist),
        last_at = greatest(u.last_at, EXCLUDED.last_at)),
errors AS (
    INSERT INTO error_rollups AS u (grain, t, route, status, error_code, n, last_at)
    SELECT grain, t, route, status, error_code, sum(sign), max(completed_at) FROM e
    WHERE status <> 'ok' GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (grain, t, route, status, error_code) DO UPDATE SET n = u.n + EXCLUDED.n,
        last_at = greatest(u.last_at, EXCLUDED.last_at))%s
SELECT 1
$q$, source, more);

CREATE OR REPLACE FUNCTION llmp_responses_stored() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE llmp_responses_stored_sql('SELECT 1 AS sign, * FROM llmp_new_rows', $c$,
pending AS (DELETE FROM pending_requests p USING d WHERE p.request_id = d.request_id)$c$);
    ELSE
        EXECUTE llmp_responses_stored_sql(
            'SELECT 1 AS sign, * FROM llmp_new_rows UNION ALL SELECT -1, * FROM llmp_old_rows', '');
    END IF;
    RETURN NULL;
END $f$;

DROP TRIGGER IF EXISTS requests_rollup_insert ON requests;
DROP TRIGGER IF EXISTS requests_pending_insert ON requests;
DROP TRIGGER IF EXISTS requests_search_enqueue ON requests;
DROP TRIGGER IF EXISTS responses_rollup_insert ON responses;
DROP TRIGGER IF EXISTS responses_rollup_update ON responses;
DROP TRIGGER IF EXISTS responses_series_insert ON responses;
DROP TRIGGER IF EXISTS responses_series_update ON responses;
DROP TRIGGER IF EXISTS responses_pending_insert ON responses;
DROP TRIGGER IF EXISTS requests_stored_insert ON requests;
DROP TRIGGER IF EXISTS responses_stored_insert ON responses;
DROP TRIGGER IF EXISTS responses_stored_update ON responses;
CREATE TRIGGER requests_stored_insert AFTER INSERT ON requests
    REFERENCING NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_requests_stored();
CREATE TRIGGER responses_stored_insert AFTER INSERT ON responses
    REFERENCING NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_responses_stored();
CREATE TRIGGER responses_stored_update AFTER UPDATE ON responses
    REFERENCING OLD TABLE AS llmp_old_rows NEW TABLE AS llmp_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION llmp_responses_stored();

TRUNCATE error_rollups;
INSERT INTO error_rollups (grain, t, route, status, error_code, n, last_at)
SELECT g.grain, date_trunc(g.grain, r.completed_at), coalesce(q.route, ''), r.status, r.error_code, count(*),
       max(r.completed_at)
FROM responses r LEFT JOIN LATERAL (
    SELECT q.route FROM requests q WHERE q.received_at = r.request_received_at AND q.request_id = r.request_id
    UNION ALL
    SELECT q.route FROM requests q WHERE r.request_received_at = '-infinity' AND q.request_id = r.request_id
    LIMIT 1) q ON true
CROSS JOIN (VALUES ('minute'), ('hour')) AS g(grain)
WHERE r.status <> 'ok'
GROUP BY 1, 2, 3, 4, 5;
)sql";

// A statement that changes api_keys (create, update, revoke: only an admin's commands do) tells
// every listening key refresher (keys/key_ring.hpp) at its commit, so a revoked key stops
// working in a round trip, not at the next periodic reload. The channel name is
// keys::changed_channel.
constexpr std::string_view v35_sql = R"sql(
CREATE OR REPLACE FUNCTION llmp_api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM pg_notify('llmp_api_keys', '');
    RETURN NULL;
END $f$;
DROP TRIGGER IF EXISTS api_keys_changed ON api_keys;
CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION llmp_api_keys_changed();
)sql";

// The text search without a second copy of closed days (issue 19): request_search held each
// request's text again (640-800 of the ~3,100 bytes a request costs). Once a day's partition of
// `requests` is closed, the audit (audit/search_coverage.hpp) builds a trigram index on that
// partition itself over llmp_search_doc(prompt, messages) — the one definition of the searched
// text, which the indexer, the monitor's query and the partitions' indexes all call (an SQL
// function the planner inlines, so a query's expression and an index's match) — then records
// the partition in search_coverage and deletes the day's rows from request_search.
// search_coverage is one row, [covered_from, covered_until): always the union of adjacent range
// partitions of `requests` that carry that index (empty when from = until), never a day
// without a partition, so a query bounded by it (the monitor passes the range as values, read
// in the query's snapshot) is pruned to those partitions and never reaches the DEFAULT one.
// Retention moves covered_from up as it drops partitions (audit/partitions.cpp, in the DETACH's
// transaction). A request is searched through its partition's index when its received_at is in
// the range, else through request_search or the queue, as before.
constexpr std::string_view v36_sql = R"sql(
CREATE OR REPLACE FUNCTION llmp_search_doc(prompt text, messages jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN coalesce(prompt, '') || ' ' || coalesce(messages::text, '');
CREATE TABLE IF NOT EXISTS search_coverage (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    covered_from   timestamptz NOT NULL,
    covered_until  timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (covered_from <= covered_until)
);
INSERT INTO search_coverage (covered_from, covered_until) VALUES ('-infinity', '-infinity') ON CONFLICT DO NOTHING;
)sql";

// The closed day's search index of migration 36, spelled once: the statement that builds it on
// a partition of `requests` (CONCURRENTLY or not), which the audit's coverage
// (audit/search_coverage.cpp) and the bench's loader run. The index's name is the partition's
// with _search_trgm_idx; its expression is llmp_search_doc's, which the monitor's query calls.
constexpr std::string_view v37_sql = R"sql(
CREATE OR REPLACE FUNCTION llmp_search_index_sql(part text, online boolean) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN format('CREATE INDEX %sIF NOT EXISTS %I ON %I USING gin (llmp_search_doc(prompt, messages) gin_trgm_ops)',
                  CASE WHEN online THEN 'CONCURRENTLY ' ELSE '' END, part || '_search_trgm_idx', part);
)sql";

// Ingest beside the rollups (issue 19, item 5: bench/RESULTS.md, "the requests' trigger, row by
// row"). Migration 33's requests trigger cost as much inside COPY as everything else the
// triggers do: per request, an anti-join probing the responses and two inserts with ON CONFLICT
// (a speculative insertion each) into tables with a unique key. Neither table needs that key:
//  - search_backlog is a queue of keys. A new request is inserted once (requests' own key turns
//    a redelivery away before the trigger sees it); the indexer takes rows by received_at and
//    deletes them by ctid, and its insert into request_search tolerates a repeat (ON CONFLICT).
//  - pending_requests: a response deletes its request's rows by request_id (a plain index). A
//    request is added whether or not its response is stored: a response stored first (its
//    request later, in another batch) leaves a row the monitor's NOT EXISTS already hides on
//    every page and the retention pass removes (audit/retention.cpp, answered_pending_sql). The
//    writer COPYs a batch's requests before its responses, so a pair in one batch leaves none.
constexpr std::string_view v38_sql = R"sql(
ALTER TABLE search_backlog DROP CONSTRAINT IF EXISTS search_backlog_pkey;
ALTER TABLE pending_requests DROP CONSTRAINT IF EXISTS pending_requests_pkey;
CREATE INDEX IF NOT EXISTS pending_requests_request_id_idx ON pending_requests (request_id);

CREATE OR REPLACE FUNCTION llmp_requests_stored() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE $q$
WITH n AS MATERIALIZED (SELECT request_id, received_at, key_id, key_name FROM llmp_new_rows),
rollups AS (
    INSERT INTO request_rollups AS u (grain, t, key_id, key_name, n)
    SELECT g.grain, date_trunc(g.grain, n.received_at), coalesce(n.key_id, ''), max(n.key_name), count(*)
    FROM n CROSS JOIN (VALUES ('minute'), ('hour')) AS g(grain)
    GROUP BY 1, 2, 3
    ON CONFLICT (grain, t, key_id) DO UPDATE SET n = u.n + EXCLUDED.n,
        key_name = coalesce(EXCLUDED.key_name, u.key_name)),
pending AS (INSERT INTO pending_requests (request_id, received_at) SELECT n.request_id, n.received_at FROM n),
search AS (INSERT INTO search_backlog (request_id, received_at) SELECT n.request_id, n.received_at FROM n)
SELECT 1
$q$;
    RETURN NULL;
END $f$;
)sql";

// A response removes its request's pending row by probing pending_requests' request_id index
// once per response (issue 19, item 5). As a join (`USING d`) the planner, which knows nothing
// of the trigger's batch, hashed the batch and read the whole table: a queue table that churns
// one row per request and bloats between autovacuum's visits (1,042 pages for 254 live rows
// after a minute of ingest), so that scan was 21 ms of the 38 ms statement per 1,700
// responses. `= ANY(array)` is an index scan whatever the table's size (bench/RESULTS.md, "the
// pending delete by index").
constexpr std::string_view v39_sql = R"sql(
CREATE OR REPLACE FUNCTION llmp_responses_stored() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE llmp_responses_stored_sql('SELECT 1 AS sign, * FROM llmp_new_rows', $c$,
pending AS (DELETE FROM pending_requests p WHERE p.request_id = ANY (ARRAY(SELECT d.request_id FROM d)))$c$);
    ELSE
        EXECUTE llmp_responses_stored_sql(
            'SELECT 1 AS sign, * FROM llmp_new_rows UNION ALL SELECT -1, * FROM llmp_old_rows', '');
    END IF;
    RETURN NULL;
END $f$;
)sql";

// The Responses API (issue 18): DELETE /v1/responses/{id} hides a stored response from the API
// and keeps the audit's rows (they are the record of what was asked and answered).
constexpr std::string_view v21_sql = R"sql(
CREATE TABLE IF NOT EXISTS deleted_responses (
    request_id  text COLLATE "C" PRIMARY KEY,
    deleted_at  timestamptz NOT NULL DEFAULT now()
);
)sql";

// Retention (issue 19): what the audit service's retention keeps (audit/retention.hpp) and when
// it last ran, one row written by the audit service, read by the monitor for the dashboard.
// 0 days = forever; no row = an audit service older than retention, which kept everything.
constexpr std::string_view v22_sql = R"sql(
CREATE TABLE IF NOT EXISTS audit_retention (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    request_days  integer NOT NULL CHECK (request_days >= 0),
    rollup_days   integer NOT NULL CHECK (rollup_days >= 0),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    last_run_at   timestamptz,
    last_deleted  bigint NOT NULL DEFAULT 0
);
)sql";

// Embeddings (issue 17): requests of kind 'embed' (their input texts in `messages`, as a JSON
// array of strings; the vectors are not stored). The CHECK of version 1 is replaced by name
// (PostgreSQL named it requests_kind_check).
constexpr std::string_view v24_sql = R"sql(
ALTER TABLE requests DROP CONSTRAINT IF EXISTS requests_kind_check;
ALTER TABLE requests ADD CONSTRAINT requests_kind_check CHECK (kind IN ('chat', 'generate', 'embed'));
)sql";

// The monitor at scale (issue 19), two small tables kept by triggers as rows are stored, so
// the dashboard's reads stay small however long the history:
//
// pending_requests: the requests stored without a response. `status=pending` used to probe the
// responses once per request of its horizon (58,000 probes at 8 requests/s over 2 h); it now
// reads this table, which holds the requests in flight and the few whose response never came.
// A request is added unless its response is stored already (responses may arrive first); a
// response removes its request. Two writers storing a request and its response concurrently
// can leave a row behind (neither sees the other's uncommitted row): the monitor still checks
// the responses for the rows it lists, and the audit's retention pass removes such rows and
// the rows past the history's retention.
//
// response_series: response_rollups without their dimensions (grain × time × status), for the
// timeseries. Its 10-minute buckets of a 24 h window were built from ~62,000 minute rows of
// the rollups, and unnesting their histograms took most of 1.3-1.7 s (bench/RESULTS.md); here
// a day is 1,440 minutes × 3 statuses at most. Kept by triggers of its own (beside, not inside,
// the rollups' trigger, which the ingest's work may replace) from the same rows (+1 stored, -1
// replaced by an update), and filled here from the rollups (whose minute rows past the rollup
// retention are gone: so are the series').
constexpr std::string_view v27_sql = R"sql(
CREATE TABLE IF NOT EXISTS pending_requests (
    request_id   text COLLATE "C" PRIMARY KEY,
    received_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_requests_received_at_idx ON pending_requests (received_at, request_id);

CREATE OR REPLACE FUNCTION llmp_pending_add() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO pending_requests (request_id, received_at)
    SELECT n.request_id, n.received_at FROM llmp_new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM responses r WHERE r.request_id = n.request_id)
    ON CONFLICT (request_id) DO NOTHING;
    RETURN NULL;
END $f$;

CREATE OR REPLACE FUNCTION llmp_pending_remove() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    DELETE FROM pending_requests p USING llmp_new_rows n WHERE p.request_id = n.request_id;
    RETURN NULL;
END $f$;

DROP TRIGGER IF EXISTS requests_pending_insert ON requests;
DROP TRIGGER IF EXISTS responses_pending_insert ON responses;
CREATE TRIGGER requests_pending_insert AFTER INSERT ON requests
    REFERENCING NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_pending_add();
CREATE TRIGGER responses_pending_insert AFTER INSERT ON responses
    REFERENCING NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_pending_remove();

TRUNCATE pending_requests;
INSERT INTO pending_requests (request_id, received_at)
SELECT q.request_id, q.received_at FROM requests q
WHERE NOT EXISTS (SELECT 1 FROM responses r WHERE r.request_id = q.request_id);

CREATE TABLE IF NOT EXISTS response_series (
    grain              text COLLATE "C" NOT NULL CHECK (grain IN ('minute', 'hour')),
    t                  timestamptz NOT NULL,
    status             text COLLATE "C" NOT NULL,
    n                  bigint NOT NULL,
    prompt_tokens      bigint NOT NULL,
    completion_tokens  bigint NOT NULL,
    tps_sum            double precision NOT NULL,
    tps_n              bigint NOT NULL,
    ttft_hist          bigint[] NOT NULL DEFAULT '{}',
    duration_hist      bigint[] NOT NULL DEFAULT '{}',
    last_at            timestamptz NOT NULL,
    PRIMARY KEY (grain, t, status)
);

-- As llmp_rollup_sql (migration 10), grouped by grain × time × status only.
CREATE OR REPLACE FUNCTION llmp_series_sql(source text) RETURNS text LANGUAGE sql IMMUTABLE
RETURN format($q$
WITH d AS (%s),
e AS (SELECT d.sign, g.grain, date_trunc(g.grain, d.completed_at) AS t, d.status, d.prompt_tokens,
             d.completion_tokens, d.completed_at,
             CASE WHEN d.status = 'ok' AND d.tokens_per_s > 0 THEN d.tokens_per_s END AS tps,
             CASE WHEN d.status = 'ok' THEN llmp_latency_bucket(d.ttft_ms) END AS tb,
             CASE WHEN d.status = 'ok' THEN llmp_latency_bucket(d.duration_ms) END AS db
      FROM d CROSS JOIN (VALUES ('minute'), ('hour')) AS g(grain)),
th AS (SELECT grain, t, status, array_agg(c * 256 + tb ORDER BY tb) AS h
       FROM (SELECT grain, t, status, tb, sum(sign) AS c FROM e WHERE tb IS NOT NULL GROUP BY 1, 2, 3, 4) x
       WHERE c <> 0 GROUP BY 1, 2, 3),
dh AS (SELECT grain, t, status, array_agg(c * 256 + db ORDER BY db) AS h
       FROM (SELECT grain, t, status, db, sum(sign) AS c FROM e WHERE db IS NOT NULL GROUP BY 1, 2, 3, 4) x
       WHERE c <> 0 GROUP BY 1, 2, 3),
a AS (SELECT grain, t, status, sum(sign) AS n, sum(sign * prompt_tokens) AS pt, sum(sign * completion_tokens) AS ct,
             coalesce(sum(sign * tps), 0) AS tps_sum, coalesce(sum(sign) FILTER (WHERE tps IS NOT NULL), 0) AS tps_n,
             max(completed_at) AS last_at
      FROM e GROUP BY 1, 2, 3)
INSERT INTO response_series AS u (grain, t, status, n, prompt_tokens, completion_tokens, tps_sum, tps_n, ttft_hist,
                                  duration_hist, last_at)
SELECT a.grain, a.t, a.status, a.n, a.pt, a.ct, a.tps_sum, a.tps_n, coalesce(th.h, '{}'), coalesce(dh.h, '{}'),
       a.last_at
FROM a LEFT JOIN th USING (grain, t, status) LEFT JOIN dh USING (grain, t, status)
ON CONFLICT (grain, t, status) DO UPDATE SET
    n = u.n + EXCLUDED.n, prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,
    completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens,
    tps_sum = u.tps_sum + EXCLUDED.tps_sum, tps_n = u.tps_n + EXCLUDED.tps_n,
    ttft_hist = llmp_hist_merge(u.ttft_hist, EXCLUDED.ttft_hist),
    duration_hist = llmp_hist_merge(u.duration_hist, EXCLUDED.duration_hist),
    last_at = greatest(u.last_at, EXCLUDED.last_at)
$q$, source);

CREATE OR REPLACE FUNCTION llmp_series_responses() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE llmp_series_sql('SELECT 1 AS sign, * FROM llmp_new_rows');
    ELSE
        EXECUTE llmp_series_sql('SELECT 1 AS sign, * FROM llmp_new_rows UNION ALL SELECT -1, * FROM llmp_old_rows');
    END IF;
    RETURN NULL;
END $f$;

DROP TRIGGER IF EXISTS responses_series_insert ON responses;
DROP TRIGGER IF EXISTS responses_series_update ON responses;
CREATE TRIGGER responses_series_insert AFTER INSERT ON responses
    REFERENCING NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_series_responses();
CREATE TRIGGER responses_series_update AFTER UPDATE ON responses
    REFERENCING OLD TABLE AS llmp_old_rows NEW TABLE AS llmp_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION llmp_series_responses();

TRUNCATE response_series;
WITH h AS (SELECT grain, t, status, m, ((e % 256) + 256) % 256 AS k, sum((e - ((e % 256) + 256) % 256) / 256) AS c
           FROM (SELECT grain, t, status, 0 AS m, unnest(ttft_hist) AS e FROM response_rollups
                 UNION ALL SELECT grain, t, status, 1, unnest(duration_hist) FROM response_rollups) x
           GROUP BY 1, 2, 3, 4, 5),
hs AS (SELECT grain, t, status, array_agg(c * 256 + k ORDER BY k) FILTER (WHERE m = 0) AS th,
              array_agg(c * 256 + k ORDER BY k) FILTER (WHERE m = 1) AS dh
       FROM h WHERE c <> 0 GROUP BY 1, 2, 3)
INSERT INTO response_series (grain, t, status, n, prompt_tokens, completion_tokens, tps_sum, tps_n, ttft_hist,
                             duration_hist, last_at)
SELECT a.grain, a.t, a.status, a.n, a.pt, a.ct, a.tps_sum, a.tps_n, coalesce(hs.th, '{}'), coalesce(hs.dh, '{}'),
       a.last_at
FROM (SELECT grain, t, status, sum(n) AS n, sum(prompt_tokens) AS pt, sum(completion_tokens) AS ct,
             sum(tps_sum) AS tps_sum, sum(tps_n) AS tps_n, max(last_at) AS last_at
      FROM response_rollups GROUP BY 1, 2, 3) a
LEFT JOIN hs USING (grain, t, status);
)sql";

// Text search off the ingest path (issue 19): the monitor's `q=` scanned the window's requests,
// converting each one's messages to text (1.6 s for a day of ~140,000 requests). A trigram index
// on `requests` cost a third of the ingest rate (migration 3), so the ingest now only queues the
// request's key (search_backlog, a row of two short columns per request, kept by a trigger), and
// the audit's maintenance thread (audit/search_index.cpp) moves the queued requests' text into
// request_search, whose trigram index serves `ILIKE` — newest first, in batches, off the
// writer's transactions. The monitor searches request_search and scans only what is still
// queued. `doc` must stay identical to monitor/request_queries.cpp's search_text. Every stored
// request is queued here; the thread works through them newest first, so the last day is
// searchable by index soon after the upgrade. Its rows go with their requests' retention.
constexpr std::string_view v28_sql = R"sql(
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE IF NOT EXISTS search_backlog (
    request_id   text COLLATE "C" PRIMARY KEY,
    received_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS search_backlog_received_at_idx ON search_backlog (received_at);
CREATE TABLE IF NOT EXISTS request_search (
    request_id   text COLLATE "C" PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    doc          text NOT NULL
);
CREATE INDEX IF NOT EXISTS request_search_received_at_idx ON request_search (received_at);
CREATE INDEX IF NOT EXISTS request_search_doc_trgm_idx ON request_search USING gin (doc gin_trgm_ops);

CREATE OR REPLACE FUNCTION llmp_search_enqueue() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO search_backlog (request_id, received_at) SELECT n.request_id, n.received_at FROM llmp_new_rows n
    ON CONFLICT (request_id) DO NOTHING;
    RETURN NULL;
END $f$;

DROP TRIGGER IF EXISTS requests_search_enqueue ON requests;
CREATE TRIGGER requests_search_enqueue AFTER INSERT ON requests
    REFERENCING NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_search_enqueue();

INSERT INTO search_backlog (request_id, received_at)
SELECT q.request_id, q.received_at FROM requests q
WHERE NOT EXISTS (SELECT 1 FROM request_search s WHERE s.request_id = q.request_id)
ON CONFLICT (request_id) DO NOTHING;
)sql";

// Delivery confirmations (issue 16): a worker's report of a request says how far the worker got,
// not what the client saw when the API server relaying it died. API servers confirm, in one
// message per interval, the worker outcomes they handed to their clients; the audit keeps them
// here and relabels the unconfirmed reports of a server that went silent (audit/api_loss.hpp).
// One api_servers row per confirming server; one api_deliveries row per non-empty confirmation
// (its ids in one array: a row per batch, not per request), kept a day.
constexpr std::string_view v31_sql = R"sql(
CREATE TABLE IF NOT EXISTS api_servers (
    server_id   text COLLATE "C" PRIMARY KEY,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    left_at     timestamptz,
    lost_at     timestamptz
);
CREATE TABLE IF NOT EXISTS api_deliveries (
    server_id   text COLLATE "C" NOT NULL,
    sent_at     timestamptz NOT NULL,
    request_ids text[] NOT NULL
);
CREATE INDEX IF NOT EXISTS api_deliveries_server_sent_at_idx ON api_deliveries (server_id, sent_at);
CREATE INDEX IF NOT EXISTS api_deliveries_sent_at_idx ON api_deliveries (sent_at);
)sql";

// Daily partitions (issue 19 item 3): `requests` partitioned by received_at (the API server's
// receipt time, in the request message: a redelivery lands in the same partition), `responses`
// by the *request's* received_at (request_received_at, carried in the worker's final and error
// messages and in the API's verdict), so a worker's report and a verdict of one request meet in
// one partition and the merge keeps one response per request. The keys include the partition
// column, as PostgreSQL requires: (received_at, request_id) and (request_received_at,
// request_id); the writer's ON CONFLICT names them (audit/copy_format.cpp). A response whose
// message lacks the time (a process older than this version) gets -infinity.
//
// The existing tables are converted without a rewrite: each is renamed `<table>_legacy` and
// attached as the range partition FROM (MINVALUE) TO (a bound two days after the conversion
// day); a new empty DEFAULT partition catches stragglers; the retention thread
// (audit/partitions.cpp) creates one partition per day from the bound on, 3 days ahead, and
// drops whole expired days, the legacy partition included once its bound has expired (before
// that its old rows go by the batched DELETE, as do the DEFAULT's). The slow steps run before
// this transaction, online (v29_online): the unique index of the new key (CREATE INDEX
// CONCURRENTLY) and the CHECK of the legacy bound (NOT VALID, then VALIDATE: SHARE UPDATE
// EXCLUSIVE, writes go on), so ATTACH neither builds an index nor scans the table. Should they
// not have run (a failure, a race with another migrator), this transaction does both itself.
// Each partition has its own non-unique request_id index (the legacy its primary key) for the
// detail page: one probe per partition.
//
// The statement triggers with transition tables (migrations 10, 27, 28) move to the
// partitioned parents: PostgreSQL 15 allows them there (row-level triggers with transition
// tables are refused on partitions), and COPY, INSERT ... ON CONFLICT and UPDATE through the
// parent fire them with every partition's rows. Their probes of the other table name its
// partition column, so they read one partition, not all of them.
constexpr std::string_view v29_sql = R"sql(
CREATE OR REPLACE FUNCTION pg_temp.llmp_partition_legacy(tbl text, col text) RETURNS void LANGUAGE plpgsql AS $f$
DECLARE
    legacy text := tbl || '_legacy';
    bound_name text := tbl || '_legacy_bound';
    key_name text := tbl || '_legacy_key';
    def text;
    bound timestamptz;
BEGIN
    EXECUTE format('ALTER TABLE %I RENAME TO %I', tbl, legacy);
    SELECT pg_get_constraintdef(oid) INTO def FROM pg_constraint
    WHERE conrelid = legacy::regclass AND conname = bound_name AND convalidated;
    IF def IS NULL THEN  -- the online step did not run: check here (a scan of the table)
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT IF EXISTS %I', legacy, bound_name);
        bound := date_trunc('day', now(), 'UTC') + interval '2 days';
        EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (%I < %L::timestamptz)', legacy, bound_name, col, bound);
    ELSE
        bound := substring(def from '''([^'']*)''')::timestamptz;
    END IF;
    IF (SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(key_name)) IS NOT TRUE THEN
        EXECUTE format('DROP INDEX IF EXISTS %I', key_name);
        EXECUTE format('CREATE UNIQUE INDEX %I ON %I (%I, request_id)', key_name, legacy, col);
    END IF;
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I UNIQUE USING INDEX %I', legacy, key_name, key_name);
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (%I)',
                   tbl, legacy, col);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', tbl, bound_name);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I UNIQUE (%I, request_id)', tbl, tbl || '_key', col);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)', tbl, legacy, bound);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', tbl || '_default', tbl);
    EXECUTE format('CREATE INDEX %I ON %I (request_id)', tbl || '_default_request_id_idx', tbl || '_default');
END $f$;

DO $d$ BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'requests'::regclass) = 'r' THEN
        DROP TRIGGER IF EXISTS requests_rollup_insert ON requests;
        DROP TRIGGER IF EXISTS requests_pending_insert ON requests;
        DROP TRIGGER IF EXISTS requests_search_enqueue ON requests;
        DROP INDEX IF EXISTS requests_received_at_request_id_idx;  -- migration 2's, the new key covers it
        PERFORM pg_temp.llmp_partition_legacy('requests', 'received_at');
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = 'responses'::regclass) = 'r' THEN
        DROP TRIGGER IF EXISTS responses_rollup_insert ON responses;
        DROP TRIGGER IF EXISTS responses_rollup_update ON responses;
        DROP TRIGGER IF EXISTS responses_series_insert ON responses;
        DROP TRIGGER IF EXISTS responses_series_update ON responses;
        DROP TRIGGER IF EXISTS responses_pending_insert ON responses;
        ALTER TABLE responses ADD COLUMN IF NOT EXISTS request_received_at timestamptz NOT NULL DEFAULT '-infinity';
        PERFORM pg_temp.llmp_partition_legacy('responses', 'request_received_at');
    END IF;
END $d$;

-- The indexes of migrations 1 and 8 on the parents: the legacy partitions' own are attached
-- (same definitions), the day partitions get theirs when they are attached.
CREATE INDEX IF NOT EXISTS requests_p_model_received_at_idx ON requests (model, received_at);
CREATE INDEX IF NOT EXISTS requests_p_key_received_at_idx ON requests (key_id, received_at) WHERE key_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS responses_p_completed_at_idx ON responses (completed_at);
CREATE INDEX IF NOT EXISTS responses_p_model_completed_at_idx ON responses (model, completed_at);
CREATE INDEX IF NOT EXISTS responses_p_worker_completed_at_idx ON responses (worker_id, completed_at);
CREATE INDEX IF NOT EXISTS responses_p_status_completed_at_idx ON responses (status, completed_at);
CREATE INDEX IF NOT EXISTS responses_p_key_completed_at_idx ON responses (key_id, completed_at)
    WHERE key_id IS NOT NULL;

-- Migration 10's statement, the request read from its own partition (or looked up by id in
-- every partition when the response's message did not carry the request's time).
CREATE OR REPLACE FUNCTION llmp_rollup_sql(source text) RETURNS text LANGUAGE sql IMMUTABLE
RETURN format($q$
WITH d AS (%s),
e AS (SELECT d.sign, g.grain, date_trunc(g.grain, d.completed_at) AS t,
             coalesce(nullif(d.model, ''), q.model, '') AS model, coalesce(d.worker_id, '') AS worker_id,
             d.status, coalesce(q.route, '') AS route, coalesce(d.key_id, '') AS key_id, d.key_name,
             d.prompt_tokens, d.completion_tokens, d.completed_at,
             CASE WHEN d.status = 'ok' AND d.tokens_per_s > 0 THEN d.tokens_per_s END AS tps,
             CASE WHEN d.status = 'ok' THEN llmp_latency_bucket(d.ttft_ms) END AS tb,
             CASE WHEN d.status = 'ok' THEN llmp_latency_bucket(d.duration_ms) END AS db
      FROM d LEFT JOIN LATERAL (
          SELECT q.model, q.route FROM requests q
          WHERE q.received_at = d.request_received_at AND q.request_id = d.request_id
          UNION ALL
          SELECT q.model, q.route FROM requests q
          WHERE d.request_received_at = '-infinity' AND q.request_id = d.request_id
          LIMIT 1) q ON true
      CROSS JOIN (VALUES ('minute'), ('hour')) AS g(grain)),
th AS (SELECT grain, t, model, worker_id, status, route, key_id, array_agg(c * 256 + tb ORDER BY tb) AS h
       FROM (SELECT grain, t, model, worker_id, status, route, key_id, tb, sum(sign) AS c FROM e
             WHERE tb IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) x
       WHERE c <> 0 GROUP BY 1, 2, 3, 4, 5, 6, 7),
dh AS (SELECT grain, t, model, worker_id, status, route, key_id, array_agg(c * 256 + db ORDER BY db) AS h
       FROM (SELECT grain, t, model, worker_id, status, route, key_id, db, sum(sign) AS c FROM e
             WHERE db IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) x
       WHERE c <> 0 GROUP BY 1, 2, 3, 4, 5, 6, 7),
a AS (SELECT grain, t, model, worker_id, status, route, key_id, max(key_name) AS key_name, sum(sign) AS n,
             sum(sign * prompt_tokens) AS pt, sum(sign * completion_tokens) AS ct,
             coalesce(sum(sign * tps), 0) AS tps_sum, coalesce(sum(sign) FILTER (WHERE tps IS NOT NULL), 0) AS tps_n,
             max(completed_at) AS last_at
      FROM e GROUP BY 1, 2, 3, 4, 5, 6, 7)
INSERT INTO response_rollups AS u (grain, t, model, worker_id, status, route, key_id, key_name, n, prompt_tokens,
                                   completion_tokens, tps_sum, tps_n, ttft_hist, duration_hist, last_at)
SELECT a.grain, a.t, a.model, a.worker_id, a.status, a.route, a.key_id, a.key_name, a.n, a.pt, a.ct, a.tps_sum,
       a.tps_n, coalesce(th.h, '{}'), coalesce(dh.h, '{}'), a.last_at
FROM a LEFT JOIN th USING (grain, t, model, worker_id, status, route, key_id)
       LEFT JOIN dh USING (grain, t, model, worker_id, status, route, key_id)
ON CONFLICT (grain, t, model, worker_id, status, route, key_id) DO UPDATE SET
    key_name = coalesce(EXCLUDED.key_name, u.key_name), n = u.n + EXCLUDED.n,
    prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,
    completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens,
    tps_sum = u.tps_sum + EXCLUDED.tps_sum, tps_n = u.tps_n + EXCLUDED.tps_n,
    ttft_hist = llmp_hist_merge(u.ttft_hist, EXCLUDED.ttft_hist),
    duration_hist = llmp_hist_merge(u.duration_hist, EXCLUDED.duration_hist),
    last_at = greatest(u.last_at, EXCLUDED.last_at)
$q$, source);

-- Migration 27's, likewise.
CREATE OR REPLACE FUNCTION llmp_pending_add() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO pending_requests (request_id, received_at)
    SELECT n.request_id, n.received_at FROM llmp_new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM responses r WHERE r.request_id = n.request_id
                      AND r.request_received_at IN (n.received_at, '-infinity'))
    ON CONFLICT (request_id) DO NOTHING;
    RETURN NULL;
END $f$;

DROP TRIGGER IF EXISTS requests_rollup_insert ON requests;
DROP TRIGGER IF EXISTS requests_pending_insert ON requests;
DROP TRIGGER IF EXISTS requests_search_enqueue ON requests;
DROP TRIGGER IF EXISTS responses_rollup_insert ON responses;
DROP TRIGGER IF EXISTS responses_rollup_update ON responses;
DROP TRIGGER IF EXISTS responses_series_insert ON responses;
DROP TRIGGER IF EXISTS responses_series_update ON responses;
DROP TRIGGER IF EXISTS responses_pending_insert ON responses;
CREATE TRIGGER requests_rollup_insert AFTER INSERT ON requests
    REFERENCING NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_rollup_requests();
CREATE TRIGGER requests_pending_insert AFTER INSERT ON requests
    REFERENCING NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_pending_add();
CREATE TRIGGER requests_search_enqueue AFTER INSERT ON requests
    REFERENCING NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_search_enqueue();
CREATE TRIGGER responses_rollup_insert AFTER INSERT ON responses
    REFERENCING NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_rollup_responses();
CREATE TRIGGER responses_rollup_update AFTER UPDATE ON responses
    REFERENCING OLD TABLE AS llmp_old_rows NEW TABLE AS llmp_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION llmp_rollup_responses();
CREATE TRIGGER responses_series_insert AFTER INSERT ON responses
    REFERENCING NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_series_responses();
CREATE TRIGGER responses_series_update AFTER UPDATE ON responses
    REFERENCING OLD TABLE AS llmp_old_rows NEW TABLE AS llmp_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION llmp_series_responses();
CREATE TRIGGER responses_pending_insert AFTER INSERT ON responses
    REFERENCING NEW TABLE AS llmp_new_rows FOR EACH STATEMENT EXECUTE FUNCTION llmp_pending_remove();
)sql";

// Migration 29's slow steps, run online before its transaction (each statement on its own, so
// CREATE INDEX CONCURRENTLY may run; each skipped once the table is partitioned). Best effort:
// what fails here, migration 29 does in its transaction.
constexpr std::string_view v29_online[] = {
    R"sql(DO $d$ BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('responses')) = 'r' THEN
        ALTER TABLE responses ADD COLUMN IF NOT EXISTS request_received_at timestamptz NOT NULL DEFAULT '-infinity';
    END IF;
END $d$)sql",
    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS requests_legacy_key ON requests (received_at, request_id)",
    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS responses_legacy_key ON responses (request_received_at, "
    "request_id)",
    R"sql(DO $d$
DECLARE
    bound timestamptz := date_trunc('day', now(), 'UTC') + interval '2 days';
BEGIN
    LOCK TABLE requests, responses IN SHARE UPDATE EXCLUSIVE MODE;
    IF (SELECT relkind FROM pg_class WHERE oid = 'requests'::regclass) = 'r' AND NOT EXISTS
           (SELECT 1 FROM pg_constraint WHERE conname = 'requests_legacy_bound') THEN
        EXECUTE format('ALTER TABLE requests ADD CONSTRAINT requests_legacy_bound'
                       ' CHECK (received_at < %L::timestamptz) NOT VALID', bound);
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = 'responses'::regclass) = 'r' AND NOT EXISTS
           (SELECT 1 FROM pg_constraint WHERE conname = 'responses_legacy_bound') THEN
        EXECUTE format('ALTER TABLE responses ADD CONSTRAINT responses_legacy_bound'
                       ' CHECK (request_received_at < %L::timestamptz) NOT VALID', bound);
    END IF;
END $d$)sql",
    R"sql(DO $d$ BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'requests'::regclass) = 'r' THEN
        ALTER TABLE requests VALIDATE CONSTRAINT requests_legacy_bound;
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = 'responses'::regclass) = 'r' THEN
        ALTER TABLE responses VALIDATE CONSTRAINT responses_legacy_bound;
    END IF;
END $d$)sql",
};

// Smaller rows (issue 19 item 4; bench/RESULTS.md has the bytes per request, table by table).
// 1. lz4 instead of pglz for the columns that hold a request's or an answer's text: a faster
//    method, as small or smaller (1,427 against 1,569 bytes on 2.7 KB texts). PostgreSQL
//    compresses a value only when its row exceeds ~2 KB (TOAST_TUPLE_THRESHOLD, fixed at build
//    time; toast_tuple_target below it does not start compression), so this applies to long
//    chats and answers, and only to values stored from now on. SET COMPRESSION does not recurse to
//    partitions: each existing one is set here, and audit/partitions.cpp creates the next days'
//    with the parent's setting (LIKE ... INCLUDING COMPRESSION). A server built without lz4
//    keeps pglz.
// 2. Two indexes of responses no statement reads since the rollups (checked against every
//    query of src/monitor, src/audit and src/api, and by EXPLAIN on bench/run_monitor_scale's
//    data): (model, completed_at) and (key_id, completed_at), 60-80 bytes per request each. The
//    exact windows scan (completed_at) and group in memory; the request list's model filter
//    walks the requests newest first (its OR over both tables' models cannot use an index of
//    one), its key filter has the requests' own (key_id, received_at); the key budgets read the
//    month by (completed_at). (worker_id, completed_at) and (status, completed_at) stay: the
//    list's worker and status filters start from them when the value is rare (a worker gone
//    for days: 0.6 ms, where walking the requests took 5 s at 1 M rows). Dropped on the
//    parent, so on every partition (the legacy partition's were attached to it).
constexpr std::string_view v34_sql = R"sql(
DO $d$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT t.relid::regclass AS rel, v.col
             FROM (VALUES ('requests', 'messages'), ('requests', 'prompt'), ('requests', 'extra'),
                          ('responses', 'text'), ('responses', 'provider_metrics'), ('responses', 'tool_calls'),
                          ('responses', 'choices'), ('request_search', 'doc')) AS v(tbl, col)
             -- pg_partition_tree lists a partitioned table and its partitions, nothing for a
             -- plain table (request_search): that one by name.
             CROSS JOIN LATERAL (SELECT v.tbl::regclass AS relid
                                 UNION SELECT p.relid FROM pg_partition_tree(v.tbl::regclass) AS p) AS t LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET COMPRESSION lz4', c.rel, c.col);
    END LOOP;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not supported by this server: the columns keep pglz';
END $d$;

DROP INDEX IF EXISTS responses_p_model_completed_at_idx;
DROP INDEX IF EXISTS responses_p_key_completed_at_idx;
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
    {9, "requests.model_alias: the alias a request was sent under (requests.model is the served model)", v9_sql},
    {10, "response_rollups, request_rollups: per minute and hour, kept by triggers as rows are stored", v10_sql},
    {20, "responses.tool_calls: the function calls a model answered with", v20_sql},
    {21, "deleted_responses: responses deleted through DELETE /v1/responses/{id}", v21_sql},
    {22, "audit_retention: the days of history and rollups the audit service keeps", v22_sql},
    {24, "requests.kind 'embed': embedding requests (input texts in messages)", v24_sql},
    {27, "pending_requests, response_series: unanswered requests and per-minute totals, kept by triggers", v27_sql},
    {28, "search_backlog, request_search: a trigram text index filled off the ingest path", v28_sql},
    {29, "requests, responses partitioned by day (the request's received_at)", v29_sql, v29_online},
    {31, "api_servers, api_deliveries: API servers' delivery confirmations, for answers cut by a lost server", v31_sql},
    {32, "responses.choices: the choices after the first of an answer with several (n > 1)", v32_sql},
    {33, "one statement trigger per table and event; error_rollups: the error list per minute and hour", v33_sql},
    {34, "smaller rows: lz4 for the text columns, two unread indexes of responses dropped", v34_sql},
    {35, "api_keys: a change notifies the key refreshers (LISTEN llmp_api_keys)", v35_sql},
    {36, "search_coverage, llmp_search_doc: closed days searched through their partition's own trigram index", v36_sql},
    {37, "llmp_search_index_sql: the closed days' search index, spelled once", v37_sql},
    {38, "search_backlog, pending_requests without unique keys: plain inserts on the ingest path", v38_sql},
    {39, "a response's pending row removed through the request_id index, not a scan of the queue table", v39_sql},
};

// Any constant shared by every migrator of this schema.
constexpr std::string_view lock_sql = "SELECT pg_advisory_xact_lock(7316270417)";
constexpr std::string_view try_session_lock_sql = "SELECT pg_try_advisory_lock(7316270417)";
constexpr std::string_view session_unlock_sql = "SELECT pg_advisory_unlock(7316270417)";

}  // namespace

std::span<const migration> all_migrations() {
    return migrations;
}

namespace {

/// One transaction: applies the pending migrations in order, stopping before the first one
/// whose online steps have not run yet (`next_online`: its index, else -1).
result<int> migrate_until_online(connection& conn, const std::set<int>& online_done, int& next_online) {
    next_online = -1;
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
    const auto all = all_migrations();
    for (std::size_t i = 0; i < all.size(); ++i) {
        const auto& m = all[i];
        if (applied.count(m.version) != 0) {
            continue;
        }
        if (!m.online.empty() && online_done.count(m.version) == 0) {
            next_online = static_cast<int>(i);
            break;
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

/// migrate() once the schema lock is held.
result<int> migrate_holding_lock(connection& conn) {
    std::set<int> online_done;
    int count = 0;
    for (;;) {
        int next_online = -1;
        auto n = migrate_until_online(conn, online_done, next_online);
        if (!n) {
            return n.error();
        }
        count += n.value();
        if (next_online < 0) {
            return count;
        }
        const auto& m = all_migrations()[static_cast<std::size_t>(next_online)];
        for (auto sql : m.online) {
            if (auto r = conn.exec(sql); !r) {
                if (!conn.healthy()) {
                    return r.error();
                }
                logger()->warn(
                    "msg=\"online step of a migration failed; its transaction does the work\" "
                    "version={} error=\"{}\"",
                    m.version, r.error().message);
            }
        }
        online_done.insert(m.version);
    }
}

}  // namespace

result<int> migrate(connection& conn) {
    // The schema lock for the whole run, at session level, taken by polling outside any
    // transaction: a migrator waiting for it inside a transaction would hold a snapshot, which
    // the holder's CREATE INDEX CONCURRENTLY (an online step) waits for: a deadlock. Each
    // transaction takes the transaction-level lock too (held already: re-entrant), which is all
    // that binaries older than online steps take.
    for (auto pause = std::chrono::milliseconds{10};; pause = std::min(pause * 2, std::chrono::milliseconds{500})) {
        auto got = conn.query(std::string{try_session_lock_sql});
        if (!got) {
            return got.error();
        }
        if (got.value().rows.at(0).at(0).value_or("f") == "t") {
            break;
        }
        std::this_thread::sleep_for(pause);
    }
    auto n = migrate_holding_lock(conn);
    (void)conn.exec(session_unlock_sql);
    return n;
}

}  // namespace llmp::pg
