#!/usr/bin/env bash
# scripts/up must not keep a stack with a dead part running: start it (its own private
# RabbitMQ and PostgreSQL in a private RUN_DIR, free ports, the binary under test), SIGKILL one
# worker, and expect scripts/up to say which process died, stop everything and exit non-zero,
# leaving no process behind.
#
#   tests/scripts/up_dies_test.sh <path of the llmproxy binary>
set -euo pipefail
# shellcheck source=SCRIPTDIR/up_harness.sh
source "$(dirname "$0")/up_harness.sh" "$1"

up_start WORKERS=2
up_wait_ready
env_file="$tmp/run/env"
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
