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
-- Texts are ~400 characters of prompt and ~600 of answer, like a short chat turn.

INSERT INTO requests (request_id, received_at, server_id, api_flavour, route, kind, model, stream, priority,
                      messages, prompt, options, extra, client_addr, user_agent, deadline_at, key_id, key_name,
                      ingested_at)
SELECT 'bench-' || lpad(i::text, 9, '0'),
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
                              'Question ' || i || ': ' || repeat('what is the weather like in city ' || (i % 977) || '? ', 9)
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
FROM generate_series(:hi - 1, :lo::bigint, -1) AS i,
     LATERAL (SELECT timestamptz :'t_end' - (i::float8 / :n) * make_interval(days => :days) AS t) AS g;

INSERT INTO responses (request_id, status, server_id, worker_id, provider, model, done_reason, text, prompt_tokens,
                       completion_tokens, ttft_ms, duration_ms, tokens_per_s, error_code, error_message, retryable,
                       provider_metrics, completed_at, ingested_at, reported_by, key_id, key_name,
                       request_received_at)
SELECT 'bench-' || lpad(i::text, 9, '0'),
       s,
       'api-' || (i % 3),
       'worker-' || (i % 8),
       'ollama',
       CASE WHEN i % 10 = 3 THEN '' ELSE (ARRAY['llama3:latest', 'qwen2:7b', 'mistral', 'gpt-4o-mini', 'phi3:mini'])[1 + i % 5] END,
       CASE WHEN s = 'ok' THEN 'stop' ELSE NULL END,
       CASE WHEN s = 'error' THEN '' ELSE repeat('The weather is mild with a chance of rain later today. ', 11) END,
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
FROM generate_series(:hi - 1, :lo::bigint, -1) AS i,
     LATERAL (SELECT timestamptz :'t_end' - (i::float8 / :n) * make_interval(days => :days) AS t,
                     CASE WHEN i % 50 = 1 THEN 'error' WHEN i % 100 = 2 THEN 'cancelled' ELSE 'ok' END AS s,
                     (300 + (i * 104729) % 9000)::float8 AS d) AS g
WHERE i >= 50 AND i % 200000 <> 11;
