#!/usr/bin/env bash
# memory: a source far faster than its consumers does not grow memory:
# every process of a 10,000,000-item map (and the supervisor) peaks below
# a fixed bound, and no higher than with 1,000,000 items, give or take
# 2 MB. Peaks are each process's VmHWM, in the --stats JSON.
. "$(dirname "$0")/lib.sh"

BOUND_KB=32768

cat > "$SCRATCH/mem.zpl" <<'ZPL'
pipeline = mem
actor = numbers
    module = seq
    out = numbers
actor = slow
    module = spin
    instances = 2
    in = numbers
    out = squares
    args
        us = 0
actor = print
    module = print
    in = squares
ZPL

peaks() { # STATS: "numbers slow print supervisor" peak KB
    /usr/bin/python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
a = {x["name"]: x["max_rss_kb"] for x in s["actors"]}
print(a["numbers"], a["slow"], a["print"], s["supervisor_max_rss_kb"])' "$1"
}

for n in 1000000 10000000; do
    "$TROUPE" run -s numbers.args.count=$n --stats "$SCRATCH/$n.json" "$SCRATCH/mem.zpl" > "$SCRATCH/out"
    expect_eq "$n items: exit code" "$?" 0
    expect_eq "$n items: all printed" "$(wc -l < "$SCRATCH/out")" "$n"
    read -r src work sink sup <<< "$(peaks "$SCRATCH/$n.json")"
    echo "   $n items: peak RSS source $src KB, worker $work KB, sink $sink KB, supervisor $sup KB"
    for kb in "$src" "$work" "$sink" "$sup"; do
        [ "$kb" -gt 0 ] && [ "$kb" -lt $BOUND_KB ] || fail "$n items: a peak of $kb KB is not below $BOUND_KB KB"
    done
    eval "peaks_$n='$src $work $sink $sup'"
done
# shellcheck disable=SC2154
read -r -a small <<< "$peaks_1000000"
# shellcheck disable=SC2154
read -r -a big <<< "$peaks_10000000"
for i in 0 1 2 3; do
    [ "${big[$i]}" -le $(( small[i] + 2048 )) ] \
        || fail "memory grows with the input: ${small[$i]} KB for 1M items, ${big[$i]} KB for 10M"
done
ok "10x the items, the same memory"

# one of the two workers stalls for a second (SIGSTOP) while the other
# goes on: the ordered sink holds what the other makes until the stalled
# one's batch closes the gap, which the source's span bound keeps to a few
# hundred KB (chan.h, CHAN_ORDER_SPAN_BYTES; unbounded, a 0.5 s stall grew
# the sink by 6 MB). Stopped from 0.2 s after the start: the run takes 2 s
# or more, so the stall falls inside it
n=10000000
: > "$SCRATCH/err"
"$TROUPE" run -v -v -s numbers.args.count=$n --stats "$SCRATCH/stall.json" "$SCRATCH/mem.zpl" \
    > "$SCRATCH/out" 2> "$SCRATCH/err" &
run=$!
wait_started "$SCRATCH/err"
sleep 0.2
victim=$(pgrep -f "^troupe: mem/slow#0" | head -1)
stalled=0
if [ -n "$victim" ] && kill -STOP "$victim" 2> /dev/null; then
    stalled=1
    sleep 1
    kill -CONT "$victim"
fi
wait_at_most "$run" 120
expect_eq "a worker stalled: exit code" "$?" 0
expect_eq "a worker stalled for 1 s" "$stalled" 1
expect_eq "a worker stalled: all printed" "$(wc -l < "$SCRATCH/out")" "$n"
read -r _ _ sink _ <<< "$(peaks "$SCRATCH/stall.json")"
echo "   a worker stalled for 1 s: peak RSS sink $sink KB"
[ "$sink" -le $(( small[2] + 2048 )) ] \
    || fail "a stalled worker grows the ordered sink: ${small[2]} KB without, $sink KB with"
expect_nothing_left mem "memory"
finish
