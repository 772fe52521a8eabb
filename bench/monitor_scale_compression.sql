-- What compression does, and could do, to the audit rows of bench/run_monitor_scale's database
-- (issue 19 item 4). Run by psql on the loaded database (read-only: its scratch tables are TEMP).
--
-- 1. Whether toast_tuple_target changes what PostgreSQL stores: the newest complete day's
--    partitions of requests and responses copied into tables like them (lz4 columns included)
--    with no setting and with 128, 256 and 512; their heap and TOAST bytes per row, and how many
--    values came out compressed. PostgreSQL calls its toaster only for a row over
--    TOAST_TUPLE_THRESHOLD (~2 KB, fixed when it is built: heap_prepare_insert); the setting is
--    the size the toaster then aims for, so it changes nothing for shorter rows.
-- 2. What lz4 would save if it did run on these values: each text value of those days stored in
--    a row padded over the threshold (a 2,100-byte PLAIN column, which the toaster cannot
--    touch, so it compresses the value), its stored size (pg_column_size) against its raw one.
--    A value lz4 cannot shrink stays raw, as it would in the real table.

\set ON_ERROR_STOP 1
SELECT to_char(date_trunc('day', now(), 'UTC') - interval '1 day', 'YYYYMMDD') AS day \gset

DO $$
DECLARE
    t text;
    target int;
    tbl text;
BEGIN
    FOREACH t IN ARRAY ARRAY['requests', 'responses'] LOOP
        FOREACH target IN ARRAY ARRAY[0, 128, 256, 512] LOOP
            tbl := 'ttt_' || t || '_' || target;
            EXECUTE format('CREATE TEMP TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING COMPRESSION)%s', tbl, t,
                           CASE WHEN target = 0 THEN '' ELSE format(' WITH (toast_tuple_target = %s)', target) END);
        END LOOP;
    END LOOP;
END $$;
INSERT INTO ttt_requests_0 SELECT * FROM requests_p:day;
INSERT INTO ttt_requests_128 SELECT * FROM requests_p:day;
INSERT INTO ttt_requests_256 SELECT * FROM requests_p:day;
INSERT INTO ttt_requests_512 SELECT * FROM requests_p:day;
INSERT INTO ttt_responses_0 SELECT * FROM responses_p:day;
INSERT INTO ttt_responses_128 SELECT * FROM responses_p:day;
INSERT INTO ttt_responses_256 SELECT * FROM responses_p:day;
INSERT INTO ttt_responses_512 SELECT * FROM responses_p:day;

-- Bytes per row of a table's heap and TOAST, and how many of its `col` values are compressed.
CREATE FUNCTION pg_temp.stored(tbl regclass, col text)
RETURNS TABLE (rows bigint, heap_per_row numeric, toast_per_row numeric, compressed bigint) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT count(*), round(pg_relation_size(%1$L)::numeric / greatest(count(*), 1), 1),
                round(coalesce(pg_total_relation_size(nullif((SELECT reltoastrelid FROM pg_class WHERE oid = %1$L::regclass), 0)), 0)::numeric
                      / greatest(count(*), 1), 1),
                count(*) FILTER (WHERE pg_column_compression(%2$I) IS NOT NULL)
         FROM %1$s', tbl, col);
END $$;

\echo
\echo 1. The newest complete day of rows copied into tables with and without toast_tuple_target
SELECT t.tbl AS "table", coalesce(array_to_string(c.reloptions, ','), '(none)') AS "storage parameters",
       s.rows AS "rows", s.heap_per_row AS "heap bytes/row", s.toast_per_row AS "TOAST bytes/row",
       t.col AS "column", s.compressed AS "values compressed"
FROM (VALUES ('ttt_requests_0', 'messages'), ('ttt_requests_128', 'messages'), ('ttt_requests_256', 'messages'),
             ('ttt_requests_512', 'messages'), ('ttt_responses_0', 'text'), ('ttt_responses_128', 'text'),
             ('ttt_responses_256', 'text'), ('ttt_responses_512', 'text')) AS t(tbl, col)
JOIN pg_class c ON c.oid = to_regclass('pg_temp.' || t.tbl),
     LATERAL pg_temp.stored(c.oid, t.col) AS s;

-- 2. Each value in a row the toaster must shrink (a 2,100-byte PLAIN pad), with lz4; `raw` is
-- its size as the day's partition stores it (uncompressed there: see 1).
CREATE TEMP TABLE padded (col text, raw int, v_json jsonb COMPRESSION lz4, v_text text COMPRESSION lz4, pad text);
ALTER TABLE padded ALTER COLUMN pad SET STORAGE PLAIN;
INSERT INTO padded (col, raw, v_json, pad)
SELECT 'requests.messages (jsonb)', pg_column_size(messages), messages, repeat('x', 2100) FROM requests_p:day;
INSERT INTO padded (col, raw, v_text, pad)
SELECT 'responses.text', pg_column_size(text), text, repeat('x', 2100) FROM responses_p:day WHERE text <> '';
SELECT to_regclass('request_search') IS NOT NULL AS has_search \gset
\if :has_search
INSERT INTO padded (col, raw, v_text, pad)
SELECT 'request_search.doc', pg_column_size(s.doc), s.doc, repeat('x', 2100)
FROM request_search s JOIN requests_p:day q USING (request_id);
\endif

\echo
\echo 2. What lz4 would store for each text value of that day, were it compressed (raw when it cannot shrink it)
SELECT col AS "column", count(*) AS "values", round(avg(raw), 1) AS "raw bytes",
       round(avg(coalesce(pg_column_size(v_json), pg_column_size(v_text))), 1) AS "lz4 bytes",
       round(avg(raw - coalesce(pg_column_size(v_json), pg_column_size(v_text))), 1) AS "saved per value",
       count(*) FILTER (WHERE coalesce(pg_column_compression(v_json), pg_column_compression(v_text)) IS NOT NULL)
           AS "compressed"
FROM padded GROUP BY col ORDER BY col;
