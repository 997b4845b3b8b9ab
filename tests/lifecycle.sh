#!/usr/bin/env bash
# lifecycle: actors show their title in ps; Ctrl-C (SIGINT) drains and
# ends the run in bounded time with exit 130 and what came out is an exact
# prefix; a second signal kills at once; a crashed worker that may not be
# restarted fails the run with its signal named; a killed supervisor takes
# its actors with it. No process and no run directory is left after any of
# these. (Restarts are tests/chaos.sh's.)
. "$(dirname "$0")/lib.sh"

cat > "$SCRATCH/long.zpl" <<'ZPL'
pipeline = long
actor = numbers
    module = seq
    out = numbers
    args
        count = 1000000000
actor = square
    module = square
    instances = 2
    in = numbers
    out = squares
actor = print
    module = print
    in = squares
ZPL

wait_for_actors() { # PIPELINE COUNT
    for _ in $(seq 100); do
        [ "$(actor_pids "$1" | wc -l)" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

# --- process titles, then SIGINT: drain --------------------------------------
"$TROUPE" run "$SCRATCH/long.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
sup=$!
wait_for_actors long 5 || fail "actors did not start"
titles=$(ps -o args= -p "$(actor_pids long | paste -sd,)" | sort | paste -sd'|')
expect_eq "process titles" "$titles" "troupe: long/(zygote)|troupe: long/numbers#0|troupe: long/print#0|troupe: long/square#0|troupe: long/square#1"
sleep 0.3
kill -INT $sup
start=$(date +%s%N)
wait $sup
code=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "SIGINT: exit code 130" "$code" 130
[ "$took" -lt 6000 ] || fail "SIGINT: took $took ms, more than the 5 s grace"
expect_contains "SIGINT: says it drains" "$SCRATCH/err" "stopping the sources and draining"
n=$(wc -l < "$SCRATCH/out")
[ "$n" -gt 0 ] || fail "SIGINT: nothing came out before the drain"
squares "$n" > "$SCRATCH/want"
expect_file_eq "SIGINT: output is the first $n squares, none lost or torn" "$SCRATCH/out" "$SCRATCH/want"
expect_nothing_left long "SIGINT"

# --- two signals: kill at once ------------------------------------------------
cat > "$SCRATCH/slow.zpl" <<'ZPL'
pipeline = slow
actor = numbers
    module = seq
    out = numbers
    args
        count = 100000
actor = burn
    module = spin
    in = numbers
    out = done
    args
        us = 100000
actor = print
    module = print
    in = done
ZPL
"$TROUPE" run --grace 30 "$SCRATCH/slow.zpl" > /dev/null 2> "$SCRATCH/err" &
sup=$!
wait_for_actors slow 4 || fail "slow: actors did not start"
sleep 0.3
kill -TERM $sup
sleep 0.3
kill -TERM $sup
start=$(date +%s%N)
wait $sup
code=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "second signal: exit code 143" "$code" 143
[ "$took" -lt 3000 ] || fail "second signal: took $took ms to end"
expect_nothing_left slow "second signal"

# --- a worker crashes, with no restart allowed ----------------------------------------
"$TROUPE" run -s square.max_restarts=0 "$SCRATCH/long.zpl" > /dev/null 2> "$SCRATCH/err" &
sup=$!
wait_for_actors long 5 || fail "actors did not start"
victim=$(pgrep -f "^troupe: long/square#1")
kill -KILL "$victim"
wait $sup
expect_eq "crashed worker: exit code" "$?" 1
expect_contains "crashed worker: named with its signal" "$SCRATCH/err" "actor 'square' #1 (pid $victim) was killed by signal 9"
expect_nothing_left long "crashed worker"

# --- the supervisor is killed: no orphans ------------------------------------------
"$TROUPE" run "$SCRATCH/long.zpl" > /dev/null 2>&1 &
sup=$!
wait_for_actors long 5 || fail "actors did not start"
kill -KILL $sup
wait $sup 2>/dev/null
rm -rf "${XDG_RUNTIME_DIR:?}"/* # a SIGKILLed supervisor cannot clean up
expect_nothing_left long "supervisor killed"
finish
