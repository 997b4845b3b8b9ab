#!/usr/bin/env bash
# progress: a run shows how far it has come on stderr, and only where it
# should. Under a pseudo-terminal (util-linux script) a source with a known
# total gives a bar with a percentage and the total, one without gives a
# running count, and the bar is erased at the end; off a terminal nothing
# but with --progress, which writes plain lines; -q and a pool show none.
# Modules' lines carry their level and go with -q. The output stays exact
# throughout. The runs are slow by CPU time (spin), never by the clock, so
# each lasts long enough for the bar (half a second) and for a plain line
# (a second) however loaded the machine is.
. "$(dirname "$0")/lib.sh"
export TROUPE_MODULE_PATH="$BUILD/actors"
CHATTY="$BUILD/tests/chatty.so"
ESC=$(printf '\033')
CR=$(printf '\r')

# SOURCE_MODULE NAME: seq or chatty -> spin (400 items, 5 ms each: 2 s of
# CPU on one worker) -> print
slow_pipeline() {
    cat > "$SCRATCH/$2.zpl" <<ZPL
pipeline = $2
actor = numbers
    module = $1
    instances = 2
    out = numbers
    args
        count = 400
actor = work
    module = spin
    in = numbers
    out = results
    args
        us = 5000
actor = print
    module = print
    in = results
ZPL
}
slow_pipeline seq known
slow_pipeline "$CHATTY" unknown
seq 0 399 > "$SCRATCH/want"

# under_tty NAME ARGS...: troupe run ARGS with stderr on a pseudo-terminal
# (its bytes in $SCRATCH/NAME.tty) and stdout in $SCRATCH/NAME.out
under_tty() {
    local name=$1
    shift
    script -qfec "$TROUPE run $* > $SCRATCH/$name.out" /dev/null < /dev/null \
        > "$SCRATCH/$name.tty" &
    wait_at_most $! 60
}

# no_bar_bytes WHAT FILE: no carriage return and no escape in FILE
no_bar_bytes() {
    if grep -q "[$CR$ESC]" "$2"; then
        fail "$1: bar bytes in $(cat -v "$2" | head -c 300)"
    else
        ok "$1"
    fi
}

# ---- on a terminal --------------------------------------------------------------
under_tty known "$SCRATCH/known.zpl"
expect_eq "terminal, known total: exit code" "$?" 0
expect_file_eq "terminal, known total: output" "$SCRATCH/known.out" "$SCRATCH/want"
if grep -aqE '\] +[0-9]{1,3}%  +[0-9]+/400 items  +[0-9,]+/s  ETA [0-9?]' "$SCRATCH/known.tty"; then
    ok "terminal, known total: a bar with a percentage and the total"
else
    fail "terminal, known total: no bar in: $(cat -v "$SCRATCH/known.tty" | head -c 400)"
fi
expect_contains "terminal, known total: redrawn in place" "$SCRATCH/known.tty" "$CR["
expect_eq "terminal: the bar is erased at the end" \
    "$(tail -c 4 "$SCRATCH/known.tty" | od -An -c | tr -s ' ')" ' \r 033 [ K'

under_tty unknown "$SCRATCH/unknown.zpl"
expect_eq "terminal, no total: exit code" "$?" 0
expect_file_eq "terminal, no total: output" "$SCRATCH/unknown.out" "$SCRATCH/want"
if grep -aqE "$CR[0-9,]+ items  [0-9,]+/s  [0-9]+:[0-9]{2} elapsed" "$SCRATCH/unknown.tty"; then
    ok "terminal, no total: a running count"
else
    fail "terminal, no total: no running count in: $(cat -v "$SCRATCH/unknown.tty" | head -c 400)"
fi
if grep -aq '%' "$SCRATCH/unknown.tty"; then
    fail "terminal, no total: a percentage: $(cat -v "$SCRATCH/unknown.tty" | head -c 400)"
else
    ok "terminal, no total: no percentage"
fi
# a module's line erases the bar it would land on, and has its level
if grep -aqE "$CR$ESC\[K[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} unknown/numbers#1: info: chatty 1 of 2, 400 items" \
    "$SCRATCH/unknown.tty"; then
    ok "terminal: a module's info line, erasing the bar first"
else
    fail "terminal: no info line of chatty#1 in: $(cat -v "$SCRATCH/unknown.tty" | head -c 400)"
fi

