# shellcheck shell=bash
# Private PostgreSQL 15 instance for development and tests. Source this file.
#
# Runs as the `postgres` OS user (initdb/postgres refuse to run as root),
# never touches the system cluster. Layout of <dir>:
#   <dir>/postgres.env   port (chosen on first start, reused on restart)
#   <dir>/data/          PGDATA (owned by postgres; postgresql.conf sets
#                        port, listen_addresses=127.0.0.1, socket dir)
#   <dir>/sock/          unix socket directory
#   <dir>/log/postgres.log
#
# Functions:
#   llmp_postgres_start <dir>   initdb on first use, start, create db llmproxy;
#                               on later calls restarts with same data + port
#   llmp_postgres_stop [<dir>]  pg_ctl stop -m fast
#   llmp_postgres_kill [<dir>]  pg_ctl stop -m immediate (crash-like)
#   llmp_postgres_pause / llmp_postgres_resume   aliases of stop / start
# Read at initdb (first start): LLMP_PG_EXTRA_LISTEN=<addr> listens on <addr> too, and
# LLMP_PG_EXTRA_TRUST=<cidr> lets that network in without a password (scripts/host-loss-e2e;
# default: loopback only).
# After start these are exported:
#   LLMPROXY_DATABASE_URL LLMPROXY_PG_DATA LLMPROXY_PG_BIN LLMPROXY_PG_DIR
#   LLMPROXY_PG_PORT

# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LLMP_PG_VERSION="${LLMP_PG_VERSION:-15}"
LLMP_PG_START_TIMEOUT="${LLMP_PG_START_TIMEOUT:-60}"
LLMP_PG_USER="${LLMP_PG_USER:-postgres}"

_llmp_pg_bin() {
    local bin="/usr/lib/postgresql/$LLMP_PG_VERSION/bin"
    if [[ ! -x "$bin/pg_ctl" ]]; then
        # Fall back to the newest installed version.
        bin="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
            sort -V | tail -n 1)"
    fi
    [[ -n "$bin" && -x "$bin/pg_ctl" ]] || llmp_die "PostgreSQL server binaries not found"
    echo "$bin"
}

_llmp_pg_absdir() {
    local dir="${1:-${LLMPROXY_PG_DIR:-}}"
    [[ -n "$dir" ]] || llmp_die "postgres: no directory given"
    mkdir -p "$dir"
    (cd "$dir" && pwd -P)
}

# Run a command as the postgres user (or directly when not root).
_llmp_pg_as() {
    if ((EUID == 0)); then
        runuser -u "$LLMP_PG_USER" -- "$@" 9>&-
    else
        "$@" 9>&-
    fi
}

# Make sure the postgres user can reach <dir> (every ancestor needs +x).
_llmp_pg_make_traversable() {
    local dir="$1" d
    ((EUID == 0)) || return 0
    _llmp_pg_as test -x "$dir" 2>/dev/null && return 0
    d="$dir"
    while [[ "$d" != / ]]; do
        if ! _llmp_pg_as test -x "$d" 2>/dev/null; then
            llmp_log "postgres: chmod o+x $d (so user $LLMP_PG_USER can traverse it)"
            chmod o+x "$d"
        fi
        d="$(dirname "$d")"
    done
}

_llmp_pg_configure() {
    local dir="$1"
    LLMPROXY_PG_BIN="$(_llmp_pg_bin)"
    if [[ ! -f "$dir/postgres.env" ]]; then
        printf 'LLMP_PG_PORT=%s\n' "$(llmp_free_port)" >"$dir/postgres.env"
    fi
    # shellcheck source=/dev/null
    source "$dir/postgres.env"
    export LLMPROXY_PG_BIN
    export LLMPROXY_PG_DIR="$dir"
    export LLMPROXY_PG_DATA="$dir/data"
    export LLMPROXY_PG_PORT="$LLMP_PG_PORT"
    export LLMPROXY_DATABASE_URL="postgresql://postgres@127.0.0.1:$LLMP_PG_PORT/llmproxy"
}

