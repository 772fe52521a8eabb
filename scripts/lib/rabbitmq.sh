# shellcheck shell=bash
# Private RabbitMQ node for development and tests. Source this file.
#
# Never touches the system service, /var/lib/rabbitmq or the default ports:
# every instance lives in its own directory <dir> with
#   <dir>/rabbitmq.env        ports + node name (chosen on first start, reused
#                             on every restart so clients can reconnect)
#   <dir>/rabbitmq.conf       listeners.tcp, management.tcp.{ip,port}
#   <dir>/enabled_plugins     [rabbitmq_management].
#   <dir>/.erlang.cookie      private cookie (HOME=<dir> for server and CLI)
#   <dir>/mnesia/             RABBITMQ_MNESIA_BASE (data)
#   <dir>/log/                RABBITMQ_LOG_BASE + stdout.log
#   <dir>/rabbitmq.pid        PID of the server (rabbitmq-server sh wrapper,
#                             leader of its own process group; beam.smp is
#                             its child)
#   <dir>/epmd.pid            PID of the private epmd
#
# epmd: each instance runs its OWN epmd on a private port (ERL_EPMD_PORT) bound
# to 127.0.0.1, and the VM is started with -start_epmd false. So the shared
# system epmd (port 4369) is never used, started or killed, and stopping an
# instance can kill its epmd without affecting anybody else.
#
# Functions:
#   llmp_rabbitmq_start <dir>      start (or restart with the same ports/data)
#   llmp_rabbitmq_stop [<dir>]     stop node + private epmd
#   llmp_rabbitmq_stop_node [<dir>]  stop only the node (epmd stays; used by
#                                  scripts/rabbitctl stop so start reuses it)
#   llmp_rabbitmqctl <dir> args... run rabbitmqctl against the node
# LLMP_RABBITMQ_EXTRA_LISTEN=<addr> (read when <dir> is configured, i.e. on first start): AMQP
# listens on <addr> too and guest may log in from there (default: loopback only).
# LLMP_RABBITMQ_SCHEDULER_ARGS (read at every start): Erlang emulator flags for the node's
# schedulers. Default "+sbwt none +sbwtdcpu none +sbwtdio none": idle schedulers sleep at once
# instead of busy-waiting for more work (the VM's default), which at the moderate, steady message
# rates of streamed tokens burns CPU for nothing on a small machine (docs/architecture.md,
# "Operating RabbitMQ"). Set it to "" for the VM's defaults (bench/run_streaming --baseline-rabbit-args).
# After start these are exported:
#   LLMPROXY_AMQP_URL LLMPROXY_RABBITMQ_MGMT_URL LLMPROXY_RABBITMQ_NODE
#   LLMPROXY_RABBITMQ_DIR LLMPROXY_RABBITMQ_PID LLMPROXY_RABBITMQ_PORT
#   LLMPROXY_RABBITMQ_MGMT_PORT

# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LLMP_RABBITMQ_BIN_DIR="${LLMP_RABBITMQ_BIN_DIR:-/usr/lib/rabbitmq/bin}"
LLMP_RABBITMQ_START_TIMEOUT="${LLMP_RABBITMQ_START_TIMEOUT:-120}"
LLMP_RABBITMQ_STOP_TIMEOUT="${LLMP_RABBITMQ_STOP_TIMEOUT:-30}"

_llmp_rabbitmq_absdir() {
    local dir="${1:-${LLMPROXY_RABBITMQ_DIR:-}}"
    [[ -n "$dir" ]] || llmp_die "rabbitmq: no directory given"
    mkdir -p "$dir"
    (cd "$dir" && pwd -P)
}

