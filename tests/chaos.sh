#!/usr/bin/env bash
# chaos: workers die in the middle (SIGKILL from outside every 100 ms,
# SIGSEGV or abort() inside the handler, an endless loop caught by missed
# heartbeats) and the run still exits 0 with exactly the fault-free output:
# every item once, in order, through stages that emit zero or several
# values per input and through a broadcast. A crash loop ends the run past
# the restart intensity, in bounded time.
. "$(dirname "$0")/lib.sh"
FAULTY="$BUILD/tests/faulty.so"

pipeline() { faulty_pipeline "$@"; }

# what the pipeline prints without faults: item i appears i % (fanout+1)
# times (once with fanout 0)
expected() { # COUNT FANOUT
    /usr/bin/python3 -c '
import sys
n, f = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
for i in range(n):
    c = i % (f + 1) if f else 1
    if c: out.write((str(i) + "\n") * c)
' "$1" "$2"
}

# kills a random worker of pipeline $1 every $2 seconds while process $3
# lives; the number of kills is left in $kills
kill_workers() {
    kills=0
    wait_started "$SCRATCH/err"
    while kill -0 "$3" 2> /dev/null; do
        victim=$(pgrep -f "^troupe: $1/work#" | shuf -n 1)
        [ -n "$victim" ] && kill -KILL "$victim" 2> /dev/null && kills=$((kills + 1))
        sleep "$2"
    done
}

# WHAT NAME CODE COUNT FANOUT: run NAME exited CODE 0, printed exactly the
# fault-free output of COUNT items, and restarted a worker at least once
# (their number is left in $r)
exact_with_restarts() {
    expect_eq "$1: exit code" "$3" 0
    expected "$4" "$5" > "$SCRATCH/want"
    expect_file_eq "$1: output exact" "$SCRATCH/out" "$SCRATCH/want"
    r=$(restarts_in "$SCRATCH/$2.json" work)
    [ "$r" -ge 1 ] || fail "$1: no restart counted"
}

# --- SIGKILL from outside, every 50 ms ------------------------------------------
pipeline killed 8000000 4 segv 0 2
: > "$SCRATCH/err" # emptied first: the job's own 2> may come after wait_started's first look
"$TROUPE" run -v -v --stats "$SCRATCH/killed.json" "$SCRATCH/killed.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
sup=$!
kill_workers killed 0.05 $sup
wait $sup
exact_with_restarts "SIGKILL every 50 ms ($kills kills)" killed $? 8000000 2
echo "   ($kills kills sent, $r restarts)"

# --- faults inside the handler ------------------------------------------------------
for mode in segv abort exit; do
    pipeline "$mode" 1000000 2 "$mode" 0.00002 0
    "$TROUPE" run --stats "$SCRATCH/$mode.json" "$SCRATCH/$mode.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
    exact_with_restarts "$mode in the handler" "$mode" $? 1000000 0
    expect_contains "$mode: each restart is reported" "$SCRATCH/err" ": restarting"
    echo "   ($r restarts)"
done

# --- the zygote killed: restarts start by fork+exec -------------------------------
# (the supervisor finds the zygote gone at the first restart and starts
# that one and every later one itself)
pipeline nozyg 2000000 2 segv 0.00002 0
: > "$SCRATCH/err" # emptied first: the job's own 2> may come after wait_started's first look
"$TROUPE" run -v -v --stats "$SCRATCH/nozyg.json" "$SCRATCH/nozyg.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
sup=$!
wait_started "$SCRATCH/err"
zyg=$(pgrep -f "^troupe: nozyg/\(zygote\)")
[ -n "$zyg" ] || fail "no zygote while the run is going"
kill -KILL $zyg
wait_at_most $sup 120
exact_with_restarts "zygote killed" nozyg $? 2000000 0
echo "   ($r restarts without the zygote)"

# --- a worker that stops answering --------------------------------------------------
pipeline hang 200000 2 hang 0 0
sed -i "s|^        mode = hang|        mode = hang\n        at = 123456\n        marker = $SCRATCH/hung|" "$SCRATCH/hang.zpl"
"$TROUPE" run --hang 0.5 --stats "$SCRATCH/hang.json" "$SCRATCH/hang.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "hung worker: exit code" "$?" 0
expected 200000 0 > "$SCRATCH/want"
expect_file_eq "hung worker: output exact" "$SCRATCH/out" "$SCRATCH/want"
expect_contains "hung worker: named" "$SCRATCH/err" "sent no heartbeat for"
[ -e "$SCRATCH/hung" ] || fail "hung worker: the hang never happened"

