-- The tables the audit schema's triggers keep, filled in bulk from the stored requests and
-- responses, for bench/run_monitor_scale --load bulk (issue 19): the history is stored with the
-- triggers skipped (session_replication_role = replica), then each table is derived here by one
-- set-based statement: the backfill of the migration that added the table (what it runs when it
-- converts a database holding rows already, src/pg/migrations.cpp), or the trigger's own statement
-- over every row. The statements the database keeps as functions are called, not copied, so they
-- cannot drift from the migrations. The tables must hold what the triggers (migration 33's
-- llmp_requests_stored, llmp_responses_stored) would have written: bench/run_monitor_scale
-- --verify-bulk loads a small history both ways and compares every table.
--
-- Run by psql on the emptied derived tables after the load, with -v part=responses
-- (response_rollups, response_series, error_rollups) or -v part=requests (the others): two
-- sessions may run the two parts at once, they write different tables. Each statement is preceded
-- by "\echo phase: <tables>" so the script can time it (\timing).
--
-- work_mem: the groupings below hash or sort up to 2 x N rows; more memory than the server's 4 MB
-- default spills less, and changes no result.
SET work_mem = '256MB';
SELECT :'part' = 'responses' AS responses_part \gset
\timing on

\if :responses_part
-- Migration 33: the responses' trigger statement (llmp_responses_stored_sql) over every stored
-- response, as if one statement had stored them all: response_rollups, response_series and
-- error_rollups in one pass, the request looked up once per response. The migrations' backfills
-- give the same rows (migration 10's llmp_rollup_sql, 27's series summed from the rollups, 33's
-- error_rollups statement) but took 57 s where this takes 37 s at 1 M responses (bench/RESULTS.md).
-- One UTC day of responses (by completed_at) a statement: over all 20 M at once its grouping
-- spilled 28 GB of temporary files and failed on a full disk (bench/RESULTS.md); a day's spill
-- is freed when its statement ends. A minute or hour lies within one day, and the statement
-- upserts (ON CONFLICT ... n = n + EXCLUDED.n) anyway: the same rows.
\echo phase: response_rollups + response_series + error_rollups
DO $d$
DECLARE
    d timestamptz;
    last timestamptz;
BEGIN
    SELECT date_trunc('day', min(completed_at), 'UTC'), max(completed_at) INTO d, last FROM responses;
    WHILE d <= last LOOP
        EXECUTE llmp_responses_stored_sql(format(
            'SELECT 1 AS sign, * FROM responses WHERE completed_at >= %L AND completed_at < %L',
            d, d + interval '1 day'), '');
        d := d + interval '1 day';
    END LOOP;
END $d$;
\else

-- Migration 10: llmp_request_rollup_sql over every stored request (the trigger adds each
-- statement's rows with ON CONFLICT ... n = n + EXCLUDED.n: the same sums).
\echo phase: request_rollups
DO $d$ BEGIN EXECUTE llmp_request_rollup_sql('SELECT * FROM requests'); END $d$;

-- Migration 27: the requests without a response. The triggers add every request whose response
-- is not stored yet and remove it when its response comes (the load stores a chunk's requests
-- before its responses): what remains is exactly this.
\echo phase: pending_requests
INSERT INTO pending_requests (request_id, received_at)
SELECT q.request_id, q.received_at FROM requests q
WHERE NOT EXISTS (SELECT 1 FROM responses r WHERE r.request_id = q.request_id);

-- Migration 28: every stored request queued for the text index (the trigger queues each one;
-- since migration 38 the queue has no unique key, and a request is stored once here);
-- bench/run_monitor_scale then moves the queue into request_search as after a trigger load.
\echo phase: search_backlog
INSERT INTO search_backlog (request_id, received_at)
SELECT q.request_id, q.received_at FROM requests q
WHERE NOT EXISTS (SELECT 1 FROM request_search s WHERE s.request_id = q.request_id);
\endif
