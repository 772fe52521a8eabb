-- Where the audit database's bytes go, for bench/run_monitor_scale (issue 19 item 4): per table
-- (the day partitions of requests and responses summed into their parent), its heap (with the
-- free-space and visibility maps), its TOAST (table and index), and each index (a partitioned
-- index summed over its partitions' indexes; the partitions' own request_id indexes summed under
-- one name), in bytes per stored request; parts under 1 MB left out. Run by psql on the loaded
-- database.
WITH tables AS (
    SELECT c.oid, coalesce(p.relname, c.relname) AS family, c.reltoastrelid
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
    LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
    LEFT JOIN pg_class p ON p.oid = i.inhparent
    WHERE c.relkind = 'r'
),
parts AS (
    SELECT t.family, 'heap' AS part,
           pg_table_size(t.oid) - CASE WHEN t.reltoastrelid = 0 THEN 0 ELSE pg_total_relation_size(t.reltoastrelid) END
               AS bytes
    FROM tables t
    UNION ALL
    SELECT t.family, 'TOAST', pg_total_relation_size(t.reltoastrelid) FROM tables t WHERE t.reltoastrelid <> 0
    UNION ALL
    SELECT t.family, 'index ' || coalesce(pi.relname, regexp_replace(ic.relname, '_(p[0-9]{8}|default|legacy)_', '_<day>_')),
           pg_relation_size(ic.oid)
    FROM tables t
    JOIN pg_index x ON x.indrelid = t.oid
    JOIN pg_class ic ON ic.oid = x.indexrelid
    LEFT JOIN pg_inherits ii ON ii.inhrelid = ic.oid
    LEFT JOIN pg_class pi ON pi.oid = ii.inhparent
),
n AS (SELECT greatest(count(*), 1) AS n FROM requests)
SELECT p.family AS "table", p.part AS "part", round(sum(p.bytes) / 1048576.0, 1) AS "MB",
       round(sum(p.bytes)::numeric / n.n, 1) AS "bytes/request"
FROM parts p CROSS JOIN n
GROUP BY p.family, p.part, n.n
HAVING sum(p.bytes) >= 1048576
UNION ALL
SELECT '(database)', '', round(pg_database_size(current_database()) / 1048576.0, 1),
       round(pg_database_size(current_database())::numeric / n.n, 1)
FROM n
ORDER BY 3 DESC;
