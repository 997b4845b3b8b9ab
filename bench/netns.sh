#!/usr/bin/env bash
# bench/netns.sh: one run of a pipeline across a link with delay and loss.
#
#   bench/netns.sh BUILD DELAY_MS LOSS_PERCENT STATS OUT PIPELINE [troupe run options...]
#
# The head's network namespace and one for each node in NODES (default
# "far"): node "far" (10.91.0.2) is joined to the head by tun devices and
# tests/netdelay, which holds each packet DELAY_MS (one way: the round
# trip is twice it) and drops LOSS_PERCENT of them (this kernel has no
# netem); node "near" (10.91.1.2) by a veth pair. The head listens on
# 10.91.9.1, an address of its own both reach. It runs PIPELINE with
# --stats STATS, its stdout in OUT; each node announces 64 cores, so the
# workers go to the nodes and the head keeps its sources and sinks.
# Everything is removed at the end. Exit: the head's exit code; 77
# without the privilege to make namespaces or tun devices (the reason on
# stderr). Used by bench/run --only netns.
set -u
[ $# -ge 6 ] || { echo "usage: $0 BUILD DELAY_MS LOSS_PERCENT STATS OUT PIPELINE [options]" >&2; exit 2; }
build=$1 delay=$2 loss=$3 stats=$4 out=$5 zpl=$6
shift 6
tag="tb$$"
H="${tag}h"
nodes=${NODES:-far}
err=$(mktemp)
cleanup() {
    [ -n "${relay:-}" ] && kill "$relay" 2> /dev/null && wait "$relay" 2> /dev/null
    for ns in "$H" "${tag}far" "${tag}near"; do
        ip netns pids "$ns" 2> /dev/null | xargs -r kill -KILL 2> /dev/null
        ip netns del "$ns" 2> /dev/null
    done
    rm -f "$err"
}
trap cleanup EXIT
if ! ip netns add "$H" 2> "$err" || ! ip -n "$H" tuntap add dev tunb mode tun 2> "$err"; then
    echo "netns: cannot make namespaces and tun devices: $(cat "$err")" >&2
    exit 77
fi
ip -n "$H" link set lo up
ip -n "$H" addr add 10.91.9.1/32 dev lo
for node in $nodes; do
    ns="${tag}$node"
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    case $node in
        far)
            ip -n "$ns" tuntap add dev tunb mode tun
            ip -n "$H" addr add 10.91.0.1 peer 10.91.0.2 dev tunb
            ip -n "$ns" addr add 10.91.0.2 peer 10.91.0.1 dev tunb
            ip -n "$H" link set tunb mtu 9000 up
            ip -n "$ns" link set tunb mtu 9000 up
            ip -n "$ns" route add default dev tunb
            "$build/tests/netdelay" "$H" tunb "$ns" tunb "$delay" "$loss" 2> /dev/null &
            relay=$!
            ;;
        near)
            ip link add "${tag}v" netns "$H" type veth peer name eth0 netns "$ns"
            ip -n "$H" addr add 10.91.1.1/24 dev "${tag}v"
            ip -n "$H" link set "${tag}v" up
            ip -n "$ns" addr add 10.91.1.2/24 dev eth0
            ip -n "$ns" link set eth0 up
            ip -n "$ns" route add default via 10.91.1.1
            ;;
        *) echo "netns: NODES: '$node' is neither far nor near" >&2; exit 2 ;;
    esac
done
count=$(echo $nodes | wc -w)
ip netns exec "$H" "$build/troupe" run --listen tcp://10.91.9.1:7610 --insecure \
    --nodes "$count" --wait 30 --stats "$stats" "$@" "$zpl" > "$out" 2> "$err" &
head=$!
pids=()
for node in $nodes; do
    ip netns exec "${tag}$node" "$build/troupe" node --head tcp://10.91.9.1:7610 --insecure \
        --name "$node" --cores 64 2> /dev/null &
    pids+=($!)
done
wait "$head"
rc=$?
wait "${pids[@]}"
[ "$rc" -eq 0 ] || sed 's/^/netns: head: /' "$err" | grep -v -- --insecure >&2
exit "$rc"
