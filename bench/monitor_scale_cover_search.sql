-- The text search's closed days (pg migration 36) for bench/run_monitor_scale --cover-search, as
-- the audit's maintenance covers them (audit/search_coverage.cpp; no audit service runs in the
-- bench): a trigram index on every requests day partition that ended over an hour ago (CREATE
-- INDEX CONCURRENTLY, one statement each through \gexec, timed), search_coverage set over them
-- (they are adjacent: bench/monitor_scale_partitions.sql makes one per day), their rows deleted
-- from request_search and search_backlog. request_search is then rewritten to what it holds
-- (VACUUM FULL), as the pages those rows freed are reused by the next days' rows in a running
-- database. Run by psql on the loaded database.
\timing on
SELECT llmp_search_index_sql(p.name, true)
FROM (SELECT c.relname::text AS name, (regexp_match(b, 'TO \(''([^'']*)''\)'))[1]::timestamptz AS hi
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid, pg_get_expr(c.relpartbound, c.oid) AS b
      WHERE i.inhparent = 'requests'::regclass AND b <> 'DEFAULT') p
WHERE p.hi <= now() - interval '1 hour'
ORDER BY p.hi \gexec
UPDATE search_coverage SET covered_from = r.lo, covered_until = r.hi, updated_at = now()
FROM (SELECT min((regexp_match(b, 'FROM \(''([^'']*)''\)'))[1]::timestamptz) AS lo,
             max((regexp_match(b, 'TO \(''([^'']*)''\)'))[1]::timestamptz) AS hi
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid, pg_get_expr(c.relpartbound, c.oid) AS b
      WHERE i.inhparent = 'requests'::regclass AND b <> 'DEFAULT'
        AND to_regclass(c.relname || '_search_trgm_idx') IS NOT NULL) r;
SELECT covered_from, covered_until FROM search_coverage;
DELETE FROM request_search s USING search_coverage c WHERE s.received_at >= c.covered_from AND s.received_at < c.covered_until;
DELETE FROM search_backlog s USING search_coverage c WHERE s.received_at >= c.covered_from AND s.received_at < c.covered_until;
VACUUM (FULL, ANALYZE) request_search;
ANALYZE requests;
\timing off
