#!/usr/bin/env bash
# valgrind: pipelines run under valgrind (supervisor and every actor
# process, through exec) with no memory error and no leak: each process's
# log must be empty and every run must exit as it does without valgrind.
. "$(dirname "$0")/lib.sh"

command -v valgrind > /dev/null || { echo "valgrind not installed: skipped"; exit 77; }

# A finished actor process ends with _exit, its context and heap left to
# the kernel (host_end_process); here every one is torn down and freed,
# so that valgrind checks each free. One run below ends the quick way.
export TROUPE_CLEAN_EXIT=1

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
TROUPE_CLEAN_EXIT= vg 0 squares-quick run -s numbers.args.count=20000 "$SRC/examples/squares.zpl"
expect_file_eq "squares under valgrind, actors ending with _exit: output" \
    "$SCRATCH/squares-quick.out" "$SCRATCH/want"
# over tcp: CURVE, czmq loaded by the producers, zauth on its thread, and
# czmq's context ended with the actor
vg 0 curve run --transport tcp -s numbers.args.count=20000 "$SRC/examples/squares.zpl"
expect_file_eq "squares over tcp (CURVE) under valgrind: output" "$SCRATCH/curve.out" "$SCRATCH/want"
vg 0 counter run "$SRC/examples/counter.zpl"
expect_eq "counter under valgrind: output" "$(cat "$SCRATCH/counter.out")" 5000
vg 0 broadcast run "$SRC/examples/broadcast.zpl"
expect_eq "broadcast under valgrind: lines" "$(wc -l < "$SCRATCH/broadcast.out")" 9
vg 1 overflow run -s numbers.args.start=3037000499 -s numbers.args.count=3 "$SRC/examples/squares.zpl"
# JSON lines: jansson's values freed, a bad line and a refused value too
printf '%s\n' '{"a": [1, 2.5, "x", null, true]}' '' '{bad' '"\u00fc"' > "$SCRATCH/vg.jsonl"
vg 0 jsonl run -s read.on_error=skip -s read.args.file="$SCRATCH/vg.jsonl" "$SRC/examples/jsonl.zpl"
expect_eq "jsonl under valgrind: output" "$(paste -sd' ' "$SCRATCH/jsonl.out")" '{"a":[1,2.5,"x",null,true]} "ü"'
printf '%s\n' 'pipeline = vgjson' 'actor = make' "    module = $BUILD/tests/awkward.so" '    out = v' \
    '    args' '        kind = intkey' 'actor = write' '    module = jsonl_out' '    in = v' > "$SCRATCH/vgjson.zpl"
vg 1 jsonl-refused run "$SCRATCH/vgjson.zpl"
vg 2 check check -s square.instances=0 "$SRC/examples/squares.zpl"
vg 0 keygen keygen "$SCRATCH/vgkey"
vg 2 keygen-exists keygen "$SCRATCH/vgkey"

# a worker killed mid-run: restart, redelivery and dedup under memcheck too
mkdir -p "$SCRATCH/vg-restart"
cat > "$SCRATCH/vgrestart.zpl" <<'ZPL'
pipeline = vgrestart
actor = numbers
    module = seq
    out = numbers
    args
        count = 300000
actor = vgworker
    module = square
    instances = 2
    in = numbers
    out = squares
actor = print
    module = print
    in = squares
ZPL
valgrind -q --trace-children=yes --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
    --error-exitcode=99 --log-file="$SCRATCH/vg-restart/%p.log" \
    "$TROUPE" run -v -v "$SCRATCH/vgrestart.zpl" > "$SCRATCH/restart.out" 2> "$SCRATCH/restart.err" &
sup=$!
# under valgrind ps shows valgrind's command line: find the worker by its
# name (comm), which is this test's own
for _ in $(seq 200); do victim=$(pgrep -x "vgworker#1"); [ -n "$victim" ] && break; sleep 0.05; done
wait_started "$SCRATCH/restart.err"
sleep 0.5
kill -KILL "$victim" 2> /dev/null
wait $sup
expect_eq "restart under valgrind: exit code" "$?" 0
squares 300000 > "$SCRATCH/want"
expect_file_eq "restart under valgrind: output exact" "$SCRATCH/restart.out" "$SCRATCH/want"
expect_contains "restart under valgrind: the worker was restarted" "$SCRATCH/restart.err" "restarting"
logs=$(cat "$SCRATCH/vg-restart"/*.log 2> /dev/null)
expect_eq "restart under valgrind: valgrind found nothing" "$logs" ""
[ -z "$logs" ] || echo "$logs" | head -40 >&2
# troupe top reading a snapshot, with the supervisor publishing (also
# under valgrind) to it: a run that lasts while its stdin is open
cat > "$SCRATCH/watched.zpl" <<'ZPL'
pipeline = vgwatched
actor = read
    module = lines
    out = lines
actor = show
    module = print
    in = lines
ZPL
mkfifo "$SCRATCH/topin"
mkdir -p "$SCRATCH/vg-watched"
valgrind -q --trace-children=yes --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
    --log-file="$SCRATCH/vg-watched/%p.log" \
    "$TROUPE" run -v -v "$SCRATCH/watched.zpl" < "$SCRATCH/topin" > "$SCRATCH/watched.out" \
    2> "$SCRATCH/watched.err" &
sup=$!
exec 3> "$SCRATCH/topin"
echo one >&3
wait_started "$SCRATCH/watched.err"
vg 0 top top --once vgwatched
expect_contains "top under valgrind: the run's rows" "$SCRATCH/top.out" "troupe top: vgwatched"
exec 3>&-
wait $sup
expect_eq "a watched run under valgrind: exit code" "$?" 0
logs=$(cat "$SCRATCH/vg-watched"/*.log 2> /dev/null)
expect_eq "a watched run under valgrind: valgrind found nothing" "$logs" ""
[ -z "$logs" ] || echo "$logs" | head -40 >&2

# a keyed channel (a batch per home, keys split), items' own topics on a
# broadcast (a batch per subscriber), and a fan-out into two outputs
# (copies renamed)
for i in $(seq 300); do echo "the quick brown fox $i jumps over the lazy dog"; done > "$SCRATCH/vg.text"
vg 0 keyed run -s split.module="$BUILD/examples/tokenize.so" -s text.args.file="$SCRATCH/vg.text" \
    "$SRC/examples/wordcount.zpl"
tr -cs A-Za-z '\n' < "$SCRATCH/vg.text" | LC_ALL=C sort | uniq -c > "$SCRATCH/want"
expect_file_eq "keyed under valgrind: output" "$SCRATCH/keyed.out" "$SCRATCH/want"
cat > "$SCRATCH/vgtopics.zpl" <<ZPL
pipeline = vgtopics
channel = news
    type = broadcast
actor = src
    module = seq
    out = nums copy
    args
        count = 2000
actor = tag
    module = $BUILD/tests/parity.so
    in = nums
    out = news
actor = odd
    module = $BUILD/tests/parity.so
    in = news
    out = odds
    subscribe = odd
    args
        read = true
actor = show
    module = print
    in = odds
actor = copies
    module = count
    in = copy
    out = ncopy
actor = show_copies
    module = print
    in = ncopy
    args
        prefix = "copies "
ZPL
vg 0 topics run "$SCRATCH/vgtopics.zpl"
expect_eq "topics under valgrind: the odd ones" "$(grep -c '^[0-9]' "$SCRATCH/topics.out")" 1000
expect_eq "a fan-out under valgrind: every copy" "$(grep '^copies ' "$SCRATCH/topics.out")" "copies 2000"
finish
