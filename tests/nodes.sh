#!/usr/bin/env bash
# nodes: a head (troupe run --listen) and two nodes (troupe node), all on
# 127.0.0.1, run a map pipeline: output exact, and the workers' items were
# handled on the head and on both nodes (--stats JSON); `place = head`
# keeps an actor on the head (and a bad place is refused); a node SIGKILLed
# mid-run: its instances come back elsewhere, output still exact, exit 0;
# a node holding stateful instances (count x2) lost: each resumes from the
# checkpoint it sent over the node link, the total exact;
# a head SIGKILLed: its nodes notice, stop their actors and exit 1;
# --listen off loopback without keys or --insecure refused, on loopback
# allowed with a warning; a node without keys or --insecure refused. No actor, zygote or node
# process and no run directory is left (but for what a SIGKILLed process
# could not remove itself: its own run directory).
. "$(dirname "$0")/lib.sh"

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_nodes() { # PORT: starts n1 and n2, pids in $n1 and $n2
    "$TROUPE" node --head "tcp://127.0.0.1:$1" --insecure --name n1 --cores 2 \
        2> "$SCRATCH/n1.err" &
    n1=$!
    "$TROUPE" node --head "tcp://127.0.0.1:$1" --insecure --name n2 --cores 2 \
        2> "$SCRATCH/n2.err" &
    n2=$!
}

# --- a head and two nodes: exact output, work on all three ---------------
map_pipeline nodemap 100000 4
port=$(free_port)
lo=$(/usr/bin/python3 -c 'import random; print(random.randrange(20000, 60000))')
"$TROUPE" run -v -v --listen "tcp://127.0.0.1:$port" --insecure --nodes 2 --wait 20 \
    --data-ports "$lo-$((lo + 19))" --stats "$SCRATCH/stats.json" "$SCRATCH/nodemap.zpl" \
    > "$SCRATCH/out" 2> "$SCRATCH/err" &
head=$!
start_nodes "$port"
wait $head
expect_eq "head and two nodes: exit code" "$?" 0
# --data-ports holds on the nodes too: their instances' CONFIG has it
ports=$(grep -o 'bound at tcp://[0-9.]*:[0-9]*' "$SCRATCH/err" | sed 's/.*://')
expect_eq "head and two nodes: every output reported its port" "$(echo "$ports" | wc -l)" 6
expect_eq "head and two nodes: every data port in --data-ports" \
    "$(echo "$ports" | awk -v lo="$lo" -v hi="$((lo + 19))" '$1 < lo || $1 > hi')" ""
squares 100000 > "$SCRATCH/want"
expect_file_eq "head and two nodes: output exact" "$SCRATCH/out" "$SCRATCH/want"
expect_contains "--listen warns that anyone can join" "$SCRATCH/err" "anyone who can reach"
read -r on_head on_n1 on_n2 < <(items_on "$SCRATCH/stats.json" work)
[ "${on_head:-0}" -gt 0 ] && [ "${on_n1:-0}" -gt 0 ] && [ "${on_n2:-0}" -gt 0 ]
expect_eq "work ran on the head and both nodes ($on_head $on_n1 $on_n2)" "$?" 0
expect_eq "work: the places' items add up" "$((on_head + on_n1 + on_n2))" 100000
wait $n1
expect_eq "node n1 exits 0 when the head's run is over" "$?" 0
wait $n2
expect_eq "node n2 exits 0 when the head's run is over" "$?" 0
expect_nothing_left nodemap "head and two nodes"

# --- place = head keeps an actor home; place = any sends a sink out ------
port=$(free_port)
"$TROUPE" run --listen "tcp://127.0.0.1:$port" --insecure --nodes 2 --wait 20 \
    -s work.place=head -s again.place=head -s numbers.args.count=20000 \
    --stats "$SCRATCH/stats.json" "$SCRATCH/nodemap.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
