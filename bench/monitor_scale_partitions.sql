-- Day partitions (pg migration 29) for bench/run_monitor_scale's history of :days days ending
-- now, laid out as the audit service keeps them once the conversion's legacy partition has
-- expired: one partition of requests and of responses per UTC day, from the oldest loaded day
-- to 3 days ahead (the retention thread's horizon), plus the DEFAULT ones. Run on the emptied
-- tables, before the load: the (empty) legacy partitions, which cover every day before the
-- migration's, are dropped first. Created as audit/partitions.cpp creates them. Run by psql with
-- -v days=...

SELECT set_config('llmp.bench_days', :'days', false);

DO $$
DECLARE
    t text;
    d timestamptz;
    part text;
BEGIN
    FOREACH t IN ARRAY ARRAY['requests', 'responses'] LOOP
        IF to_regclass(t || '_legacy') IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', t, t || '_legacy');
            EXECUTE format('DROP TABLE %I', t || '_legacy');
        END IF;
        FOR d IN SELECT generate_series(
                     date_trunc('day', now(), 'UTC') - make_interval(days => current_setting('llmp.bench_days')::int + 1),
                     date_trunc('day', now(), 'UTC') + interval '3 days', interval '1 day') LOOP
            part := t || '_p' || to_char(d AT TIME ZONE 'UTC', 'YYYYMMDD');
            CONTINUE WHEN to_regclass(part) IS NOT NULL;
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMPRESSION)',
                           part, t);
            EXECUTE format('CREATE INDEX %I ON %I (request_id)', part || '_request_id_idx', part);
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', t, part, d,
                           d + interval '1 day');
        END LOOP;
    END LOOP;
END $$;
