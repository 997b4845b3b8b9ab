#!/usr/bin/env bash
# squares: examples/squares.zpl prints exactly what Python prints for
# i*i over range(10**6), exits 0, and its counters add up.
. "$(dirname "$0")/lib.sh"

"$TROUPE" run --stats "$SCRATCH/stats.json" "$SRC/examples/squares.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "exit code" "$?" 0
squares 1000000 > "$SCRATCH/want"
expect_file_eq "1M squares in input order" "$SCRATCH/out" "$SCRATCH/want"
expect_eq "nothing on stderr" "$(cat "$SCRATCH/err")" ""

counts=$(/usr/bin/python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
a = {x["name"]: x for x in s["actors"]}
print(s["exit"], a["numbers"]["items_out"], a["square"]["items_in"], a["square"]["items_out"],
      a["print"]["items_in"], a["square"]["instances"], sum(x["failed"] + x["malformed"] for x in s["actors"]),
      a["numbers"]["batches_out"] == a["square"]["batches_in"] > 0,
      a["square"]["batches_out"] == a["print"]["batches_in"] > 0)
' "$SCRATCH/stats.json")
expect_eq "stats: exit, items out/in per stage, instances, failures, batches" "$counts" "0 1000000 1000000 1000000 1000000 2 0 True True"

# the same with one worker, with many, and with tiny batches: same output
check_variant() {
    local want_n=$1; shift
    "$TROUPE" run "$@" "$SRC/examples/squares.zpl" > "$SCRATCH/out"
    expect_eq "$*: exit code" "$?" 0
    squares "$want_n" > "$SCRATCH/want"
    expect_file_eq "$*: $want_n squares in order" "$SCRATCH/out" "$SCRATCH/want"
}
check_variant 1000000 -s square.instances=1
check_variant 200000 -s square.instances=7 -s numbers.args.count=200000
check_variant 5000 -s pipeline.batch=3 -s numbers.args.count=5000
check_variant 0 -s numbers.args.count=0
# without the zygote, every actor is fork+exec'd: the same output
TROUPE_NO_ZYGOTE=1 check_variant 100000 -s numbers.args.count=100000
expect_nothing_left squares "after the runs"
finish