head=$!
start_nodes "$port"
wait $head
expect_eq "place = head: exit code" "$?" 0
squares 20000 > "$SCRATCH/want"
expect_file_eq "place = head: output exact" "$SCRATCH/out" "$SCRATCH/want"
expect_eq "place = head: work ran on the head alone" "$(items_on "$SCRATCH/stats.json" work)" "20000 0 0"
wait $n1 $n2
printf 'pipeline = badplace\nactor = n\n    module = seq\n    out = x\n    place = moon\nactor = p\n    module = print\n    in = x\n' \
    > "$SCRATCH/badplace.zpl"
"$TROUPE" check "$SCRATCH/badplace.zpl" > /dev/null 2> "$SCRATCH/err"
expect_eq "place = moon: refused" "$?" 2
expect_contains "place = moon: says why" "$SCRATCH/err" "'moon' is not head or any"
expect_nothing_left nodemap "place = head"

# --- a node SIGKILLed mid-run --------------------------------------------
map_pipeline nodekill 400000 4
port=$(free_port)
"$TROUPE" run --listen "tcp://127.0.0.1:$port" --insecure --nodes 2 --wait 20 \
    "$SCRATCH/nodekill.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
head=$!
start_nodes "$port"
for _ in $(seq 300); do [ -s "$SCRATCH/out" ] && break; sleep 0.05; done
sleep 0.2
kill -KILL $n1
wait $head
expect_eq "a node killed mid-run: exit code" "$?" 0
squares 400000 > "$SCRATCH/want"
expect_file_eq "a node killed mid-run: output exact" "$SCRATCH/out" "$SCRATCH/want"
expect_contains "a node killed mid-run: the head says so" "$SCRATCH/err" "node 'n1' lost"
expect_contains "a node killed mid-run: how many instances it held" "$SCRATCH/err" \
    "instance(s) ran there"
expect_eq "a node killed mid-run: its instances' deaths are not crashes" \
    "$(grep -c ': restarting' "$SCRATCH/err")" 0
wait $n1
wait $n2
expect_eq "the other node exits 0" "$?" 0
# a SIGKILLed node cannot remove its own run directory: only that one stays
left=$(cd "$XDG_RUNTIME_DIR" && ls -d troupe-node-* 2> /dev/null | wc -l)
expect_eq "a node killed mid-run: only its run directory stays" "$left" 1
rm -rf "$XDG_RUNTIME_DIR"/troupe-node-*
expect_nothing_left nodekill "a node killed mid-run"

# --- a node holding more instances of one actor than its max_restarts ----
# (the default 10) lost: one event, the node's, not 14 crashes; the run
# goes on, exact, exit 0 (it used to give up: "restarted 10 times")
cat > "$SCRATCH/nodemany.zpl" <<ZPL
pipeline = nodemany
actor = numbers
    module = seq
    out = numbers
    args
        count = 300000
actor = work
    module = spin
    instances = 18
    in = numbers
    out = squares
    args
        us = 20
actor = print
    module = print
    in = squares
ZPL
port=$(free_port)
"$TROUPE" run --listen "tcp://127.0.0.1:$port" --insecure --nodes 2 --wait 20 \
    --stats "$SCRATCH/many.json" "$SCRATCH/nodemany.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
head=$!
"$TROUPE" node --head "tcp://127.0.0.1:$port" --insecure --name n1 --cores 16 \
    2> "$SCRATCH/n1.err" &
n1=$!
"$TROUPE" node --head "tcp://127.0.0.1:$port" --insecure --name n2 --cores 2 \
    2> "$SCRATCH/n2.err" &
