#!/usr/bin/env bash
# tcp: with --transport tcp every data channel runs on tcp over loopback
# (ports picked by the system, reported by each producer in READY and handed
# to its consumers in START), with CURVE (tests/curve.sh): output exact;
# the run directory holds only the control socket and the allowlist;
# killed workers come back on new ports, their consumers follow them there
# (PEER_BACK carries the new endpoint), and the output is still exact; a
# broadcast reaches every subscriber. --data-ports keeps every data socket
# in its range, workers restarted included; a range too small for the run
# is refused with a message, and so is a range on ipc.
. "$(dirname "$0")/lib.sh"

cat > "$SCRATCH/tcpwork.zpl" <<'ZPL'
pipeline = tcpwork
actor = numbers
    module = seq
    out = numbers
    args
        count = 400000
actor = work
    module = spin
    instances = 3
    in = numbers
    out = middle
    max_restarts = 1000
    args
        us = 5
actor = again
    module = square
    instances = 2
    in = middle
    out = squares
    max_restarts = 1000
actor = print
    module = print
    in = squares
ZPL

"$TROUPE" run --transport tcp -s numbers.args.count=200000 "$SRC/examples/squares.zpl" \
    > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "squares over tcp: exit code" "$?" 0
squares 200000 > "$SCRATCH/want"
expect_file_eq "squares over tcp: output exact" "$SCRATCH/out" "$SCRATCH/want"

# workers of both middle stages killed while items flow: the killed
# `work` instances are producers too, so `again` must follow them to
# their new ports. The numbers come from a fifo the test holds open, so
# that the run is still going when they are killed, however slow the
# machine (a fixed count could be over by the time the first line shows)
mkfifo "$SCRATCH/numbers.fifo"
sed -e 's/^    module = seq$/    module = jsonl_in/' \
    -e "s|^        count = 400000$|        file = $SCRATCH/numbers.fifo|" \
    "$SCRATCH/tcpwork.zpl" > "$SCRATCH/tcpfifo.zpl"
"$TROUPE" run --transport tcp "$SCRATCH/tcpfifo.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
sup=$!
exec 4<> "$SCRATCH/numbers.fifo" # read-write: never blocks, even if the run fails first
timeout 120 seq 0 199999 >&4
for _ in $(seq 600); do [ -s "$SCRATCH/out" ] && break; sleep 0.05; done
files=$(ls "$XDG_RUNTIME_DIR"/troupe-*/ 2> /dev/null | tr '\n' ' ')
grep -q "pipeline = tcpwork" "$SCRATCH/tcpfifo.zpl" && grep -q "jsonl_in" "$SCRATCH/tcpfifo.zpl" \
    || fail "tcp: the fifo-fed copy of tcpwork.zpl was not made"
expect_eq "tcp: the run directory holds only the control socket, the CURVE allowlist, what troupe top reads, the sink's checkpoints and the item slots (no data socket; the sink writes the stdout file itself)" \
    "$files" "allow ckpt-3-0 ctl info items stats "
kills=0
for victim in $(pgrep -f "^troupe: tcpwork/work#" | head -2) \
              $(pgrep -f "^troupe: tcpwork/again#" | head -1); do
    kill -KILL "$victim" && kills=$((kills + 1))
    sleep 0.1
done
timeout 120 seq 200000 399999 >&4
exec 4>&-
wait $sup
expect_eq "killed workers over tcp: exit code" "$?" 0
expect_eq "killed workers over tcp: three were killed" "$kills" 3
squares 400000 > "$SCRATCH/want"
expect_file_eq "killed workers over tcp: output exact" "$SCRATCH/out" "$SCRATCH/want"
expect_contains "killed workers over tcp: restarted" "$SCRATCH/err" "restarting"

"$TROUPE" run --transport tcp "$SRC/examples/broadcast.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "broadcast over tcp: exit code" "$?" 0
sort "$SCRATCH/out" > "$SCRATCH/got"
{ printf 'all: %d\n' 100 101 102 200 201 202; printf 'weather only: %d\n' 100 101 102; } \
    | sort > "$SCRATCH/want"
expect_file_eq "broadcast over tcp: every subscriber gets its topics" "$SCRATCH/got" "$SCRATCH/want"

# --data-ports: 5 outputs (numbers, 3 work, ... ) in a range of 12, with
# restarts; every port any instance bound is in the range
port=$(/usr/bin/python3 -c 'import random; print(random.randrange(20000, 60000))')
hi=$((port + 11))
: > "$SCRATCH/err" # emptied first: the job's own 2> may come after wait_started's first look
"$TROUPE" run -v -v --transport tcp --data-ports "$port-$hi" -s numbers.args.count=100000 \
    "$SCRATCH/tcpwork.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
sup=$!
wait_started "$SCRATCH/err"
victim=$(pgrep -f "^troupe: tcpwork/work#1")
[ -n "$victim" ] && kill -KILL "$victim"
wait $sup
expect_eq "--data-ports: exit code" "$?" 0
squares 100000 > "$SCRATCH/want"
expect_file_eq "--data-ports: output exact" "$SCRATCH/out" "$SCRATCH/want"
ports=$(grep -o 'bound at tcp://127.0.0.1:[0-9]*' "$SCRATCH/err" | sed 's/.*://')
expect_eq "--data-ports: every output bound a port (and the restarted one again)" \
    "$(echo "$ports" | wc -l)" 7
outside=$(echo "$ports" | awk -v lo="$port" -v hi="$hi" '$1 < lo || $1 > hi')
expect_eq "--data-ports: every port in $port-$hi" "$outside" ""
"$TROUPE" run --transport tcp --data-ports "$port-$((port + 1))" "$SCRATCH/tcpwork.zpl" \
    > /dev/null 2> "$SCRATCH/err"
expect_eq "--data-ports: a range smaller than the run: refused" "$?" 2
expect_contains "--data-ports: a range smaller than the run: says so" "$SCRATCH/err" \
    "(--data-ports) is taken"
"$TROUPE" run --data-ports 30000-30010 "$SCRATCH/tcpwork.zpl" > /dev/null 2> "$SCRATCH/err"
expect_eq "--data-ports on ipc: refused" "$?" 2
"$TROUPE" run --transport tcp --data-ports 30010-30000 "$SCRATCH/tcpwork.zpl" > /dev/null 2> "$SCRATCH/err"
expect_eq "--data-ports backwards: refused" "$?" 2
expect_contains "--data-ports backwards: says what it wants" "$SCRATCH/err" "is not a range LO-HI"

"$TROUPE" run --transport udp "$SRC/examples/squares.zpl" > /dev/null 2> "$SCRATCH/err"
expect_eq "--transport udp: refused" "$?" 2
expect_contains "--transport udp: says why" "$SCRATCH/err" "'udp' is not ipc or tcp"

for p in squares tcpwork broadcast; do expect_nothing_left "$p" "$p"; done
finish
