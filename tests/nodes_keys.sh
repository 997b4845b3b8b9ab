#!/usr/bin/env bash
# nodes_keys: CURVE and an allowlist on the node link, across hosts: a head
# (10.77.1.1) and four nodes, each in a network namespace of its own, with
# keys made by `troupe keygen`. n1 and n2 are in the head's --allow folder:
# output exact, work on all three. n3 has a key pair the head does not
# list, and n4 comes with no key (--insecure): the head refuses both and
# says so on stderr, they get no work (they never appear in the --stats
# "nodes") and exit 1 saying they were refused, and the run still completes
# exactly with the allowed ones. A head on a non-loopback address without
# keys or --insecure is refused (exit 2). Without the privilege for `ip
# netns add` it skips, saying why.
. "$(dirname "$0")/lib.sh"
command -v ip > /dev/null || { echo "skipped: no ip (iproute2)"; exit 77; }
tag="tk$$"
H="${tag}h"
if ! ip netns add "$H" 2> "$SCRATCH/netns.err"; then
    echo "skipped: cannot make network namespaces: $(cat "$SCRATCH/netns.err")"
    exit 77
fi
NODES="n1 n2 n3 n4"
cleanup() {
    main_shell || return 0
    for ns in "$H" $(for n in $NODES; do echo "${tag}$n"; done); do
        ip netns pids "$ns" 2> /dev/null | xargs -r kill -KILL 2> /dev/null
        ip netns del "$ns" 2> /dev/null
    done
    rm -rf "$SCRATCH"
}
trap cleanup EXIT
ip -n "$H" link set lo up
i=0
for n in $NODES; do
    i=$((i + 1))
    ns="${tag}$n"
    ip netns add "$ns" || { fail "ip netns add $ns"; finish; }
    ip link add "${tag}$i" netns "$H" type veth peer name eth0 netns "$ns" \
        && ip -n "$H" addr add "10.77.$i.1/24" dev "${tag}$i" \
        && ip -n "$H" link set "${tag}$i" up \
        && ip -n "$ns" addr add "10.77.$i.2/24" dev eth0 \
        && ip -n "$ns" link set eth0 up && ip -n "$ns" link set lo up \
        && ip -n "$ns" route add default via "10.77.$i.1" \
        || { fail "veth link for $n"; finish; }
done
ip netns exec "$H" sysctl -q -w net.ipv4.ip_forward=1

# keys, as on separate machines: each makes its own pair; the head's
# allowlist folder gets n1's and n2's public certificates, each node the
# head's public one
K="$SCRATCH/keys"
mkdir -p "$K/nodes"
for k in head n1 n2 n3; do
    "$TROUPE" keygen "$K/$k" > /dev/null || fail "keygen $k"
done
cp "$K/n1" "$K/n2" "$K/nodes/"

map_pipeline keyed 100000 6

EP=tcp://10.77.1.1:7600
node() { # NAME ARGS...: in its namespace, pid in $pid_NAME
    local n=$1; shift
    ip netns exec "${tag}$n" "$TROUPE" node --head $EP --name "$n" --cores 2 "$@" \
        2> "$SCRATCH/$n.err" &
    eval "pid_$n=\$!"
}

ip netns exec "$H" "$TROUPE" run --listen $EP --key "$K/head_secret" --allow "$K/nodes" \
    --nodes 2 --wait 20 --stats "$SCRATCH/stats.json" "$SCRATCH/keyed.zpl" \
    > "$SCRATCH/out" 2> "$SCRATCH/err" &
head=$!
# the refused ones first, and the allowed ones only once both have been
# refused and the head has said so: a run started before could end before
# the head reads their knock (a loaded machine delays them)
node n3 --key "$K/n3_secret" --head-key "$K/head"
node n4 --insecure
for _ in $(seq 600); do
    kill -0 "$pid_n3" 2> /dev/null || kill -0 "$pid_n4" 2> /dev/null || break
    sleep 0.05
done
kill "$pid_n3" "$pid_n4" 2> /dev/null # still there after 30 s: the checks below say so
wait $pid_n3
code_n3=$?
wait $pid_n4
code_n4=$?
for _ in $(seq 200); do
    grep -q "its key is not in the allowlist" "$SCRATCH/err" && grep -q "no CURVE handshake" "$SCRATCH/err" \
        && break
    sleep 0.05
