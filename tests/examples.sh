#!/usr/bin/env bash
# examples: every example pipeline runs and prints what examples/README.md
# says it prints.
. "$(dirname "$0")/lib.sh"

run_example() { # NAME [OPTIONS...]: stdout to $SCRATCH/NAME.out, exit code checked
    local name=$1; shift
    "$TROUPE" run "$@" "$SRC/examples/$name.zpl" > "$SCRATCH/$name.out" 2> "$SCRATCH/$name.err"
    expect_eq "$name: exit code" "$?" 0
}

run_example processes
printf 'hello from worker %d of 5\n' 0 1 2 3 4 > "$SCRATCH/want"
expect_file_eq "processes: five workers report, in order" "$SCRATCH/processes.out" "$SCRATCH/want"

run_example queue
printf 'consumed %d\n' $(seq 1 10) > "$SCRATCH/want"
expect_file_eq "queue: ten items consumed in order" "$SCRATCH/queue.out" "$SCRATCH/want"

run_example counter
expect_eq "counter: 5 workers x 1000 increments" "$(cat "$SCRATCH/counter.out")" 5000
run_example counter -s workers.instances=9 -s workers.args.each=777
expect_eq "counter: 9 workers x 777 increments" "$(cat "$SCRATCH/counter.out")" 6993

run_example cpu -v -s items.args.count=200 -s burn.args.us=200
expect_eq "cpu: all items done" "$(cat "$SCRATCH/cpu.out")" "items done: 200"
expect_contains "cpu: -v reports elapsed time" "$SCRATCH/cpu.err" "cpu: done in"
expect_contains "cpu: -v reports the burn stage" "$SCRATCH/cpu.err" "burn"

run_example broadcast
sort "$SCRATCH/broadcast.out" > "$SCRATCH/got"
{ printf 'all: %d\n' 100 101 102 200 201 202; printf 'weather only: %d\n' 100 101 102; } | sort > "$SCRATCH/want"
expect_file_eq "broadcast: every subscriber gets its topics, once" "$SCRATCH/got" "$SCRATCH/want"

printf '{"n": %d}\n' 1 2 3 | "$TROUPE" run "$SRC/examples/jsonl.zpl" > "$SCRATCH/jsonl.out" 2> "$SCRATCH/jsonl.err"
expect_eq "jsonl: exit code" "$?" 0
printf '{"n":%d}\n' 1 2 3 > "$SCRATCH/want"
expect_file_eq "jsonl: stdin's JSON lines again, compact" "$SCRATCH/jsonl.out" "$SCRATCH/want"

for p in processes queue counter cpu broadcast jsonl; do
    expect_nothing_left "$p" "$p"
done
finish