# Create config on first use; load ports/node name from <dir>/rabbitmq.env.
_llmp_rabbitmq_configure() {
    local dir="$1"
    if [[ ! -f "$dir/rabbitmq.env" ]]; then
        mkdir -p "$dir/mnesia" "$dir/log"
        local port dist_port mgmt_port epmd_port
        port="$(llmp_free_port)"
        dist_port="$(llmp_free_port)"
        mgmt_port="$(llmp_free_port)"
        epmd_port="$(llmp_free_port)"
        # Four separate binds can (rarely) return the same port twice.
        while [[ "$dist_port" == "$port" ]]; do dist_port="$(llmp_free_port)"; done
        while [[ "$mgmt_port" == "$port" || "$mgmt_port" == "$dist_port" ]]; do
            mgmt_port="$(llmp_free_port)"
        done
        while [[ "$epmd_port" == "$port" || "$epmd_port" == "$dist_port" ||
                 "$epmd_port" == "$mgmt_port" ]]; do
            epmd_port="$(llmp_free_port)"
        done
        (umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F' \
            >"$dir/.erlang.cookie")
        chmod 400 "$dir/.erlang.cookie"
        printf '[rabbitmq_management].\n' >"$dir/enabled_plugins"
        cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$port
management.tcp.ip = 127.0.0.1
management.tcp.port = $mgmt_port
log.file.level = info
log.console = false
CONF
        # A node other hosts reach too (scripts/host-loss-e2e: its own namespaces only): AMQP on
        # that address as well, and guest/guest accepted from there.
        if [[ -n "${LLMP_RABBITMQ_EXTRA_LISTEN:-}" ]]; then
            printf 'listeners.tcp.2 = %s:%s\nloopback_users = none\n' "$LLMP_RABBITMQ_EXTRA_LISTEN" "$port" \
                >>"$dir/rabbitmq.conf"
        fi
        # Used as RABBITMQ_CONF_ENV_FILE so /etc/rabbitmq/rabbitmq-env.conf
        # is never read.
        : >"$dir/rabbitmq-env.conf"
        cat >"$dir/rabbitmq.env.tmp" <<ENV
LLMP_RABBITMQ_PORT=$port
LLMP_RABBITMQ_DIST_PORT=$dist_port
LLMP_RABBITMQ_MGMT_PORT=$mgmt_port
LLMP_RABBITMQ_EPMD_PORT=$epmd_port
LLMP_RABBITMQ_NODE=llmproxy-$port@localhost
ENV
        mv "$dir/rabbitmq.env.tmp" "$dir/rabbitmq.env"
    fi
    # shellcheck source=/dev/null
    source "$dir/rabbitmq.env"
    export LLMPROXY_RABBITMQ_DIR="$dir"
    export LLMPROXY_RABBITMQ_NODE="$LLMP_RABBITMQ_NODE"
    export LLMPROXY_RABBITMQ_PORT="$LLMP_RABBITMQ_PORT"
    export LLMPROXY_RABBITMQ_MGMT_PORT="$LLMP_RABBITMQ_MGMT_PORT"
    export LLMPROXY_AMQP_URL="amqp://guest:guest@127.0.0.1:$LLMP_RABBITMQ_PORT/"
    export LLMPROXY_RABBITMQ_MGMT_URL="http://127.0.0.1:$LLMP_RABBITMQ_MGMT_PORT"
}

# Export the environment of the instance in <dir>. Call inside a subshell.
_llmp_rabbitmq_env() {
    local dir="$1"
    cd "$dir" || return 1
    export HOME="$dir"
    export ERL_EPMD_PORT="$LLMP_RABBITMQ_EPMD_PORT"
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
    export RABBITMQ_NODENAME="$LLMP_RABBITMQ_NODE"
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT="$LLMP_RABBITMQ_PORT"
    export RABBITMQ_DIST_PORT="$LLMP_RABBITMQ_DIST_PORT"
    export RABBITMQ_MNESIA_BASE="$dir/mnesia"
    export RABBITMQ_LOG_BASE="$dir/log"
    export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
    export RABBITMQ_PID_FILE="$dir/mnesia/rabbitmq-beam.pid"
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-start_epmd false -kernel inet_dist_use_interface {127,0,0,1} ${LLMP_RABBITMQ_SCHEDULER_ARGS-+sbwt none +sbwtdcpu none +sbwtdio none}"
    export RABBITMQ_CTL_ERL_ARGS="-start_epmd false"
    unset RABBITMQ_ENV_LOADED RABBITMQ_ALLOW_INPUT NOTIFY_SOCKET
}

llmp_rabbitmqctl() {
    local dir
    dir="$(_llmp_rabbitmq_absdir "$1")"
    shift
    _llmp_rabbitmq_configure "$dir"
    # The CLI would otherwise spawn `epmd -daemon` on our port by itself.
    _llmp_rabbitmq_start_epmd "$dir"
    (
        _llmp_rabbitmq_env "$dir"
        exec "$LLMP_RABBITMQ_BIN_DIR/rabbitmqctl" -n "$LLMP_RABBITMQ_NODE" "$@"
    )
}

_llmp_rabbitmq_start_epmd() {
    local dir="$1" pid=""
    [[ -f "$dir/epmd.pid" ]] && pid="$(cat "$dir/epmd.pid")"
    if llmp_pid_alive "$pid" && llmp_port_open "$LLMP_RABBITMQ_EPMD_PORT"; then
        return 0
    fi
    command -v epmd >/dev/null || llmp_die "epmd not found (erlang-base missing?)"
    # Run in the foreground (no -daemon) so we know its PID.
    pid="$(llmp_spawn "$dir/epmd.pid" "$dir/log/epmd.log" \
        epmd -port "$LLMP_RABBITMQ_EPMD_PORT" -address 127.0.0.1)"
    local deadline=$((SECONDS + 10))
    until llmp_port_open "$LLMP_RABBITMQ_EPMD_PORT"; do
        llmp_pid_alive "$pid" || llmp_die "epmd exited; see $dir/log/epmd.log"
        ((SECONDS < deadline)) || llmp_die "epmd did not start on port $LLMP_RABBITMQ_EPMD_PORT"
        sleep 0.05
    done
}

llmp_rabbitmq_start() {
    local dir t0 pid=""
    dir="$(_llmp_rabbitmq_absdir "$1")"
    t0="$(llmp_now)"
    _llmp_rabbitmq_configure "$dir"
    mkdir -p "$dir/log" "$dir/mnesia"

    [[ -f "$dir/rabbitmq.pid" ]] && pid="$(cat "$dir/rabbitmq.pid")"
    if llmp_pid_alive "$pid"; then
        llmp_log "rabbitmq: node $LLMP_RABBITMQ_NODE already running (pid $pid)"
    else
        [[ -x "$LLMP_RABBITMQ_BIN_DIR/rabbitmq-server" ]] ||
            llmp_die "rabbitmq-server not installed ($LLMP_RABBITMQ_BIN_DIR)"
        _llmp_rabbitmq_start_epmd "$dir"
        # The sbin wrapper would `su rabbitmq`; run the real script as the
        # current user, in its own session (see llmp_spawn).
        printf '\n==== %s start\n' "$(date '+%F %T')" >>"$dir/log/stdout.log"
        rm -f "$dir/mnesia/rabbitmq-beam.pid"
        pid="$(
            _llmp_rabbitmq_env "$dir"
            llmp_spawn "$dir/rabbitmq.pid" "$dir/log/stdout.log" \
                "$LLMP_RABBITMQ_BIN_DIR/rabbitmq-server"
        )"
    fi
    export LLMPROXY_RABBITMQ_PID="$pid"

    # Ready = management API answers (the management plugin starts after the
    # core broker) and the AMQP listener accepts connections.
    local deadline=$((SECONDS + LLMP_RABBITMQ_START_TIMEOUT))
    while :; do
        if curl -fsS -o /dev/null --max-time 2 -u guest:guest \
            "$LLMPROXY_RABBITMQ_MGMT_URL/api/overview" 2>/dev/null &&
            llmp_port_open "$LLMP_RABBITMQ_PORT"; then
            break
        fi
        if ! llmp_pid_alive "$pid"; then
            llmp_log "rabbitmq: server exited during startup; last log lines:"
            tail -n 40 "$dir/log/stdout.log" >&2 || true
            tail -n 40 "$dir/log/$LLMP_RABBITMQ_NODE.log" >&2 2>/dev/null || true
            return 1
        fi
        if ((SECONDS >= deadline)); then
            llmp_log "rabbitmq: not ready after ${LLMP_RABBITMQ_START_TIMEOUT}s; last log lines:"
            tail -n 40 "$dir/log/$LLMP_RABBITMQ_NODE.log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.2
    done
    llmp_log "rabbitmq: $LLMP_RABBITMQ_NODE ready in $(llmp_elapsed "$t0")s" \
        "(amqp 127.0.0.1:$LLMP_RABBITMQ_PORT, mgmt $LLMPROXY_RABBITMQ_MGMT_URL, pid $pid)"
}

