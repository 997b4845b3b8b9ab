#!/usr/bin/env bash
# lifecycle: actors show their title in ps; Ctrl-C (SIGINT) drains and
# ends the run in bounded time with exit 130 and what came out is an exact
# prefix; a second signal kills at once; a crashed worker that may not be
# restarted fails the run with its signal named; a killed supervisor takes
# its actors with it. No process and no run directory is left after any of
# these, and actors hold no descriptor of the supervisor's, as many after
# a restart as before. (Restarts themselves are tests/chaos.sh's.)
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

# --- file descriptors: nothing leaks into actors, nothing grows with restarts
nfds() { ls "/proc/$1/fd" 2> /dev/null | wc -l; }
sq0=$(pgrep -f "^troupe: long/square#0")
sq1=$(pgrep -f "^troupe: long/square#1")
fds0=$(nfds "$sq0")
sup_fds=$(nfds $sup)
expect_eq "both workers hold as many fds" "$(nfds "$sq1")" "$fds0"
[ "$fds0" -gt 0 ] && [ "$fds0" -lt 40 ] || fail "a worker holds $fds0 fds"
leaked=$(for p in $(actor_pids long); do ls -l "/proc/$p/fd" 2> /dev/null; done | grep -c "signalfd")
expect_eq "no actor holds the supervisor's signalfd" "$leaked" 0
for round in 1 2 3; do
    kill -KILL "$sq1"
    for _ in $(seq 100); do
        new=$(pgrep -f "^troupe: long/square#1")
        [ -n "$new" ] && [ "$new" != "$sq1" ] && break
        sleep 0.02
    done
    sq1=$new
    sleep 0.1
done
expect_eq "a restarted worker holds as many fds" "$(nfds "$sq1")" "$fds0"
expect_eq "the supervisor holds as many fds after 3 restarts" "$(nfds $sup)" "$sup_fds"
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

# --- Ctrl-C while a worker waits for its restart: the run still ends --------------
# every item crashes its worker (a crash loop, each restart after a
# backoff); the first item to fail (poison) drains the run; a SIGINT then
# kills at once, with an instance waiting for its restart. That instance
# used to be left waiting for a start that never came, and the run with
# it, for ever (and a head cancelled by scancel likewise).
faulty_pipeline crashloop 1000 2 segv 1 0
: > "$SCRATCH/err"
"$TROUPE" run "$SCRATCH/crashloop.zpl" > /dev/null 2> "$SCRATCH/err" &
sup=$!
for _ in $(seq 200); do grep -q "item [0-9]* failed" "$SCRATCH/err" && break; sleep 0.05; done
expect_contains "crash loop: an item failed, the run drains" "$SCRATCH/err" "failed: it killed the worker"
kill -INT $sup
wait_at_most $sup 10
code=$?
expect_eq "crash loop, then SIGINT: exit code (the failed item's)" "$code" 1
expect_nothing_left crashloop "crash loop, then SIGINT"

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
# a SIGKILLed supervisor cannot remove its run directory: the next run does
left=$(ls -A "$XDG_RUNTIME_DIR")
case "$left" in
    troupe-$sup-??????) ok "supervisor killed: its run directory stays, named for it" ;;
    *) fail "supervisor killed: run directories: '$left', want troupe-$sup-XXXXXX" ;;
esac
"$TROUPE" run -s numbers.args.count=10 "$SRC/examples/squares.zpl" > "$SCRATCH/next.out"
expect_eq "the next run: exit code" "$?" 0
expect_eq "the next run: output" "$(wc -l < "$SCRATCH/next.out")" 10
expect_nothing_left long "supervisor killed, then another run"
finish
