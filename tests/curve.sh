#!/usr/bin/env bash
# curve: with --transport tcp every data socket is CURVE, with a key pair
# made for the run, and a producer admits only the keys of its allowlist
# (czmq's zauth). An outsider that connects to a producer's port during a
# run and says HELLO gets no batch, whether it speaks in the clear, with
# CURVE and a key pair of its own, or with the wrong server key; the output
# stays exact. The same outsider, once its public key is in the run's
# allowlist folder, does get batches: so the probe works, and what admits
# is the folder. No payload byte crosses the loopback in the clear (when
# this test may capture frames). czmq is mapped by a tcp run's producers
# only: not by its sinks, and by no actor of an ipc run.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
PROBE="$SRC/tests/curve_probe.py"
"$PY" -c "import zmq, msgpack; assert zmq.has('curve')" 2> /dev/null \
    || { echo "pyzmq with CURVE, or msgpack, missing: skipped"; exit 77; }

# long enough for the probes (spin burns 250 us of CPU per item)
cat > "$SCRATCH/curvework.zpl" <<'ZPL'
pipeline = curvework
actor = numbers
    module = seq
    out = numbers
    args
        count = 20000
actor = work
    module = spin
    in = numbers
    out = middle
    args
        us = 250
actor = print
    module = print
    in = middle
ZPL
seq 0 19999 > "$SCRATCH/want"

# start_run NAME TRANSPORT: runs curvework in the background with -v -v
# (which says where each output is bound, the run key and the allowlist
# folder), and waits until items flow
start_run() {
    "$TROUPE" run --transport "$2" -v -v "$SCRATCH/curvework.zpl" \
        > "$SCRATCH/$1.out" 2> "$SCRATCH/$1.err" &
    sup=$!
    for _ in $(seq 400); do [ -s "$SCRATCH/$1.out" ] && break; sleep 0.05; done
    endpoint=$(sed -n "s/.*actor 'numbers' #0: output 'numbers' bound at //p" "$SCRATCH/$1.err")
    key=$(sed -n "s/.*CURVE on every data socket: run key \(.*\), allowlist .*/\1/p" "$SCRATCH/$1.err")
    allow=$(sed -n "s/.*CURVE on every data socket: run key .*, allowlist //p" "$SCRATCH/$1.err")
}

# maps_czmq PID: how many lines of the process's memory map are libczmq
maps_czmq() {
    grep -c libczmq "/proc/$1/maps" 2> /dev/null
}

# ---- outsiders during a run --------------------------------------------------------
start_run probed tcp
expect_eq "tcp run: a producer reports a tcp endpoint" "${endpoint%:*}" "tcp://127.0.0.1"
expect_eq "tcp run: the run key is a Z85 key" "${#key}" 40
expect_eq "tcp run: the allowlist folder is private" "$(stat -c %a "$allow" 2> /dev/null)" 700
expect_eq "tcp run: the allowlist holds the run key alone, as a zcert public certificate" \
    "$(cat "$allow"/* 2> /dev/null | grep -cF "public-key = \"$key\"")/$(ls "$allow" | wc -l)" "1/1"
source_pid=$(pgrep -f "^troupe: curvework/numbers#0")
sink_pid=$(pgrep -f "^troupe: curvework/print#0")
expect_eq "tcp run: a producer maps czmq (for zauth)" "$([ "$(maps_czmq "$source_pid")" -gt 0 ] && echo yes)" yes
expect_eq "tcp run: a sink (a CURVE client only) does not map czmq" "$(maps_czmq "$sink_pid")" 0
# the three at once, so that the run is surely still going
probes=()
for mode in plain stranger wrongserver; do
    timeout -s KILL 20 "$PY" "$PROBE" intrude "$endpoint" $mode "$key" "$allow" 1.5 \
        > "$SCRATCH/probe-$mode" &
    probes+=($!)
