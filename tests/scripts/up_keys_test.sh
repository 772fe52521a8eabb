#!/usr/bin/env bash
# LLMPROXY_API_AUTH=keys scripts/up: the stack comes up with the API requiring keys, prints one
# working key (also LLMPROXY_API_KEY in the env file) and a curl line that carries it. Without
# the key the API answers 401, with it a chat completes; SIGTERM stops everything (exit 0).
# Private RabbitMQ and PostgreSQL in a private RUN_DIR, free ports, the binary under test.
#
#   tests/scripts/up_keys_test.sh <path of the llmproxy binary>
set -euo pipefail
bin="$(realpath "$1")"
here="$(cd "$(dirname "$0")" && pwd -P)"
# shellcheck source=SCRIPTDIR/../../scripts/lib/common.sh
source "$here/../../scripts/lib/common.sh"

fail() {
    echo "FAIL: $*" >&2
    echo "---- scripts/up output ----" >&2
    cat "$tmp/up.log" >&2 || true
    exit 1
}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/llmp-up-keys-test.XXXXXX")"
up_pid=""
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    local rc=$?
    set +e
    if [[ -n "$up_pid" ]] && llmp_pid_alive "$up_pid"; then
        kill -TERM "$up_pid"
        llmp_wait_pid_exit "$up_pid" 60 || kill -KILL "$up_pid"
    fi
    llmp_kill_cmdline_matching "$tmp/" 2>/dev/null
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT

api_port="$(llmp_free_port)"
monitor_port="$(llmp_free_port)"
while [[ "$monitor_port" == "$api_port" ]]; do monitor_port="$(llmp_free_port)"; done

RUN_DIR="$tmp/run" SKIP_BUILD=1 BUILD_DIR="$(dirname "$(dirname "$bin")")" WORKERS=1 LLMPROXY_API_AUTH=keys \
    LLMPROXY_API_PORT="$api_port" LLMPROXY_MONITOR_PORT="$monitor_port" READY_TIMEOUT=180 \
    "$here/../../scripts/up" >"$tmp/up.log" 2>&1 </dev/null &
up_pid=$!

deadline=$((SECONDS + 240))
until grep -q '^llmproxy is up\.' "$tmp/up.log"; do
    llmp_pid_alive "$up_pid" || fail "scripts/up exited before the stack was up"
    ((SECONDS < deadline)) || fail "scripts/up not up after 240 s"
    sleep 0.2
done
# shellcheck disable=SC1090
source "$tmp/run/env"
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

kill -TERM "$up_pid"
rc=0
wait "$up_pid" || rc=$?
up_pid=""
((rc == 0)) || fail "scripts/up exited $rc on SIGTERM"
left="$(pgrep -f -- "$tmp/" || true)"
[[ -z "$left" ]] || fail "processes left behind: $left"
echo "PASS: LLMPROXY_API_AUTH=keys scripts/up printed a working key; 401 without it, 200 with it"