n2=$!
for _ in $(seq 300); do [ -s "$SCRATCH/out" ] && break; sleep 0.05; done
sleep 0.2
kill -KILL $n1
wait $head
expect_eq "a node of 14 instances lost: exit code" "$?" 0
seq 0 299999 > "$SCRATCH/want"
expect_file_eq "a node of 14 instances lost: output exact" "$SCRATCH/out" "$SCRATCH/want"
held=$(sed -n "s/.*node 'n1' lost: .*; \([0-9]*\) instance(s) ran there.*/\1/p" "$SCRATCH/err")
[ "${held:-0}" -gt 10 ]
expect_eq "a node of 14 instances lost: it held more than max_restarts ($held)" "$?" 0
expect_eq "a node of 14 instances lost: no restart counted" \
    "$(grep -c ': restarting' "$SCRATCH/err")" 0
wait $n1
wait $n2
rm -rf "$XDG_RUNTIME_DIR"/troupe-node-*
expect_nothing_left nodemany "a node of 14 instances lost"

# --- a node asked to leave (SIGTERM) mid-run: a drain, not a loss ----------
# its workers hand on what they took and start elsewhere; the node leaves
# with exit 0; no restart counted, nothing lost, output exact
map_pipeline nodedrain 400000 4
port=$(free_port)
"$TROUPE" run --listen "tcp://127.0.0.1:$port" --insecure --nodes 2 --wait 20 \
    --stats "$SCRATCH/drain.json" "$SCRATCH/nodedrain.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
head=$!
start_nodes "$port"
for _ in $(seq 300); do [ -s "$SCRATCH/out" ] && break; sleep 0.05; done
sleep 0.2
kill -TERM $n1
wait $n1
expect_eq "a node asked to leave: it exits 0 once its work has moved" "$?" 0
wait $head
expect_eq "a node asked to leave: the run's exit code" "$?" 0
squares 400000 > "$SCRATCH/want"
expect_file_eq "a node asked to leave: output exact" "$SCRATCH/out" "$SCRATCH/want"
expect_contains "a node asked to leave: the head says so" "$SCRATCH/err" "node 'n1' leaves"
expect_contains "a node asked to leave: the node says so" "$SCRATCH/n1.err" "left the run"
expect_eq "a node asked to leave: not a loss" "$(grep -c "node 'n1' lost" "$SCRATCH/err")" 0
expect_eq "a node asked to leave: no restart counted" \
    "$(/usr/bin/python3 -c 'import json,sys; print(sum(a["restarts"] for a in json.load(open(sys.argv[1]))["actors"]))' "$SCRATCH/drain.json")" 0
wait $n2
expect_eq "a node asked to leave: the other node exits 0" "$?" 0
expect_nothing_left nodedrain "a node asked to leave"

# --- a node holding stateful instances lost: their state comes back ------
# count x2 is a worker (in and out), so it is placed on the node; when the
# node dies each count resumes, on the head, from the last checkpoint it
# sent over the node link, and the total is still exact
cat > "$SCRATCH/nodestate.zpl" <<ZPL
pipeline = nodestate
actor = numbers
    module = seq
    out = numbers
    args
        count = 20000000
actor = work
    module = square
    instances = 2
    in = numbers
    out = squares
actor = cnt
    module = count
    instances = 2
    in = squares
    out = counts
actor = total
    module = sum
    in = counts
    out = total
actor = show
    module = print
    in = total
ZPL
port=$(free_port)
: > "$SCRATCH/err" # emptied first: the job's own 2> may come after wait_started's first look
"$TROUPE" run -v -v --listen "tcp://127.0.0.1:$port" --insecure --nodes 1 --wait 20 \
    --stats "$SCRATCH/nodestate.json" "$SCRATCH/nodestate.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
head=$!
"$TROUPE" node --head "tcp://127.0.0.1:$port" --insecure --name n1 --cores 4 \
    2> "$SCRATCH/n1.err" &
