# shellcheck shell=bash
# A private RabbitMQ cluster of N nodes (default 3) on loopback, for tests and development: N
# private nodes of scripts/lib/rabbitmq.sh under <dir>/node1..N that share one private epmd and
# one Erlang cookie and form one cluster by classic peer discovery. Source this file.
#
#   <dir>/nodeI/          one node's directory (rabbitmq.sh layout; rabbitmq.conf lists peers)
#   <dir>/cluster.env     LLMPROXY_AMQP_URL (every node's URL, comma separated),
#                         LLMPROXY_RABBITMQ_MGMT_URL (node 1's), LLMPROXY_RABBITMQ_CLUSTER_DIR,
#                         LLMPROXY_RABBITMQ_CLUSTER_SIZE, LLMPROXY_RABBITMQ_NODE_URL_<I>
#
# Functions:
#   llmp_rabbitmq_cluster_start <dir> [n]   start every node (configure on first use), wait for
#                                           all of them to be running members of one cluster
#   llmp_rabbitmq_cluster_stop <dir>        stop every node and the epmd
#   llmp_rabbitmq_cluster_node_dir <dir> I  the directory of node I (for llmp_rabbitmq_start,
#                                           _stop_node, _kill_node: one node down and back)

# shellcheck source=SCRIPTDIR/rabbitmq.sh
source "$(dirname "${BASH_SOURCE[0]}")/rabbitmq.sh"

llmp_rabbitmq_cluster_node_dir() {
    printf '%s/node%s\n' "$1" "$2"
}

_llmp_rabbitmq_cluster_size() {
    local dir="$1" n=0
    while [[ -f "$dir/node$((n + 1))/rabbitmq.env" ]]; do n=$((n + 1)); done
    printf '%s\n' "$n"
}

# First use: configure each node as rabbitmq.sh does, then give all of them node 1's epmd port
# and cookie and the list of peers.
_llmp_rabbitmq_cluster_configure() {
    local dir="$1" n="$2" i epmd_port nodes=()
    for ((i = 1; i <= n; i++)); do
        _llmp_rabbitmq_configure "$dir/node$i"
        nodes+=("$LLMP_RABBITMQ_NODE")
        if ((i == 1)); then
            epmd_port="$LLMP_RABBITMQ_EPMD_PORT"
        else
            sed -i "s/^LLMP_RABBITMQ_EPMD_PORT=.*/LLMP_RABBITMQ_EPMD_PORT=$epmd_port/" "$dir/node$i/rabbitmq.env"
            chmod 600 "$dir/node$i/.erlang.cookie"
            cp "$dir/node1/.erlang.cookie" "$dir/node$i/.erlang.cookie"
            chmod 400 "$dir/node$i/.erlang.cookie"
        fi
    done
    for ((i = 1; i <= n; i++)); do
        {
            printf 'cluster_formation.peer_discovery_backend = classic_config\n'
            local j
            for ((j = 1; j <= n; j++)); do
                printf 'cluster_formation.classic_config.nodes.%s = %s\n' "$j" "${nodes[j - 1]}"
            done
        } >>"$dir/node$i/rabbitmq.conf"
    done
    : >"$dir/.configured"
}

_llmp_rabbitmq_cluster_write_env() {
    local dir="$1" n="$2" i urls=() mgmt=""
    {
        for ((i = 1; i <= n; i++)); do
            # shellcheck source=/dev/null
            source "$dir/node$i/rabbitmq.env"
            urls+=("amqp://guest:guest@127.0.0.1:$LLMP_RABBITMQ_PORT/")
            printf 'LLMPROXY_RABBITMQ_NODE_URL_%s=%q\n' "$i" "amqp://guest:guest@127.0.0.1:$LLMP_RABBITMQ_PORT/"
            ((i == 1)) && mgmt="http://127.0.0.1:$LLMP_RABBITMQ_MGMT_PORT"
        done
        local IFS=,
        printf 'LLMPROXY_AMQP_URL=%q\n' "${urls[*]}"
        printf 'LLMPROXY_RABBITMQ_MGMT_URL=%q\n' "$mgmt"
        printf 'LLMPROXY_RABBITMQ_CLUSTER_DIR=%q\n' "$dir"
        printf 'LLMPROXY_RABBITMQ_CLUSTER_SIZE=%s\n' "$n"
    } >"$dir/cluster.env.tmp"
    mv "$dir/cluster.env.tmp" "$dir/cluster.env"
}

llmp_rabbitmq_cluster_start() {
    local dir n i t0
    dir="$(_llmp_rabbitmq_absdir "$1")"
    n="${2:-}"
    t0="$(llmp_now)"
    if [[ ! -f "$dir/.configured" ]]; then
        _llmp_rabbitmq_cluster_configure "$dir" "${n:-3}"
    fi
    n="$(_llmp_rabbitmq_cluster_size "$dir")"
    # Node 1 starts the shared epmd; the others find it through its pid file.
    for ((i = 1; i <= n; i++)); do
        if ((i > 1)); then
            cp "$dir/node1/epmd.pid" "$dir/node$i/epmd.pid"
        fi
        llmp_rabbitmq_start "$dir/node$i" || return 1
    done
    # Started one after the other, each node joined the ones before it; wait until node 1
    # sees all of them running.
    local deadline=$((SECONDS + LLMP_RABBITMQ_START_TIMEOUT)) running
    while :; do
        running="$(llmp_rabbitmqctl "$dir/node1" cluster_status --formatter json 2>/dev/null |
            python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("running_nodes", [])))' 2>/dev/null ||
            echo 0)"
        ((running == n)) && break
        ((SECONDS < deadline)) || {
            llmp_log "rabbitmq cluster: $running of $n nodes running after ${LLMP_RABBITMQ_START_TIMEOUT}s"
            return 1
        }
        sleep 0.5
    done
    _llmp_rabbitmq_cluster_write_env "$dir" "$n"
    # shellcheck source=/dev/null
    source "$dir/cluster.env"
    export LLMPROXY_AMQP_URL LLMPROXY_RABBITMQ_MGMT_URL LLMPROXY_RABBITMQ_CLUSTER_DIR
    llmp_log "rabbitmq cluster: $n nodes ready in $(llmp_elapsed "$t0")s ($LLMPROXY_AMQP_URL)"
}

llmp_rabbitmq_cluster_stop() {
    local dir n i
    dir="$(_llmp_rabbitmq_absdir "$1")"
    n="$(_llmp_rabbitmq_cluster_size "$dir")"
    for ((i = n; i >= 1; i--)); do
        llmp_rabbitmq_stop_node "$dir/node$i"
    done
    ((n >= 1)) && llmp_rabbitmq_stop "$dir/node1"
    for ((i = 2; i <= n; i++)); do rm -f "$dir/node$i/epmd.pid"; done
}