# --- a broadcast stage whose producers are killed -------------------------------------
cat > "$SCRATCH/bcast.zpl" <<ZPL
pipeline = bcast
channel = news
    type = broadcast
actor = numbers
    module = seq
    out = numbers
    args
        count = 3000000
actor = work
    module = $FAULTY
    instances = 3
    in = numbers
    out = news
    max_restarts = 100000
actor = a
    module = collect
    in = news
    args
        file = $SCRATCH/a.out
actor = b
    module = collect
    in = news
    args
        file = $SCRATCH/b.out
ZPL
: > "$SCRATCH/err" # emptied first: the job's own 2> may come after wait_started's first look
"$TROUPE" run -v -v "$SCRATCH/bcast.zpl" 2> "$SCRATCH/err" &
sup=$!
kill_workers bcast 0.1 $sup
wait $sup
expect_eq "broadcast with kills: exit code" "$?" 0
expected 3000000 0 > "$SCRATCH/want"
expect_file_eq "broadcast with kills ($kills): subscriber a exact" "$SCRATCH/a.out" "$SCRATCH/want"
expect_file_eq "broadcast with kills: subscriber b exact" "$SCRATCH/b.out" "$SCRATCH/want"

# --- failing items retried ------------------------------------------------------------
pipeline retry 20000 2 fail 0.3 0 "retries = 30"
"$TROUPE" run "$SCRATCH/retry.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "retried items: exit code" "$?" 0
expected 20000 0 > "$SCRATCH/want"
expect_file_eq "retried items: output exact" "$SCRATCH/out" "$SCRATCH/want"

# --- a crash loop: past the intensity, the run ends -------------------------------------
# (every item kills its worker: each is poison after two deaths, and
# skipped, so that the deaths go on until the intensity is reached)
pipeline loop 1000 2 segv 1 0 "on_error = skip"
sed -i 's/max_restarts = 100000/max_restarts = 5/' "$SCRATCH/loop.zpl"
start=$(date +%s%N)
"$TROUPE" run "$SCRATCH/loop.zpl" > /dev/null 2> "$SCRATCH/err"
code=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "crash loop: exit code" "$code" 1
expect_contains "crash loop: names actor, signal and intensity" "$SCRATCH/err" \
    "was killed by signal 11 (Segmentation fault); it was restarted 5 times within 5.0 s (max_restarts): giving up"
[ "$took" -lt 20000 ] || fail "crash loop: took $took ms"

# --- temporary workers are not restarted ----------------------------------------------------
pipeline temp 1000 2 abort 1 0 "restart = temporary"
"$TROUPE" run "$SCRATCH/temp.zpl" > /dev/null 2> "$SCRATCH/err"
expect_eq "temporary: exit code" "$?" 1
expect_contains "temporary: says why" "$SCRATCH/err" "actor 'work': no instance left (restart = temporary)"

# --- a temporary broadcast subscriber that dies: the others go on ------------------------
cat > "$SCRATCH/tempsub.zpl" <<ZPL
pipeline = tempsub
channel = news
    type = broadcast
actor = numbers
    module = seq
    out = news
    args
        count = 4000000
actor = fragile
    module = $FAULTY
    instances = 2
    in = news
    out = sink
    restart = temporary
actor = drop
    module = count
    in = sink
actor = b
    module = collect
    in = news
    args
        file = $SCRATCH/tempsub.out
ZPL
: > "$SCRATCH/err" # emptied first: the job's own 2> may come after wait_started's first look
"$TROUPE" run -v -v "$SCRATCH/tempsub.zpl" > /dev/null 2> "$SCRATCH/err" &
sup=$!
wait_started "$SCRATCH/err"
victim=$(pgrep -f "^troupe: tempsub/fragile#0" | head -1)
sleep 0.2
kill -KILL "$victim"
timeout 60 tail --pid=$sup -f /dev/null
if kill -0 $sup 2> /dev/null; then
    fail "temporary subscriber gone: the run hangs"
    kill -KILL $sup
fi
wait $sup
expect_eq "temporary subscriber gone: the run still ends, exit 0" "$?" 0
expected 4000000 0 > "$SCRATCH/want"
expect_file_eq "temporary subscriber gone: the other subscriber got everything" "$SCRATCH/tempsub.out" "$SCRATCH/want"

for p in killed segv abort exit hang bcast retry loop temp tempsub; do expect_nothing_left "$p" "$p"; done
finish
