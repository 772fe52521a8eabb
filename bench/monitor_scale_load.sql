-- Synthetic audit history for bench/run_monitor_scale (issue 19): rows $lo..$hi-1 of :n,
-- spread evenly over the last :days days (row 0 is the newest), stored oldest first as the
-- ingest stores them: an index over time (or anything rising with it) then fills its pages as a
-- running database's do (stored newest first, every insert split the leftmost page: such indexes
-- were twice their size). Run by psql with -v n=... -v days=... -v lo=... -v hi=... -v
-- t_end='...' (the common "now" of all chunks; run the chunks from the highest lo down).
--
-- Shapes that matter to the monitor's queries:
--   * 5 models, 8 workers, 2 routes, 4 keys (one in four requests has none);
--   * 2 % errors, 1 % cancelled; every 10th response from the API side carries no model
--     (the monitor falls back to the request's model);
--   * pending: the newest 50 requests (still in flight) and one in 200,000 older ones (a
--     response that never arrived);
--   * one in 100,000 prompts holds the rare word "zyzzyva" (the q= search).
-- Texts are ~400 characters of prompt and ~600 of answer, like a short chat turn. Their content
-- (-v content=..., default repeat):
--   * repeat: one sentence repeated (9 times in a prompt, 11 in an answer: 356 and 605
--     characters), the content of every figure before issue 19 item 4's compression work;
--     lz4 would shrink it several times, far more than chat text;
--   * varied: sentences of a fixed list of 400 (sentence n: the (n mod 17)th opening, (n mod
--     23)th middle and (n mod 19)th end of three fragment lists), a prompt's 3 at a stride of 13
--     from an offset that moves with i, an answer's 5 at a stride of 12 (354 and 566 characters
--     on average): no fragment repeats within a value, so lz4 finds only what chat text offers
--     (common words), and neighbouring rows share few sentences. The list is built once, and
--     detoasted once per statement (the OFFSET 0 subquery), not per row.

\if :{?content}
\else
\set content repeat
\endif
-- Request ids are :id_prefix followed by i (default bench-; the fresh hour the bench adds just
-- before timing has ids of its own). :days may be a fraction (that hour: 1/24).
\if :{?id_prefix}
\else
\set id_prefix bench-
\endif

-- Any other value stops the script (an error under psql's ON_ERROR_STOP, as the bench runs it).
SELECT CASE WHEN :'content' IN ('repeat', 'varied') THEN 0
            ELSE ('-v content must be repeat or varied, not ' || :'content')::int END AS content_checked \gset

-- The varied content's sentences (built whatever the content: one row, cheap).
CREATE TEMP TABLE bench_sentences AS
WITH f AS (SELECT ARRAY[
    'Could you explain why', 'My manager keeps asking whether', 'In the last quarterly report',
    'According to the migration guide', 'When I run the nightly build', 'Before we ship the new release',
    'Our Kubernetes cluster in Frankfurt', 'The customer from Lisbon insists that', 'Last Tuesday afternoon',
    'In my grandmother''s old recipe', 'After reading the changelog twice', 'Every sensor on the north wing',
    'The hiking guide for the Dolomites', 'Since upgrading the laptop firmware', 'The historian argued that',
    'During the budget review meeting', 'For the chemistry homework'] AS o,
  ARRAY[
    'the invoice totals drift by a few cents', 'our p99 latency doubled overnight',
    'the sourdough never rises above two centimetres', 'the tenants were not told about the outage',
    'every third test fails with a timeout', 'the mortgage rate quoted was 4.2 percent',
    'the translation keeps swapping formal and informal pronouns', 'my Spanish verbs sound stiff',
    'the garden hose bursts at the same joint', 'the quarterly churn jumped to 7 percent',
    'the train from Basel arrives eleven minutes late', 'the battery drains while the lid is closed',
    'the regression model ignores seasonality', 'my cat refuses the new dry food',
    'the SQL planner picks a nested loop', 'the violin sounds sharp in the upper register',
    'the printer queue stalls on large PDFs', 'the essay exceeds the word limit by 300 words',
    'the contract renews automatically in March', 'the solar panels produce less in July',
    'the React component re-renders on every keystroke', 'the tomatoes split before ripening',
    'the satellite image shows a darker patch'] AS m,
  ARRAY[
    'and nobody can tell me where to start.', 'so what would you check first?',
    'although the documentation claims otherwise.', 'which seems odd given last year''s numbers.',
    'unless I am misreading the chart.', 'and I need a short summary for the board.',
    'even after a full reboot and a cleared cache.', 'so please list the trade-offs plainly.',
    'which my colleague blames on daylight saving time.', 'and the deadline is Friday noon.',
    'but only when the humidity is above 80 percent.', 'so suggest three cheaper alternatives.',
    'and the logs show nothing unusual.', 'which contradicts the textbook example on page 212.',
    'so how should I phrase the apology email?', 'and I would rather not buy new hardware.',
    'while the staging environment behaves normally.', 'so give me a step-by-step plan.',
    'which worries the insurance adjuster.'] AS e)
SELECT array_agg(o[1 + n % 17] || ' ' || m[1 + n % 23] || ' ' || e[1 + n % 19] ORDER BY n) AS list
FROM f, generate_series(0, 399) AS n;

INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, priority,
                      messages, prompt, options, extra, client_addr, user_agent, deadline_at, key_id, key_name,
                      ingested_at)
