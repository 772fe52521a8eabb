#!/usr/bin/env bash
# LLMPROXY_API_AUTH=keys scripts/up: the stack comes up with the API requiring keys, prints one
# working key (also LLMPROXY_API_KEY in the env file) and a curl line that carries it. Without
# the key the API answers 401, with it a chat completes; the monitor's admin key (printed too)
# opens its JSON API, which answers 401 without it; SIGTERM stops everything (exit 0).
# Private RabbitMQ and PostgreSQL in a private RUN_DIR, free ports, the binary under test.
#
#   tests/scripts/up_keys_test.sh <path of the llmproxy binary>
set -euo pipefail
# shellcheck source=SCRIPTDIR/up_harness.sh
source "$(dirname "$0")/up_harness.sh" "$1"

up_start WORKERS=1 LLMPROXY_API_AUTH=keys
up_wait_ready
[[ "$LLMPROXY_API_KEY" == llmp_* ]] || fail "no API key in the env file"
grep -q "API key: *$LLMPROXY_API_KEY" "$tmp/up.log" || fail "the banner does not show the key"
grep -q "Authorization: Bearer $LLMPROXY_API_KEY" "$tmp/up.log" || fail "the banner's curl line lacks the key"

body='{"model":"mock","stream":false,"messages":[{"role":"user","content":"Hello"}]}'
code="$(curl -s -o /dev/null -w '%{http_code}' "$LLMPROXY_API_URL/api/chat" -H 'Content-Type: application/json' -d "$body")"
[[ "$code" == 401 ]] || fail "without a key: HTTP $code, expected 401"
code="$(curl -s -o "$tmp/reply.json" -w '%{http_code}' "$LLMPROXY_API_URL/api/chat" \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $LLMPROXY_API_KEY" -d "$body")"
[[ "$code" == 200 ]] || fail "with the key: HTTP $code, expected 200: $(cat "$tmp/reply.json")"
grep -q '"completion_tokens"' "$tmp/reply.json" || fail "with the key: no completion: $(cat "$tmp/reply.json")"

# The monitor (--auth keys by default): the admin key printed for the dashboard's login.
[[ "$LLMPROXY_MONITOR_ADMIN_KEY" == llmp_* ]] || fail "no monitor admin key in the env file"
grep -q "Admin key: *$LLMPROXY_MONITOR_ADMIN_KEY" "$tmp/up.log" || fail "the banner does not show the admin key"
code="$(curl -s -o /dev/null -w '%{http_code}' "$LLMPROXY_MONITOR_URL/api/overview")"
[[ "$code" == 401 ]] || fail "monitor without a key: HTTP $code, expected 401"
code="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $LLMPROXY_MONITOR_ADMIN_KEY" \
    "$LLMPROXY_MONITOR_URL/api/overview")"
[[ "$code" == 200 ]] || fail "monitor with the admin key: HTTP $code, expected 200"

kill -TERM "$up_pid"
rc=0
wait "$up_pid" || rc=$?
up_pid=""
((rc == 0)) || fail "scripts/up exited $rc on SIGTERM"
left="$(pgrep -f -- "$tmp/" || true)"
[[ -z "$left" ]] || fail "processes left behind: $left"
echo "PASS: LLMPROXY_API_AUTH=keys scripts/up printed a working key; 401 without it, 200 with it"
