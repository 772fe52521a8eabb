# shellcheck shell=bash
# Private Redis instance (Debian's redis-server) holding the API's fleet-wide rate-limit and
# budget counters (docs/architecture.md "Limits"). Source this file.
#
# Never touches a system instance. Layout of <dir>:
#   <dir>/redis.env        port (chosen on first start, reused on restart)
#   <dir>/redis.conf       port, bind 127.0.0.1, daemonize, pidfile, RDB snapshot in <dir>/data
#   <dir>/redis.pid
#   <dir>/data/dump.rdb    the counters survive a stop/start (day and month budgets)
#   <dir>/log/redis.log
#
# Functions:
#   llmp_redis_start <dir>   write the config on first use, start, wait for PONG
#   llmp_redis_stop [<dir>]  SHUTDOWN SAVE (a clean stop keeps the counters)
#   llmp_redis_kill [<dir>]  SIGKILL (crash-like; counters since the last snapshot are lost)
# After start these are exported:
#   LLMPROXY_REDIS_URL LLMPROXY_REDIS_DIR LLMPROXY_REDIS_PORT

# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LLMP_REDIS_START_TIMEOUT="${LLMP_REDIS_START_TIMEOUT:-30}"

_llmp_redis_absdir() {
    local dir="${1:-${LLMPROXY_REDIS_DIR:-}}"
    [[ -n "$dir" ]] || llmp_die "redis: no directory given"
    mkdir -p "$dir"
    (cd "$dir" && pwd -P)
}

_llmp_redis_configure() {
    local dir="$1"
    command -v redis-server >/dev/null || llmp_die "redis-server not found (Debian package redis-server)"
    if [[ ! -f "$dir/redis.env" ]]; then
        printf 'LLMP_REDIS_PORT=%s\n' "$(llmp_free_port)" >"$dir/redis.env"
    fi
    # shellcheck source=/dev/null
    source "$dir/redis.env"
    export LLMPROXY_REDIS_DIR="$dir"
    export LLMPROXY_REDIS_PORT="$LLMP_REDIS_PORT"
    export LLMPROXY_REDIS_URL="redis://127.0.0.1:$LLMP_REDIS_PORT"
}

_llmp_redis_cli() { redis-cli -h 127.0.0.1 -p "$LLMPROXY_REDIS_PORT" "$@"; }

llmp_redis_start() {
    local dir t0
    dir="$(_llmp_redis_absdir "$1")"
    t0="$(llmp_now)"
    _llmp_redis_configure "$dir"
    mkdir -p "$dir/data" "$dir/log"
    cat >"$dir/redis.conf" <<CONF
# llmproxy private instance (scripts/lib/redis.sh)
port $LLMP_REDIS_PORT
bind 127.0.0.1
protected-mode yes
daemonize yes
pidfile $dir/redis.pid
logfile $dir/log/redis.log
dir $dir/data
save 60 1
appendonly no
CONF
    if _llmp_redis_cli ping 2>/dev/null | grep -q PONG; then
        llmp_log "redis: already running on port $LLMP_REDIS_PORT"
        return 0
    fi
    # daemonize: the server detaches into its own session; fd 9 (the scripts' lock) stays here.
    redis-server "$dir/redis.conf" 9>&- || { tail -n 20 "$dir/log/redis.log" >&2; return 1; }
    local deadline=$((SECONDS + LLMP_REDIS_START_TIMEOUT))
    until _llmp_redis_cli ping 2>/dev/null | grep -q PONG; do
        if ((SECONDS >= deadline)); then
            llmp_log "redis: start failed; last log lines:"
            tail -n 30 "$dir/log/redis.log" >&2 || true
            return 1
        fi
        sleep 0.1
    done
    llmp_log "redis: ready in $(llmp_elapsed "$t0")s ($LLMPROXY_REDIS_URL)"
}

# llmp_redis_stop [<dir>] [mode]  mode: save (default) | kill
llmp_redis_stop() {
    local dir mode="${2:-save}" pid=""
    dir="$(_llmp_redis_absdir "${1:-}")"
    [[ -f "$dir/redis.env" ]] || return 0
    _llmp_redis_configure "$dir"
    [[ -f "$dir/redis.pid" ]] && pid="$(<"$dir/redis.pid")"
    if [[ -z "$pid" ]] || ! llmp_pid_alive "$pid"; then
        rm -f "$dir/redis.pid"
        return 0
    fi
    if [[ "$mode" == kill ]]; then
        kill -KILL "$pid" 2>/dev/null || true
    else
        _llmp_redis_cli shutdown save >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    fi
    if ! llmp_wait_pid_exit "$pid" 20; then
        llmp_log "redis: pid $pid did not exit; killing"
        kill -KILL "$pid" 2>/dev/null || true
        llmp_wait_pid_exit "$pid" 5 || true
    fi
    rm -f "$dir/redis.pid"
    llmp_log "redis: stopped ($mode)"
}

llmp_redis_kill() { llmp_redis_stop "${1:-}" kill; }
