-- The tables the audit schema's triggers keep, filled in bulk from the stored requests and
-- responses, for bench/run_monitor_scale --load bulk (issue 19): the history is stored with the
-- triggers skipped (session_replication_role = replica), then each table is derived here by one
-- set-based statement. Each is the backfill the migration that added the table runs when it
-- converts a database holding rows already (src/pg/migrations.cpp); the rollup statements are the
-- functions the migrations left in the database, so they cannot drift from them. The tables must
-- hold what the triggers (migration 33's llmp_requests_stored, llmp_responses_stored) would have
-- written: bench/run_monitor_scale --verify-bulk loads a small history both ways and compares
-- every one. Run by psql on the emptied derived tables, after the load; each statement is preceded
-- by "\echo phase: <table>" so the script can time it (\timing).
--
-- work_mem: the groupings below sort or hash up to 2 x N rows; more memory than the server's 4 MB
-- default spills less, and changes no result.
SET work_mem = '256MB';
\timing on

-- Migration 10: llmp_request_rollup_sql over every stored request (the trigger adds each
-- statement's rows with ON CONFLICT ... n = n + EXCLUDED.n: the same sums).
\echo phase: request_rollups
DO $d$ BEGIN EXECUTE llmp_request_rollup_sql('SELECT * FROM requests'); END $d$;

-- Migration 10, its llmp_rollup_sql as migration 29 redefined it (the request looked up in its
-- own partition), over every stored response.
\echo phase: response_rollups
DO $d$ BEGIN EXECUTE llmp_rollup_sql('SELECT 1 AS sign, * FROM responses'); END $d$;

-- Migration 27: response_series summed from the rollups (its own trigger's sums, regrouped).
\echo phase: response_series
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

-- Migration 33: the error list's rollups, from every non-ok response.
\echo phase: error_rollups
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

-- Migration 27: the requests without a response. The triggers add every request whose response
-- is not stored yet and remove it when its response comes (the load stores a chunk's requests
-- before its responses): what remains is exactly this.
\echo phase: pending_requests
INSERT INTO pending_requests (request_id, received_at)
SELECT q.request_id, q.received_at FROM requests q
WHERE NOT EXISTS (SELECT 1 FROM responses r WHERE r.request_id = q.request_id);

-- Migration 28: every stored request queued for the text index (the trigger queues each one);
-- bench/run_monitor_scale then moves the queue into request_search as after a trigger load.
\echo phase: search_backlog
INSERT INTO search_backlog (request_id, received_at)
SELECT q.request_id, q.received_at FROM requests q
WHERE NOT EXISTS (SELECT 1 FROM request_search s WHERE s.request_id = q.request_id)
ON CONFLICT (request_id) DO NOTHING;