llmp_postgres_start() {
    local dir t0
    dir="$(_llmp_pg_absdir "$1")"
    t0="$(llmp_now)"
    _llmp_pg_configure "$dir"
    local data="$dir/data" bin="$LLMPROXY_PG_BIN" fresh=0

    mkdir -p "$dir/sock" "$dir/log"
    if ((EUID == 0)); then
        chown "$LLMP_PG_USER:" "$dir/sock" "$dir/log"
        _llmp_pg_make_traversable "$dir"
    fi
    if [[ ! -f "$data/PG_VERSION" ]]; then
        fresh=1
        rm -rf "$data"
        mkdir -p "$data"
        chmod 700 "$data"
        ((EUID != 0)) || chown "$LLMP_PG_USER:" "$data"
        # --no-sync only affects initdb itself (fsync stays on at runtime).
        _llmp_pg_as "$bin/initdb" -D "$data" -U postgres --auth=trust \
            --encoding=UTF8 --locale=C.UTF-8 --no-sync \
            >>"$dir/log/initdb.log" 2>&1 ||
            { tail -n 20 "$dir/log/initdb.log" >&2; return 1; }
        cat >>"$data/postgresql.conf" <<CONF

# --- llmproxy private instance ---
port = $LLMP_PG_PORT
listen_addresses = '127.0.0.1${LLMP_PG_EXTRA_LISTEN:+,$LLMP_PG_EXTRA_LISTEN}'
unix_socket_directories = '$dir/sock'
max_connections = 200
logging_collector = off
log_min_messages = warning
CONF
        if [[ -n "${LLMP_PG_EXTRA_TRUST:-}" ]]; then
            printf 'host all all %s trust\n' "$LLMP_PG_EXTRA_TRUST" >>"$data/pg_hba.conf"
        fi
    fi

    if _llmp_pg_as "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        llmp_log "postgres: already running on port $LLMP_PG_PORT"
    else
        # pg_ctl puts the postmaster into its own session; -w waits until it
        # accepts connections.
        if ! _llmp_pg_as "$bin/pg_ctl" -D "$data" -l "$dir/log/postgres.log" \
            -w -t "$LLMP_PG_START_TIMEOUT" start >/dev/null; then
            llmp_log "postgres: start failed; last log lines:"
            tail -n 30 "$dir/log/postgres.log" >&2 || true
            return 1
        fi
    fi
    if ((fresh)) || ! "$bin/psql" -h 127.0.0.1 -p "$LLMP_PG_PORT" -U postgres -d postgres \
        -tAc "select 1 from pg_database where datname = 'llmproxy'" | grep -q 1; then
        "$bin/createdb" -h 127.0.0.1 -p "$LLMP_PG_PORT" -U postgres llmproxy
    fi
    llmp_log "postgres: ready in $(llmp_elapsed "$t0")s ($LLMPROXY_DATABASE_URL)"
}

# llmp_postgres_stop [<dir>] [mode]  mode: fast (default) | immediate | smart
llmp_postgres_stop() {
    local dir mode="${2:-fast}"
    dir="$(_llmp_pg_absdir "${1:-}")"
    local data="$dir/data"
    [[ -f "$data/PG_VERSION" ]] || return 0
    local bin
    bin="$(_llmp_pg_bin)"
    if [[ -f "$data/postmaster.pid" ]]; then
        local t0
        t0="$(llmp_now)"
        if ! _llmp_pg_as "$bin/pg_ctl" -D "$data" -m "$mode" -w -t 60 stop >/dev/null 2>&1; then
            local pid
            pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)"
            if llmp_pid_alive "$pid"; then
                llmp_log "postgres: pg_ctl stop failed; killing postmaster $pid"
                kill -QUIT "$pid" 2>/dev/null || true
                llmp_wait_pid_exit "$pid" 10 || kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
        llmp_log "postgres: stopped ($mode) in $(llmp_elapsed "$t0")s"
    fi
    # Belt and braces: any postgres process still using this data dir.
    local p
    for p in $(pgrep -f -- "-D $data( |\$)" || true); do
        llmp_log "postgres: killing leftover pid $p"
        kill -KILL "$p" 2>/dev/null || true
    done
}

llmp_postgres_kill() { llmp_postgres_stop "${1:-}" immediate; }
llmp_postgres_pause() { llmp_postgres_stop "$@"; }
llmp_postgres_resume() { llmp_postgres_start "${1:-${LLMPROXY_PG_DIR:-}}"; }
