# shellcheck shell=bash
# Hosts as Linux network namespaces (`ip netns`), for tests that lose a whole host. Source this
# file; needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and iproute2.
#
# A test's hosts share one name prefix. One namespace, the hub, holds a bridge `br0` with the
# first address of a private /24; every other host is a namespace of its own with `eth0`, one end
# of a veth pair whose other end is a port of that bridge. So the hosts reach each other and the
# hub over the bridge, and nothing else: no link, route or address is ever added to the root
# namespace (or any namespace but the test's own), and each namespace has its own loopback.
# Deleting a namespace deletes its links (a veth goes with either end).
#
# Functions:
#   llmp_netns_hub_add <hub> <addr/24>        the hub namespace and its bridge (lo and br0 up)
#   llmp_netns_host_add <hub> <host> <addr/24>  a host namespace wired to the hub's bridge
#   llmp_netns_pids <ns>                      the processes in <ns> (one per line)
#   llmp_netns_kill <ns>                      SIGKILL every process in <ns> (a host lost), wait
#                                             until none is left
#   llmp_netns_remove_all <prefix>            kill every process in and delete every namespace
#                                             whose name starts with <prefix> (cleanup; also
#                                             what an earlier, killed run left)

# shellcheck source=SCRIPTDIR/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

llmp_netns_hub_add() {
    local hub="$1" addr="$2"
    ip netns add "$hub"
    ip -n "$hub" link set lo up
    ip -n "$hub" link add br0 type bridge
    ip -n "$hub" addr add "$addr" dev br0
    ip -n "$hub" link set br0 up
}

# The hub's end of the pair is named after the host (interface names: 15 bytes at most).
llmp_netns_host_add() {
    local hub="$1" host="$2" addr="$3" port
    port="v-${host##*-}"
    port="${port:0:15}"
    ip netns add "$host"
    ip -n "$host" link set lo up
    ip -n "$hub" link add "$port" type veth peer name eth0 netns "$host"
    ip -n "$hub" link set "$port" master br0
    ip -n "$hub" link set "$port" up
    ip -n "$host" addr add "$addr" dev eth0
    ip -n "$host" link set eth0 up
}

llmp_netns_pids() {
    ip netns pids "$1" 2>/dev/null || true
}

llmp_netns_kill() {
    local ns="$1" pids deadline=$((SECONDS + 10))
    while :; do
        mapfile -t pids < <(llmp_netns_pids "$ns")
        ((${#pids[@]})) || return 0
        ((SECONDS < deadline)) || {
            llmp_log "netns $ns: processes left after SIGKILL: ${pids[*]}"
            return 1
        }
        kill -KILL "${pids[@]}" 2>/dev/null || true
        sleep 0.05
    done
}

llmp_netns_remove_all() {
    local prefix="$1" ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        [[ "$ns" == "$prefix"* ]] || continue
        llmp_netns_kill "$ns" || true
        ip netns delete "$ns" 2>/dev/null || llmp_log "netns $ns: could not delete"
    done
}