n1=$!
wait_started "$SCRATCH/err"
sleep 0.5
kill -KILL $n1
wait_at_most $head 120
expect_eq "a node holding counts lost: exit code" "$?" 0
expect_eq "a node holding counts lost: the total is exact" "$(cat "$SCRATCH/out")" 20000000
read -r _ cnt_on_n1 _ < <(items_on "$SCRATCH/nodestate.json" cnt)
[ "${cnt_on_n1:-0}" -gt 0 ]
expect_eq "a node holding counts lost: a count ran there ($cnt_on_n1 items)" "$?" 0
expect_contains "a node holding counts lost: the head says so" "$SCRATCH/err" "node 'n1' lost"
wait $n1 2> /dev/null
rm -rf "$XDG_RUNTIME_DIR"/troupe-node-*
expect_nothing_left nodestate "a node holding counts lost"

# --- a node that joins after the start takes work from then on -----------
# The items come through a fifo: half of them, then, once n2 has joined,
# the rest, so that the run is still going when n2 comes whatever the
# machine's load (jsonl_in reads the run's stdin).
map_pipeline nodelate 400000 4
sed -i 's/^    module = seq$/    module = jsonl_in/; /^    args$/{N; /count = 400000/d}' "$SCRATCH/nodelate.zpl"
mkfifo "$SCRATCH/late.fifo"
port=$(free_port)
: > "$SCRATCH/err" # emptied first: the job's own 2> may come after wait_started's first look
"$TROUPE" run -v -v --listen "tcp://127.0.0.1:$port" --insecure --nodes 1 --wait 20 \
    --stats "$SCRATCH/stats.json" "$SCRATCH/nodelate.zpl" < "$SCRATCH/late.fifo" \
    > "$SCRATCH/out" 2> "$SCRATCH/err" &
head=$!
{
    seq 0 199999
    for _ in $(seq 400); do grep -q "node 'n2' joined" "$SCRATCH/err" && break; sleep 0.05; done
    seq 200000 399999
} > "$SCRATCH/late.fifo" &
feeder=$!
"$TROUPE" node --head "tcp://127.0.0.1:$port" --insecure --name n1 --cores 2 \
    2> "$SCRATCH/n1.err" &
n1=$!
wait_started "$SCRATCH/err"
"$TROUPE" node --head "tcp://127.0.0.1:$port" --insecure --name n2 --cores 2 \
    2> "$SCRATCH/n2.err" &
n2=$!
wait $head
wait $feeder
expect_eq "a late node: exit code" "$?" 0
squares 400000 > "$SCRATCH/want"
expect_file_eq "a late node: output exact" "$SCRATCH/out" "$SCRATCH/want"
read -r on_head on_n1 on_n2 < <(items_on "$SCRATCH/stats.json" work)
[ "${on_n2:-0}" -gt 0 ]
expect_eq "a late node took work ($on_head $on_n1 $on_n2)" "$?" 0
# a moved instance retires (it hands on what it took) and its last
# counters count where it ran: killed, what it did since its last
# heartbeat was missing (19,375,216 of 20M shown)
expect_eq "a late node: the per-place counts add up to every item" \
    "$(( ${on_head:-0} + ${on_n1:-0} + ${on_n2:-0} ))" 400000
expect_contains "a late node: instances moved to it" "$SCRATCH/err" "moves to a node that joined"
expect_eq "a late node: moves are not restarts" "$(grep -c ': restarting' "$SCRATCH/err")" 0
wait $n1 $n2
expect_nothing_left nodelate "a late node"

# --- the head SIGKILLed: nodes notice and exit 1 -------------------------
map_pipeline nodelost 100000000 4
port=$(free_port)
"$TROUPE" run --listen "tcp://127.0.0.1:$port" --insecure --nodes 2 --wait 20 \
    "$SCRATCH/nodelost.zpl" > /dev/null 2> "$SCRATCH/err" &
