#!/usr/bin/env bash
# valgrind: pipelines run under valgrind (supervisor and every actor
# process, through exec) with no memory error and no leak: each process's
# log must be empty and every run must exit as it does without valgrind.
. "$(dirname "$0")/lib.sh"

command -v valgrind > /dev/null || { echo "valgrind not installed: skipped"; exit 77; }

vg() { # WANT_CODE NAME troupe-args...: runs under valgrind, checks exit and logs
    local want=$1 name=$2; shift 2
    mkdir -p "$SCRATCH/vg-$name"
    valgrind -q --trace-children=yes --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
        --error-exitcode=99 --log-file="$SCRATCH/vg-$name/%p.log" \
        "$TROUPE" "$@" > "$SCRATCH/$name.out" 2> "$SCRATCH/$name.err"
    expect_eq "$name: exit code under valgrind" "$?" "$want"
    local logs
    logs=$(cat "$SCRATCH/vg-$name"/*.log 2>/dev/null)
    expect_eq "$name: valgrind found nothing" "$logs" ""
    [ -z "$logs" ] || echo "$logs" | head -40 >&2
    local nlogs
    nlogs=$(ls "$SCRATCH/vg-$name" | wc -l)
    [ "$1" != run ] || [ "$nlogs" -ge 2 ] || fail "$name: valgrind saw $nlogs process(es); the actors were not traced"
}

vg 0 squares run -s numbers.args.count=20000 "$SRC/examples/squares.zpl"
squares 20000 > "$SCRATCH/want"
expect_file_eq "squares under valgrind: output" "$SCRATCH/squares.out" "$SCRATCH/want"
vg 0 counter run "$SRC/examples/counter.zpl"
expect_eq "counter under valgrind: output" "$(cat "$SCRATCH/counter.out")" 5000
vg 0 broadcast run "$SRC/examples/broadcast.zpl"
expect_eq "broadcast under valgrind: lines" "$(wc -l < "$SCRATCH/broadcast.out")" 9
vg 1 overflow run -s numbers.args.start=3037000499 -s numbers.args.count=3 "$SRC/examples/squares.zpl"
vg 2 check check -s square.instances=0 "$SRC/examples/squares.zpl"
finish