done
node n1 --key "$K/n1_secret" --head-key "$K/head"
node n2 --key "$K/n2_secret" --head-key "$K/head"
wait $head
expect_eq "keyed: exit code" "$?" 0
squares 100000 > "$SCRATCH/want"
expect_file_eq "keyed: output exact" "$SCRATCH/out" "$SCRATCH/want"
read -r on_head on_n1 on_n2 refused < <(/usr/bin/python3 -c '
import json, sys
a = [a for a in json.load(open(sys.argv[1]))["actors"] if a["name"] == "work"][0]
nodes = a.get("nodes", {})
print(nodes.get("head", 0), nodes.get("n1", 0), nodes.get("n2", 0),
      sum(1 for k in nodes if k not in ("head", "n1", "n2")))' "$SCRATCH/stats.json")
[ "${on_head:-0}" -gt 0 ] && [ "${on_n1:-0}" -gt 0 ] && [ "${on_n2:-0}" -gt 0 ]
expect_eq "keyed: work ran on each allowed host ($on_head $on_n1 $on_n2)" "$?" 0
expect_eq "keyed: no refused node in the stats" "$refused" 0
# the address is 10.77.3.2, or "an unknown address" when n3's connection
# closed before the head asked for it (runtime/supervisor/supervisor.c, read_monitor)
grep -Eq "refused a node from (10.77.3.2|an unknown address): its key is not in the allowlist" \
    "$SCRATCH/err"
expect_eq "keyed: the head says it refused n3 (key not listed)" "$?" 0
grep -q "refused a node from [0-9a-z. ]*: no CURVE handshake" "$SCRATCH/err"
expect_eq "keyed: the head says it refused n4 (no key)" "$?" 0
grep -Eq "node 'n[34]' joined" "$SCRATCH/err"
expect_eq "keyed: no refused node joined" "$?" 1
wait $pid_n1
expect_eq "keyed: n1 ends with the run" "$?" 0
wait $pid_n2
expect_eq "keyed: n2 ends with the run" "$?" 0
expect_eq "keyed: n3 refused (exit 1)" "$code_n3" 1
expect_contains "keyed: n3 says it was refused" "$SCRATCH/n3.err" "refused this node"
expect_eq "keyed: n4 refused (exit 1)" "$code_n4" 1
expect_contains "keyed: n4 says it was refused" "$SCRATCH/n4.err" "refused this node"

# --- no keys on a non-loopback address: refused without --insecure ---------
ip netns exec "$H" "$TROUPE" run --listen $EP "$SCRATCH/keyed.zpl" > /dev/null \
    2> "$SCRATCH/err"
expect_eq "no keys off loopback: refused" "$?" 2
expect_contains "no keys off loopback: says why" "$SCRATCH/err" "--insecure"
expect_eq "no actor process left" "$(actor_pids keyed)" ""
# --- a keyed node with a /tmp of its own, its head SIGKILLed mid-run --------
# its actors, not seeing the head's allowlist folder, write their own there;
# the node, losing the head, kills and reaps them and removes what they
# could not: nothing of troupe's is left in its /tmp (issue 18; here its
# run directories' base, where troupe writes)
mkdir -p "$SCRATCH/n2tmp"
map_pipeline keyedtmp 3000000 4
ip netns exec "$H" "$TROUPE" run --listen $EP --key "$K/head_secret" --allow "$K/nodes" \
    --nodes 1 --wait 20 "$SCRATCH/keyedtmp.zpl" > "$SCRATCH/out2" 2> "$SCRATCH/err2" &
head=$!
# (the folder of its own is mounted over the run directories' base,
# XDG_RUNTIME_DIR, not /tmp, where the build and the keys may be)
ip netns exec "${tag}n2" unshare -m sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' \
    sh "$SCRATCH/n2tmp" "$XDG_RUNTIME_DIR" "$TROUPE" node --head $EP --name n2 --cores 2 \
    --key "$K/n2_secret" --head-key "$K/head" 2> "$SCRATCH/n2tmp.err" &
n2=$!
for _ in $(seq 600); do
    ls -d "$SCRATCH/n2tmp"/troupe-allow-* > /dev/null 2>&1 && [ -s "$SCRATCH/out2" ] && break
    sleep 0.05
done
had=$(ls -d "$SCRATCH/n2tmp"/troupe-allow-* 2> /dev/null | wc -l)
[ "$had" -gt 0 ]
expect_eq "a node with its own /tmp: its actors wrote their allowlist there ($had)" "$?" 0
kill -KILL $head
wait $head 2> /dev/null
wait $n2
expect_eq "its head SIGKILLed: the node exits 1" "$?" 1
expect_eq "its head SIGKILLed: no allowlist folder left in the node's /tmp" \
    "$(ls -d "$SCRATCH/n2tmp"/troupe-allow-* 2> /dev/null)" ""

finish