under_tty off --no-progress "$SCRATCH/known.zpl"
expect_eq "terminal, --no-progress: exit code" "$?" 0
expect_file_eq "terminal, --no-progress: output" "$SCRATCH/off.out" "$SCRATCH/want"
expect_eq "terminal, --no-progress: nothing on stderr" "$(cat "$SCRATCH/off.tty")" ""

under_tty quiet -q "$SCRATCH/unknown.zpl"
expect_eq "terminal, -q: exit code" "$?" 0
expect_file_eq "terminal, -q: output" "$SCRATCH/quiet.out" "$SCRATCH/want"
expect_eq "terminal, -q: no bar, no module lines" "$(cat "$SCRATCH/quiet.tty")" ""

# ---- not a terminal -----------------------------------------------------------
"$TROUPE" run "$SCRATCH/known.zpl" > "$SCRATCH/plain.out" 2> "$SCRATCH/plain.err"
expect_eq "no terminal: exit code" "$?" 0
expect_file_eq "no terminal: output" "$SCRATCH/plain.out" "$SCRATCH/want"
no_bar_bytes "no terminal: no bar" "$SCRATCH/plain.err"
expect_eq "no terminal: nothing on stderr" "$(cat "$SCRATCH/plain.err")" ""

"$TROUPE" run --progress "$SCRATCH/known.zpl" > "$SCRATCH/lines.out" 2> "$SCRATCH/lines.err"
expect_eq "--progress: exit code" "$?" 0
expect_file_eq "--progress: output" "$SCRATCH/lines.out" "$SCRATCH/want"
no_bar_bytes "--progress: plain lines, no bar" "$SCRATCH/lines.err"
if grep -qE '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} troupe: known: progress: [0-9]+/400 items \([0-9]{1,3}%\), [0-9]+/s, ETA ([0-9]+|\?) s?' \
    "$SCRATCH/lines.err"; then
    ok "--progress: a line with the known total"
else
    fail "--progress: no progress line in: $(head -5 "$SCRATCH/lines.err")"
fi
expect_eq "--progress: nothing but progress lines" \
    "$(grep -vc ' troupe: known: progress: ' "$SCRATCH/lines.err")" 0

"$TROUPE" run --progress "$SCRATCH/unknown.zpl" > "$SCRATCH/count.out" 2> "$SCRATCH/count.err"
expect_eq "--progress, no total: exit code" "$?" 0
expect_file_eq "--progress, no total: output" "$SCRATCH/count.out" "$SCRATCH/want"
if grep -qE ' troupe: unknown: progress: [0-9]+ items, [0-9]+/s, [0-9]+ s elapsed$' \
    "$SCRATCH/count.err"; then
    ok "--progress, no total: a running count"
else
    fail "--progress, no total: no progress line in: $(head -5 "$SCRATCH/count.err")"
fi
# modules' lines: info and warning, one each per instance, without escapes
expect_eq "modules' lines: info, with the level" \
    "$(grep -cE ' unknown/numbers#[01]: info: chatty [01] of 2, 400 items$' "$SCRATCH/count.err")" 2
expect_eq "modules' lines: warning, with the level" \
    "$(grep -cE ' unknown/numbers#[01]: warning: chatty says nothing of its total$' \
        "$SCRATCH/count.err")" 2
no_bar_bytes "modules' lines off a terminal: no escapes" "$SCRATCH/count.err"

"$TROUPE" run -q --progress "$SCRATCH/unknown.zpl" > "$SCRATCH/q.out" 2> "$SCRATCH/q.err"
expect_eq "-q --progress: exit code" "$?" 0
expect_file_eq "-q --progress: output" "$SCRATCH/q.out" "$SCRATCH/want"
expect_eq "-q --progress: stderr empty (no progress, no module lines)" \
    "$(cat "$SCRATCH/q.err")" ""

# ---- a pool (the embedding API) ------------------------------------------------
# its supervisor runs embedded: no bar even on a terminal. cpu_bound maps
# 200 items of 4 ms on one worker, then on one per core: over a second.
script -qfec "$BUILD/examples/cpu_bound 200 4000 > $SCRATCH/pool.out" /dev/null \
    < /dev/null > "$SCRATCH/pool.tty" &
wait_at_most $! 60
expect_eq "pool: exit code" "$?" 0
expect_contains "pool: its output" "$SCRATCH/pool.out" "speedup"
expect_eq "pool on a terminal: nothing on stderr" "$(cat "$SCRATCH/pool.tty")" ""

expect_nothing_left known "progress"
expect_nothing_left unknown "progress"
finish
