#!/usr/bin/env bash
# groups: what a hook emits for one item reaches the next stage whole, and
# only then. A stage with one plain output packs its values straight into
# the batch being built (runtime/wire/chan.h, chan_out_direct_open), after
# a one-byte group header that it widens at the end when more than 15 came:
# 0 to 40 values an item (fixarray and array 16 headers), 70,000 from one
# item (array 32), and an item that emits its values and then fails, whose
# values must not reach anyone (on_error = skip), each through 1 and 2
# workers, in order, exact.
. "$(dirname "$0")/lib.sh"
# run NAME COUNT WORKERS MODE FANOUT [key = value...]: faulty_pipeline's
# (lib.sh), never misbehaving by chance; CODE is its exit status
run() {
    local name=$1 count=$2 workers=$3 mode=$4 fanout=$5; shift 5
    faulty_pipeline "$name" "$count" "$workers" "$mode" 0 "$fanout" "$@"
    "$TROUPE" run "$SCRATCH/$name.zpl" > "$SCRATCH/$name.out" 2> "$SCRATCH/$name.err"
    CODE=$?
}

for w in 1 2; do
    # item i, i % 41 times: 0 to 40 values a group
    run fan$w 3000 "$w" segv 40
    expect_eq "fan x$w: exit code" "$CODE" 0
    /usr/bin/python3 -c '
for i in range(3000):
    for _ in range(i % 41):
        print(i)' > "$SCRATCH/want"
    expect_file_eq "fan x$w: each item 0 to 40 times, in order" "$SCRATCH/fan$w.out" "$SCRATCH/want"

    # 70,000 values from each of 3 items: a group past 65,535
    run wide$w 3 "$w" segv 0 "args:copies = 70000"
    expect_eq "wide x$w: exit code" "$CODE" 0
    /usr/bin/python3 -c '
for i in range(3):
    print((str(i) + "\n") * 70000, end="")' > "$SCRATCH/want"
    expect_file_eq "wide x$w: 70,000 values of each item, in order" "$SCRATCH/wide$w.out" "$SCRATCH/want"

    # item 33 emits its 33 values and then fails: none of them comes out
    run late$w 100 "$w" late 40 "on_error = skip" "args:at = 33"
    expect_eq "late x$w: exit code" "$CODE" 0
    /usr/bin/python3 -c '
for i in range(100):
    if i != 33:
        for _ in range(i % 41):
            print(i)' > "$SCRATCH/want"
    expect_file_eq "late x$w: the failed item's values are gone, the rest exact" \
        "$SCRATCH/late$w.out" "$SCRATCH/want"
    expect_contains "late x$w: the skip is said" "$SCRATCH/late$w.err" "skipped"
done
expect_nothing_left fan1 groups
finish