head=$!
start_nodes "$port"
for _ in $(seq 200); do
    [ "$(pgrep -f "^troupe: nodelost/work#" | wc -l)" -ge 4 ] && break
    sleep 0.05
done
sleep 0.5
kill -KILL $head
wait $head 2> /dev/null
t0=$(date +%s)
wait $n1
expect_eq "head lost: node n1 exits 1" "$?" 1
wait $n2
expect_eq "head lost: node n2 exits 1" "$?" 1
expect_eq "head lost: the nodes noticed within 10 s" "$(( $(date +%s) - t0 <= 10 ))" 1
expect_contains "head lost: the node says so" "$SCRATCH/n1.err" "lost the head"

# --- a head never reached (nothing listens at the port): said as such ------
port=$(free_port)
"$TROUPE" node --head "tcp://127.0.0.1:$port" --insecure --name nowhere --wait 1 \
    2> "$SCRATCH/nowhere.err"
expect_eq "a head never reached: exit code" "$?" 1
expect_contains "a head never reached: says so, and where" "$SCRATCH/nowhere.err" \
    "could not reach the head at tcp://127.0.0.1:$port"
grep -q "lost the head" "$SCRATCH/nowhere.err" && fail "a head never reached: called lost"
left=$(cd "$XDG_RUNTIME_DIR" && ls -d troupe-node-* 2> /dev/null | wc -l)
expect_eq "head lost: the nodes removed their run directories" "$left" 0
rm -rf "$XDG_RUNTIME_DIR"/troupe-* # the head's, which it could not remove
expect_nothing_left nodelost "head lost"

# --- without keys: --insecure off loopback, a warning on it ---------------
"$TROUPE" run --listen "tcp://10.255.255.1:$(free_port)" "$SCRATCH/nodemap.zpl" \
    > /dev/null 2> "$SCRATCH/err"
expect_eq "--listen off loopback without keys or --insecure: refused" "$?" 2
expect_contains "--listen off loopback without keys: says why" "$SCRATCH/err" \
    "not a loopback address"
"$TROUPE" run --listen "tcp://127.0.0.1:$(free_port)" --nodes 0 "$SCRATCH/nodemap.zpl" \
    > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "--listen on loopback without keys: runs" "$?" 0
expect_contains "--listen on loopback without keys: warns" "$SCRATCH/err" \
    "anyone on this machine can join"
"$TROUPE" run --listen "tcp://127.0.0.1:$(free_port)" --key "$SCRATCH/none_secret" \
    "$SCRATCH/nodemap.zpl" > /dev/null 2> "$SCRATCH/err"
expect_eq "--key without --allow: refused" "$?" 2
"$TROUPE" node --head "tcp://127.0.0.1:$(free_port)" > /dev/null 2> "$SCRATCH/err"
expect_eq "node without keys or --insecure: refused" "$?" 2
"$TROUPE" node --head "tcp://127.0.0.1:$(free_port)" --key "$SCRATCH/none_secret" \
    > /dev/null 2> "$SCRATCH/err"
expect_eq "node --key without --head-key: refused" "$?" 2
"$TROUPE" run --listen "tcp://*:$(free_port)" --insecure "$SCRATCH/nodemap.zpl" \
    > /dev/null 2> "$SCRATCH/err"
expect_eq "--listen on a wildcard: refused" "$?" 2
expect_nothing_left nodemap "refusals"

# --- setup failing after the zygote started (--listen on a port in use) --
# exits 1 at once, naming the address, instead of waiting for ever on its
# zygote (a bug: every child was waited for, the zygote included)
exec 3< <(/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(120)')
busy_pid=$!
read -r busy <&3
timeout 30 "$TROUPE" run --listen "tcp://127.0.0.1:$busy" --insecure "$SCRATCH/nodemap.zpl" \
    > /dev/null 2> "$SCRATCH/err"
expect_eq "--listen on a port in use: exit code (124: it hung)" "$?" 1
expect_contains "--listen on a port in use: says so" "$SCRATCH/err" \
    "cannot listen on tcp://127.0.0.1:$busy"
kill "$busy_pid" 2> /dev/null
exec 3<&-
expect_nothing_left nodemap "a port in use"
finish
