# shellcheck shell=bash
# What the scripts/up tests share (source it; do not execute): a private temp dir, free ports,
# scripts/up started on them with the binary under test and its own RabbitMQ and PostgreSQL in a
# private RUN_DIR, a wait for its banner, and an EXIT trap that stops it and anything left under
# the temp dir.
#
#   source up_harness.sh <path of the llmproxy binary>   # sets bin, here, tmp; traps EXIT
#   up_start [VAR=value...]                               # sets up_pid; output in $tmp/up.log
#   up_wait_ready                                         # until "llmproxy is up."; sources the env file
#
# The binary must be <build dir>/programs/llmproxy (scripts/up's BUILD_DIR layout).

bin="$(realpath "$1")"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
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
up_cleanup() {
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
trap up_cleanup EXIT

up_start() {
    local api_port monitor_port
    api_port="$(llmp_free_port)"
    monitor_port="$(llmp_free_port)"
    while [[ "$monitor_port" == "$api_port" ]]; do monitor_port="$(llmp_free_port)"; done
    env RUN_DIR="$tmp/run" SKIP_BUILD=1 BUILD_DIR="$(dirname "$(dirname "$bin")")" \
        LLMPROXY_API_PORT="$api_port" LLMPROXY_MONITOR_PORT="$monitor_port" READY_TIMEOUT=180 "$@" \
        "$here/../../scripts/up" >"$tmp/up.log" 2>&1 </dev/null &
    up_pid=$!
}

up_wait_ready() {
    local deadline=$((SECONDS + 240))
    until grep -q '^llmproxy is up\.' "$tmp/up.log"; do
        llmp_pid_alive "$up_pid" || fail "scripts/up exited before the stack was up"
        ((SECONDS < deadline)) || fail "scripts/up not up after 240 s"
        sleep 0.2
    done
    [[ -s "$tmp/run/env" ]] || fail "no $tmp/run/env"
    # shellcheck disable=SC1091
    source "$tmp/run/env"
}