# Stop the broker node only (its private epmd keeps running).
llmp_rabbitmq_stop_node() {
    local dir pid="" beam=""
    dir="$(_llmp_rabbitmq_absdir "${1:-}")"
    [[ -f "$dir/rabbitmq.pid" ]] && pid="$(cat "$dir/rabbitmq.pid")"
    [[ -f "$dir/mnesia/rabbitmq-beam.pid" ]] && beam="$(cat "$dir/mnesia/rabbitmq-beam.pid")"
    if llmp_pid_alive "$pid" || llmp_pid_alive "$beam"; then
        # SIGTERM to the rabbitmq-server wrapper, which forwards it to
        # beam.smp and waits: the VM shuts down in order (init:stop), like
        # `rabbitmqctl stop`, without booting a CLI VM first.
        local t0
        t0="$(llmp_now)"
        kill -TERM "$pid" 2>/dev/null || true
        if ! llmp_wait_pid_exit "$pid" "$LLMP_RABBITMQ_STOP_TIMEOUT" ||
            ! llmp_wait_pid_exit "$beam" 5; then
            llmp_log "rabbitmq: no clean shutdown after ${LLMP_RABBITMQ_STOP_TIMEOUT}s; killing"
            kill -KILL "$beam" "$pid" 2>/dev/null || true
            llmp_wait_pid_exit "$beam" 5 || true
        fi
        llmp_log "rabbitmq: stopped node in $(llmp_elapsed "$t0")s (pid $pid)"
    fi
    rm -f "$dir/rabbitmq.pid" "$dir/mnesia/rabbitmq-beam.pid"
    # Belt and braces: a beam.smp still running with HOME=<dir> is ours.
    local p
    for p in $(pgrep -f -- "-home $dir -" || true); do
        llmp_log "rabbitmq: killing leftover pid $p"
        kill -KILL "$p" 2>/dev/null || true
        llmp_wait_pid_exit "$p" 5 || true
    done
}

