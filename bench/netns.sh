#!/usr/bin/env bash
# bench/netns.sh: one run of a pipeline across a link with delay and loss.
#
#   bench/netns.sh BUILD DELAY_MS LOSS_PERCENT STATS OUT PIPELINE [troupe run options...]
#
# Two network namespaces, the head's (10.91.0.1) and a node's (10.91.0.2),
# joined by tun devices and tests/netdelay, which holds each packet
# DELAY_MS (one way: the round trip is twice it) and drops LOSS_PERCENT of
# them (this kernel has no netem). The head runs PIPELINE with --stats
# STATS, its stdout in OUT; the node announces 64 cores, so the workers
# go there and the head keeps its sources and sinks. Everything is removed
# at the end. Exit: the head's exit code; 77 without the privilege to make
# namespaces or tun devices (the reason on stderr). Used by bench/run
# --only netns.
set -u
[ $# -ge 6 ] || { echo "usage: $0 BUILD DELAY_MS LOSS_PERCENT STATS OUT PIPELINE [options]" >&2; exit 2; }
build=$1 delay=$2 loss=$3 stats=$4 out=$5 zpl=$6
shift 6
tag="tb$$"
H="${tag}h" N="${tag}n"
err=$(mktemp)
cleanup() {
    [ -n "${relay:-}" ] && kill "$relay" 2> /dev/null && wait "$relay" 2> /dev/null
    for ns in "$H" "$N"; do
        ip netns pids "$ns" 2> /dev/null | xargs -r kill -KILL 2> /dev/null
        ip netns del "$ns" 2> /dev/null
    done
    rm -f "$err"
}
trap cleanup EXIT
if ! ip netns add "$H" 2> "$err" || ! ip netns add "$N" 2> "$err" \
    || ! ip -n "$H" tuntap add dev tunb mode tun 2> "$err" \
    || ! ip -n "$N" tuntap add dev tunb mode tun 2> "$err"; then
    echo "netns: cannot make namespaces and tun devices: $(cat "$err")" >&2
    exit 77
fi
for ns in "$H" "$N"; do ip -n "$ns" link set lo up; done
ip -n "$H" addr add 10.91.0.1 peer 10.91.0.2 dev tunb
ip -n "$N" addr add 10.91.0.2 peer 10.91.0.1 dev tunb
ip -n "$H" link set tunb mtu 9000 up
ip -n "$N" link set tunb mtu 9000 up
"$build/tests/netdelay" "$H" tunb "$N" tunb "$delay" "$loss" 2> /dev/null &
relay=$!
ip netns exec "$H" "$build/troupe" run --listen tcp://10.91.0.1:7610 --insecure --nodes 1 \
    --wait 30 --stats "$stats" "$@" "$zpl" > "$out" 2> "$err" &
head=$!
ip netns exec "$N" "$build/troupe" node --head tcp://10.91.0.1:7610 --insecure --name far \
    --cores 64 2> /dev/null &
node=$!
wait "$head"
rc=$?
wait "$node"
[ "$rc" -eq 0 ] || sed 's/^/netns: head: /' "$err" | grep -v -- --insecure >&2
exit "$rc"
