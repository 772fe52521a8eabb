#!/usr/bin/env bash
# scripts/up must not keep a stack with a dead part running: start it (its own private
# RabbitMQ and PostgreSQL in a private RUN_DIR, free ports, the binary under test), SIGKILL one
# worker, and expect scripts/up to say which process died, stop everything and exit non-zero,
# leaving no process behind.
#
#   tests/scripts/up_dies_test.sh <path of the llmproxy binary>
#
# The binary must be <build dir>/programs/llmproxy (scripts/up's BUILD_DIR layout).
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

tmp="$(mktemp -d "${TMPDIR:-/tmp}/llmp-up-test.XXXXXX")"
up_pid=""
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    local rc=$?
    set +e
    if [[ -n "$up_pid" ]] && llmp_pid_alive "$up_pid"; then
        kill -TERM "$up_pid" # scripts/up stops its stack on SIGTERM
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

RUN_DIR="$tmp/run" SKIP_BUILD=1 BUILD_DIR="$(dirname "$(dirname "$bin")")" WORKERS=2 \
    LLMPROXY_API_PORT="$api_port" LLMPROXY_MONITOR_PORT="$monitor_port" READY_TIMEOUT=180 \
    "$here/../../scripts/up" >"$tmp/up.log" 2>&1 </dev/null &
up_pid=$!

# Up: its banner printed (the env file is written before it).
deadline=$((SECONDS + 240))
until grep -q '^llmproxy is up\.' "$tmp/up.log"; do
    llmp_pid_alive "$up_pid" || fail "scripts/up exited before the stack was up"
    ((SECONDS < deadline)) || fail "scripts/up not up after 240 s"
    sleep 0.2
done
env_file="$tmp/run/env"
[[ -s "$env_file" ]] || fail "no $env_file"
# shellcheck disable=SC1090
source "$env_file"
read -r -a workers <<<"$LLMPROXY_WORKER_PIDS"
((${#workers[@]} == 2)) || fail "expected 2 worker pids, got '$LLMPROXY_WORKER_PIDS'"
all_pids=("$LLMPROXY_API_PID" "${workers[@]}" "$LLMPROXY_AUDIT_PID" "$LLMPROXY_MONITOR_PID"
    "$LLMPROXY_RABBITMQ_PID" "$LLMPROXY_PG_PID")
for p in "${all_pids[@]}"; do
    llmp_pid_alive "$p" || fail "pid $p of the env file is not running"
done
epmd_pid="$(cat "$tmp/run/up/rabbitmq/epmd.pid")"

# One worker dies.
victim="${workers[1]}"
kill -KILL "$victim"

deadline=$((SECONDS + 120))
while llmp_pid_alive "$up_pid"; do
    ((SECONDS < deadline)) || fail "scripts/up still running 120 s after a worker died"
    sleep 0.2
done
rc=0
wait "$up_pid" || rc=$?
up_pid=""

((rc != 0)) || fail "scripts/up exited 0 after a worker died"
grep -Eq "ERROR: worker-[0-9]+ \(pid $victim\) died" "$tmp/up.log" ||
    fail "scripts/up did not say which process died"
grep -q "stopping the whole stack" "$tmp/up.log" || fail "scripts/up did not say it stops the stack"
for p in "${all_pids[@]}" "$epmd_pid"; do
    llmp_pid_alive "$p" && fail "pid $p ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)) is still running"
done
left="$(pgrep -f -- "$tmp/" || true)"
[[ -z "$left" ]] || fail "processes left behind: $left"
[[ ! -e "$env_file" ]] || fail "the env file of a stopped stack is still there"
echo "PASS: scripts/up exited $rc after worker pid $victim died and left nothing running"
