#!/usr/bin/env bash
# channels: many-to-many pipes (two sources, two different consumer actors
# with several instances, one pipe between them) deliver every item exactly
# once; a broadcast reaches every instance of every subscriber; an actor
# with two outputs sends each value to both.
. "$(dirname "$0")/lib.sh"

cat > "$SCRATCH/m2m.zpl" <<'ZPL'
pipeline = m2m
actor = low
    module = seq
    out = nums
    args
        count = 30000
actor = high
    module = seq
    out = nums
    args
        start = 30000
        count = 30000
actor = sq_a
    module = square
    instances = 2
    in = nums
    out = squares
actor = sq_b
    module = square
    instances = 3
    in = nums
    out = squares
actor = show
    module = print
    in = squares
    ordered = false
ZPL
"$TROUPE" run --stats "$SCRATCH/m2m.json" "$SCRATCH/m2m.zpl" > "$SCRATCH/out"
expect_eq "many-to-many pipe: exit code" "$?" 0
sort -n "$SCRATCH/out" > "$SCRATCH/got"
squares 60000 | sort -n > "$SCRATCH/want"
expect_file_eq "many-to-many pipe: every item once" "$SCRATCH/got" "$SCRATCH/want"
both=$(/usr/bin/python3 -c '
import json, sys
a = {x["name"]: x["items_in"] for x in json.load(open(sys.argv[1]))["actors"]}
print(a["sq_a"] > 0 and a["sq_b"] > 0, a["sq_a"] + a["sq_b"])' "$SCRATCH/m2m.json")
expect_eq "many-to-many pipe: both consumer actors took a share" "$both" "True 60000"

cat > "$SCRATCH/fan.zpl" <<ZPL
pipeline = fan
channel = all
    type = broadcast
actor = nums
    module = seq
    out = all, copy
    args
        count = 1000
actor = counters
    module = count
    instances = 3
    in = all
    out = counts
actor = sum
    module = sum
    in = counts
    out = total
actor = show
    module = print
    in = total
actor = keep
    module = collect
    in = copy
    args
        file = $SCRATCH/copy.txt
ZPL
"$TROUPE" run "$SCRATCH/fan.zpl" > "$SCRATCH/out"
expect_eq "broadcast + two outputs: exit code" "$?" 0
expect_eq "broadcast: each of 3 instances counted all 1000" "$(cat "$SCRATCH/out")" 3000
seq 0 999 > "$SCRATCH/want"
expect_file_eq "second output: every value, in order" "$SCRATCH/copy.txt" "$SCRATCH/want"
for p in m2m fan; do expect_nothing_left "$p" "$p"; done
finish