SELECT :'id_prefix' || lpad(i::text, 9, '0'),
       t,
       'api-' || (i % 3),
       CASE WHEN i % 2 = 0 THEN 'openai' ELSE 'ollama' END,
       CASE WHEN i % 2 = 0 THEN '/v1/chat/completions' ELSE '/api/chat' END,
       'chat',
       (ARRAY['llama3:latest', 'qwen2:7b', 'mistral', 'gpt-4o-mini', 'phi3:mini'])[1 + i % 5],
       i % 4 <> 0,
       0,
       jsonb_build_array(
           jsonb_build_object('role', 'system', 'content', 'You are a helpful assistant. Answer briefly.'),
           jsonb_build_object('role', 'user', 'content',
                              'Question ' || i || ': ' ||
                              CASE WHEN :'content' = 'varied'
                                   THEN v.list[1 + (i * 7) % 360] || ' ' || v.list[14 + (i * 7) % 360] || ' ' ||
                                        v.list[27 + (i * 7) % 360]
                                   ELSE repeat('what is the weather like in city ' || (i % 977) || '? ', 9) END
                              || CASE WHEN i % 100000 = 7 THEN ' zyzzyva' ELSE '' END)),
       NULL,
       '{"temperature": 0.7}',
       '{}',
       '10.0.' || (i % 16) || '.' || (i % 250),
       'bench-client/1.0',
       t + interval '10 minutes',
       CASE WHEN i % 4 = 0 THEN NULL ELSE '00000000-0000-0000-0000-00000000000' || (i % 4) END,
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'bench-key-' || (i % 4) END,
       t
FROM (SELECT list || ARRAY[]::text[] AS list FROM bench_sentences OFFSET 0) AS v,
     generate_series(:hi - 1, :lo::bigint, -1) AS i,
     LATERAL (SELECT timestamptz :'t_end' - (i::float8 / :n) * (:days * interval '1 day') AS t) AS g;

INSERT INTO responses (request_id, status, server_id, worker_id, provider, model, done_reason, text, prompt_tokens,
                       completion_tokens, ttft_ms, duration_ms, tokens_per_s, error_code, error_message, retryable,
                       provider_metrics, completed_at, ingested_at, reported_by, key_id, key_name,
                       request_received_at)
SELECT :'id_prefix' || lpad(i::text, 9, '0'),
       s,
       'api-' || (i % 3),
       'worker-' || (i % 8),
       'ollama',
       CASE WHEN i % 10 = 3 THEN '' ELSE (ARRAY['llama3:latest', 'qwen2:7b', 'mistral', 'gpt-4o-mini', 'phi3:mini'])[1 + i % 5] END,
       CASE WHEN s = 'ok' THEN 'stop' ELSE NULL END,
       CASE WHEN s = 'error' THEN ''
            WHEN :'content' = 'varied'
            THEN v.list[1 + (i * 11) % 340] || ' ' || v.list[13 + (i * 11) % 340] || ' ' || v.list[25 + (i * 11) % 340] || ' ' ||
                 v.list[37 + (i * 11) % 340] || ' ' || v.list[49 + (i * 11) % 340]
            ELSE repeat('The weather is mild with a chance of rain later today. ', 11) END,
       60 + i % 200,
       CASE WHEN s = 'error' THEN 0 ELSE 20 + i % 300 END,
       50 + (i * 7919) % 900,
       d,
       CASE WHEN s = 'ok' THEN (20 + i % 300) * 1000.0 / d ELSE NULL END,
       CASE WHEN s = 'error' THEN 'provider_error' WHEN s = 'cancelled' THEN 'client_gone' ELSE NULL END,
       CASE WHEN s = 'error' THEN 'upstream answered 500' ELSE NULL END,
       CASE WHEN s = 'error' THEN true ELSE NULL END,
       '{}',
       t + d * interval '1 millisecond',
       t + d * interval '1 millisecond',
       CASE WHEN i % 10 = 3 THEN 'api' ELSE 'worker' END,
       CASE WHEN i % 4 = 0 THEN NULL ELSE '00000000-0000-0000-0000-00000000000' || (i % 4) END,
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'bench-key-' || (i % 4) END,
       t
FROM (SELECT list || ARRAY[]::text[] AS list FROM bench_sentences OFFSET 0) AS v,
     generate_series(:hi - 1, :lo::bigint, -1) AS i,
     LATERAL (SELECT timestamptz :'t_end' - (i::float8 / :n) * (:days * interval '1 day') AS t,
                     CASE WHEN i % 50 = 1 THEN 'error' WHEN i % 100 = 2 THEN 'cancelled' ELSE 'ok' END AS s,
                     (300 + (i * 104729) % 9000)::float8 AS d) AS g
WHERE i >= 50 AND i % 200000 <> 11;