done
wait "${probes[@]}"
expect_eq "the probes ran while the run was going" "$(kill -0 $sup 2> /dev/null && echo yes)" yes
expect_eq "an outsider without CURVE gets no batch" "$(cat "$SCRATCH/probe-plain")" "batches 0"
expect_eq "an outsider with CURVE, the run's server key and a key pair not on the allowlist gets no batch" \
    "$(cat "$SCRATCH/probe-stranger")" "batches 0"
expect_eq "an outsider with the wrong server key gets no batch" \
    "$(cat "$SCRATCH/probe-wrongserver")" "batches 0"
wait_at_most $sup 60
expect_eq "probed run: exit code" "$?" 0
expect_file_eq "probed run: output exact" "$SCRATCH/probed.out" "$SCRATCH/want"

# ---- the same outsider, allowed ---------------------------------------------------------
start_run allowed tcp
timeout -s KILL 20 "$PY" "$PROBE" intrude "$endpoint" listed "$key" "$allow" 2 \
    > "$SCRATCH/probe-listed"
got=$(sed -n 's/^batches //p' "$SCRATCH/probe-listed")
expect_eq "an outsider whose key is put on the allowlist gets batches" "$([ "${got:-0}" -gt 0 ] && echo yes)" yes
wait_at_most $sup 60
expect_eq "allowed outsider: the run still ends well" "$?" 0
expect_eq "allowed outsider: it took items away from the output" \
    "$([ "$(wc -l < "$SCRATCH/allowed.out")" -lt 20000 ] && echo yes)" yes

# ---- ipc: no czmq in any actor ----------------------------------------------------------
start_run plainipc ipc
expect_eq "ipc run: no CURVE" "$key" ""
pids=$(pgrep -f "^troupe: curvework/[a-z]+#[0-9]+$") # not the zygote
expect_eq "ipc run: three actor processes" "$(echo "$pids" | wc -w)" 3
zmq_maps=0 czmq_maps=0
for p in $pids; do
    zmq_maps=$((zmq_maps + $(grep -c libzmq "/proc/$p/maps")))
    czmq_maps=$((czmq_maps + $(maps_czmq "$p")))
done
expect_eq "ipc run: the actors' maps are readable (libzmq is in them)" "$([ $zmq_maps -gt 0 ] && echo yes)" yes
expect_eq "ipc run: no actor maps czmq" "$czmq_maps" 0
wait_at_most $sup 60
expect_eq "ipc run: exit code" "$?" 0
expect_file_eq "ipc run: output exact" "$SCRATCH/plainipc.out" "$SCRATCH/want"

# ---- nothing in the clear on the loopback ------------------------------------------------
marker=curve-cleartext-marker
for i in $(seq 500); do echo "$marker-$i"; done > "$SCRATCH/words.txt"
cat > "$SCRATCH/curvelines.zpl" <<ZPL
pipeline = curvelines
actor = read
    module = lines
    out = lines
    args
        file = $SCRATCH/words.txt
actor = print
    module = print
    in = lines
ZPL
"$PY" "$PROBE" sniff "$marker" "$SCRATCH/lines.out" -- \
    "$TROUPE" run --transport tcp "$SCRATCH/curvelines.zpl" > "$SCRATCH/sniff" 2> "$SCRATCH/sniff.err"
if [ $? -eq 77 ]; then
    echo "skipped: cannot capture frames on lo ($(cat "$SCRATCH/sniff"))"
else
    expect_eq "sniffed run: exit code" "$(sed -n 's/^exit //p' "$SCRATCH/sniff")" 0
    expect_file_eq "sniffed run: output exact" "$SCRATCH/lines.out" "$SCRATCH/words.txt"
    expect_eq "the capture sees a plain tcp send on lo (the control)" \
        "$([ "$(sed -n 's/^control-marker //p' "$SCRATCH/sniff")" -gt 0 ] && echo yes)" yes
    expect_eq "no item crosses the loopback in the clear" \
        "$(sed -n 's/^run-marker //p' "$SCRATCH/sniff")" 0
fi

for p in curvework curvelines; do expect_nothing_left "$p" "$p"; done
finish
