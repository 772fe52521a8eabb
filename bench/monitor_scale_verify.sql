-- bench/run_monitor_scale --verify-bulk: the tables of one history loaded through the triggers
-- (copied into schema bench_verify) against the same history loaded in bulk (public), table by
-- table: the rows only in one of them, both ways (EXCEPT ALL: duplicates count), over every column
-- but the double precision ones; those (tps_sum: a sum of floats, whose last bits depend on the
-- order the rows were added in, chunk by chunk through the triggers, all at once in bulk) are
-- compared on the table's key with a relative tolerance of 1e-12. Prints one row per table; the
-- last column says "equal" or what differs.

SET client_min_messages = warning;
CREATE TEMP TABLE verdict (tbl text, rows_triggers bigint, rows_bulk bigint, only_triggers bigint, only_bulk bigint,
                           float_cols text, max_rel_diff float8);

DO $$
DECLARE
    tbl text;
    cols text;
    fcols text[];
    keycols text;
    f text;
    n_a bigint;
    n_b bigint;
    only_a bigint;
    only_b bigint;
    worst float8 := 0;
    d float8;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['requests', 'responses', 'request_rollups', 'response_rollups', 'response_series',
                               'error_rollups', 'pending_requests', 'search_backlog', 'request_search'] LOOP
        SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FILTER (WHERE atttypid <> 'float8'::regtype),
               array_agg(attname::text ORDER BY attnum) FILTER (WHERE atttypid = 'float8'::regtype)
        INTO cols, fcols
        FROM pg_attribute WHERE attrelid = ('public.' || tbl)::regclass AND attnum > 0 AND NOT attisdropped;
        EXECUTE format('SELECT (SELECT count(*) FROM bench_verify.%1$I), (SELECT count(*) FROM public.%1$I)', tbl)
            INTO n_a, n_b;
        EXECUTE format('SELECT count(*) FROM (SELECT %1$s FROM bench_verify.%2$I EXCEPT ALL SELECT %1$s FROM public.%2$I) x',
                       cols, tbl) INTO only_a;
        EXECUTE format('SELECT count(*) FROM (SELECT %1$s FROM public.%2$I EXCEPT ALL SELECT %1$s FROM bench_verify.%2$I) x',
                       cols, tbl) INTO only_b;
        worst := NULL;
        -- The floats of the derived tables, on their key; requests and responses hold the
        -- generator's values, compared exactly too (the same expression on the same row).
        IF fcols IS NOT NULL THEN
            SELECT string_agg(format(CASE WHEN a.attnotnull THEN 'a.%1$I = b.%1$I' ELSE 'a.%1$I IS NOT DISTINCT FROM b.%1$I' END,
                                     a.attname), ' AND ')
            INTO keycols
            FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey) AS k(attnum)
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
            WHERE c.conrelid = ('public.' || tbl)::regclass AND c.contype IN ('p', 'u')
              AND c.oid = (SELECT min(oid) FROM pg_constraint
                           WHERE conrelid = ('public.' || tbl)::regclass AND contype IN ('p', 'u'));
            worst := 0;
            FOREACH f IN ARRAY fcols LOOP
                IF tbl IN ('requests', 'responses') THEN
                    EXECUTE format('SELECT count(*) FROM (SELECT request_id, %1$I FROM bench_verify.%2$I EXCEPT ALL '
                                   'SELECT request_id, %1$I FROM public.%2$I) x', f, tbl) INTO d;
                    only_a := only_a + d::bigint;
                ELSE
                    EXECUTE format('SELECT coalesce(max(abs(a.%1$I - b.%1$I) / greatest(abs(a.%1$I), abs(b.%1$I), 1e-300)), 0)'
                                   ' FROM bench_verify.%2$I a JOIN public.%2$I b ON %3$s', f, tbl, keycols) INTO d;
                    worst := greatest(worst, d);
                END IF;
            END LOOP;
        END IF;
        INSERT INTO verdict VALUES (tbl, n_a, n_b, only_a, only_b, array_to_string(fcols, ', '), worst);
    END LOOP;
END $$;

SELECT tbl AS "table", rows_triggers AS "rows (triggers)", rows_bulk AS "rows (bulk)",
       only_triggers AS "only in triggers'", only_bulk AS "only in bulk's",
       coalesce(float_cols || ': max relative difference ' || max_rel_diff, '') AS "floats",
       CASE WHEN rows_triggers = rows_bulk AND only_triggers = 0 AND only_bulk = 0
                 AND coalesce(max_rel_diff, 0) <= 1e-12 THEN 'equal' ELSE 'DIFFERS' END AS verdict
FROM verdict;

SELECT CASE WHEN bool_and(rows_triggers = rows_bulk AND only_triggers = 0 AND only_bulk = 0
                          AND coalesce(max_rel_diff, 0) <= 1e-12)
            THEN 'verify-bulk: every table equal' ELSE 'verify-bulk: DIFFERS' END AS result
FROM verdict;