llmp_rabbitmq_stop() {
    local dir pid=""
    dir="$(_llmp_rabbitmq_absdir "${1:-}")"
    llmp_rabbitmq_stop_node "$dir"
    [[ -f "$dir/epmd.pid" ]] && pid="$(cat "$dir/epmd.pid")"
    if llmp_pid_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        llmp_wait_pid_exit "$pid" 5 || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/epmd.pid"
    # An epmd that an Erlang VM/CLI auto-started on our private port (e.g.
    # after ours was gone) is ours too.
    if [[ -f "$dir/rabbitmq.env" ]]; then
        # shellcheck source=/dev/null
        source "$dir/rabbitmq.env"
        local p
        for p in $(ss -Hltnp "sport = :$LLMP_RABBITMQ_EPMD_PORT" 2>/dev/null |
            grep -o '"epmd",pid=[0-9]*' | grep -o '[0-9]*$' | sort -u); do
            llmp_log "rabbitmq: killing stray epmd pid $p on port $LLMP_RABBITMQ_EPMD_PORT"
            kill -TERM "$p" 2>/dev/null || true
        done
    fi
}

# Crash-like stop: SIGKILL the VM (no orderly shutdown). epmd stays.
llmp_rabbitmq_kill_node() {
    local dir pid="" beam=""
    dir="$(_llmp_rabbitmq_absdir "${1:-}")"
    [[ -f "$dir/rabbitmq.pid" ]] && pid="$(cat "$dir/rabbitmq.pid")"
    [[ -f "$dir/mnesia/rabbitmq-beam.pid" ]] && beam="$(cat "$dir/mnesia/rabbitmq-beam.pid")"
    kill -KILL "$beam" "$pid" 2>/dev/null || true
    llmp_wait_pid_exit "$beam" 10 || true
    llmp_wait_pid_exit "$pid" 10 || true
    llmp_rabbitmq_stop_node "$dir"
}
