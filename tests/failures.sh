#!/usr/bin/env bash
# failures: an item a module fails stops the run with exit 1, naming the
# actor, the item and the message (as Pool.map raises); with on_error = skip
# the run goes on and the rest comes out. A module that refuses its
# arguments or cannot open its file stops the run before it starts, exit 2.
# A value that cannot travel (nested too deep, or out of memory while it
# is packed) fails its own item, never the batch it would have been in.
# An item that computes longer than --hang finishes; one whose hook blocks
# for good is killed as hung and, after two such deaths, failed as poison.
# A snapshot hook that fails, or packs other than one value, fails the run.
. "$(dirname "$0")/lib.sh"

# 3037000500 squared overflows int64: item 1 of 3 fails
cat > "$SCRATCH/overflow.zpl" <<'ZPL'
pipeline = overflow
actor = numbers
    module = seq
    out = numbers
    args
        start = 3037000499
        count = 3
actor = square
    module = square
    in = numbers
    out = squares
actor = print
    module = print
    in = squares
ZPL
"$TROUPE" run "$SCRATCH/overflow.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "failed item: exit code" "$?" 1
expect_contains "failed item: actor, item id and message" "$SCRATCH/err" \
    "actor 'square' #0: item 1 failed: square: the square of this integer overflows 64 bits"

"$TROUPE" run -s square.on_error=skip --stats "$SCRATCH/stats.json" "$SCRATCH/overflow.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "skipped item: exit code" "$?" 0
# 3037000501 squared overflows too: only the first item survives
/usr/bin/python3 -c 'print(3037000499**2)' > "$SCRATCH/want"
expect_file_eq "skipped item: the others come out, in order" "$SCRATCH/out" "$SCRATCH/want"
failed=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["failed_items"])' "$SCRATCH/stats.json")
expect_eq "skipped item: counted" "$failed" 2

# a bad argument value, found when the module starts
"$TROUPE" run -s numbers.args.count=many "$SCRATCH/overflow.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "bad argument: exit code" "$?" 2
expect_contains "bad argument: named" "$SCRATCH/err" "actor 'numbers' #0: argument 'count': 'many' is not an integer"

# a source that cannot open its file
cat > "$SCRATCH/nofile.zpl" <<ZPL
pipeline = nofile
actor = read
    module = lines
    out = l
    args
        file = $SCRATCH/absent.txt
actor = print
    module = print
    in = l
ZPL
"$TROUPE" run "$SCRATCH/nofile.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "missing input file: exit code" "$?" 2
expect_contains "missing input file: named" "$SCRATCH/err" "cannot open '$SCRATCH/absent.txt': No such file"

# a value the module cannot take (a string to square), from a file
printf '1\n' > "$SCRATCH/words.txt"
sed -e "s|absent.txt|words.txt|" -e 's/pipeline = nofile/pipeline = strings/' "$SCRATCH/nofile.zpl" > "$SCRATCH/strings.zpl"
cat >> "$SCRATCH/strings.zpl" <<'ZPL'
    ordered = true
ZPL
sed -i -e 's/    in = l/    in = sq/' "$SCRATCH/strings.zpl"
cat >> "$SCRATCH/strings.zpl" <<'ZPL'
actor = square
    module = square
    in = l
    out = sq
ZPL
"$TROUPE" run "$SCRATCH/strings.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "string to square: exit code" "$?" 1
expect_contains "string to square: named" "$SCRATCH/err" "item 0 failed: square: not a number"

# print to a closed pipe ends the run, not hangs it
timeout 20 "$TROUPE" run -s numbers.args.count=1000000 -s numbers.args.start=0 "$SRC/examples/squares.zpl" 2> "$SCRATCH/err" | head -1 > "$SCRATCH/out"
code=${PIPESTATUS[0]}
expect_eq "closed stdout: run ends with a failure" "$code" 1
expect_eq "closed stdout: first line came out" "$(cat "$SCRATCH/out")" 0

for p in overflow nofile strings squares; do expect_nothing_left "$p" "$p"; done
# a module that starts a value (troupe_emit_begin) and never ends it: the
# half value is dropped, what it emitted before goes on whole, and the
# next stage finds nothing malformed
cat > "$SCRATCH/unended.zpl" <<ZPL
pipeline = unended
actor = numbers
    module = seq
    out = numbers
    args
        count = 5000
actor = half
    module = $BUILD/tests/faulty.so
    instances = 2
    in = numbers
    out = passed
    args
        mode = unended
        chance = 1
actor = print
    module = print
    in = passed
ZPL
"$TROUPE" run --stats "$SCRATCH/unended.json" "$SCRATCH/unended.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
pid=$!
wait_at_most $pid 60
expect_eq "a value begun and not ended: exit code" "$?" 0
seq 0 4999 > "$SCRATCH/want"
expect_file_eq "a value begun and not ended: the rest exact" "$SCRATCH/out" "$SCRATCH/want"
expect_eq "a value begun and not ended: nothing malformed downstream" \
    "$(/usr/bin/python3 -c 'import json, sys; print(sum(a["malformed"] for a in json.load(open(sys.argv[1]))["actors"]))' "$SCRATCH/unended.json")" 0
# a module that writes through its packer after troupe_emit_end corrupts
# its batches: the next stage cannot read them, and the run fails saying
# so (it used to wait for their acknowledgement for ever)
sed 's/mode = unended/mode = overrun/; s/^pipeline = unended/pipeline = overrun/' \
    "$SCRATCH/unended.zpl" > "$SCRATCH/overrun.zpl"
"$TROUPE" run "$SCRATCH/overrun.zpl" > /dev/null 2> "$SCRATCH/err" &
pid=$!
wait_at_most $pid 60
expect_eq "a corrupted batch: the run fails" "$?" 1
expect_contains "a corrupted batch: says where" "$SCRATCH/err" \
    "actor 'print' #0 received"
expect_contains "a corrupted batch: and why it fails" "$SCRATCH/err" "malformed frame(s) from the run's own actors"
expect_nothing_left overrun "a corrupted batch"
# A value nested deeper than a batch can carry (msgpack-c decodes 32 levels
# of arrays and maps, the batch's envelope takes 3) fails its own item
# where it is emitted, saying why; it used to make its whole batch
# undecodable downstream, and the run failed as "malformed", every other
# item of the batch lost with it.
nest() { /usr/bin/python3 -c 'import sys; d = int(sys.argv[1]); print("[" * d + sys.argv[2] + "]" * d)' "$1" "$2"; }
{ nest 29 1; nest 30 2; echo 3; nest 40 '{"a": 4}'; } > "$SCRATCH/deep.jsonl"
cat > "$SCRATCH/deep.zpl" <<ZPL
pipeline = deep
actor = read
    module = jsonl_in
    out = values
    args
        file = $SCRATCH/deep.jsonl
actor = print
    module = print
    in = values
ZPL
"$TROUPE" run "$SCRATCH/deep.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
wait_at_most $! 60
expect_eq "a value nested too deep: exit code" "$?" 1
expect_contains "a value nested too deep: the actor, the item and the limit" "$SCRATCH/err" \
    "actor 'read' #0: item 1 failed: a value nested more than 29 deep (arrays and maps inside one another) is more than a batch can carry"
"$TROUPE" run -s read.on_error=skip --stats "$SCRATCH/deep.json" "$SCRATCH/deep.zpl" \
    > "$SCRATCH/out" 2> "$SCRATCH/err" &
wait_at_most $! 60
expect_eq "a value nested too deep, skipped: exit code" "$?" 0
{ nest 29 1; echo 3; } > "$SCRATCH/want"
expect_file_eq "a value nested too deep, skipped: the rest comes out" "$SCRATCH/out" "$SCRATCH/want"
expect_eq "a value nested too deep, skipped: two failed, nothing malformed" \
    "$(/usr/bin/python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(j["failed_items"], sum(a["malformed"] for a in j["actors"]))' "$SCRATCH/deep.json")" "2 0"
# the same through troupe_emit_object (a value a module built itself)
cat > "$SCRATCH/deepobj.zpl" <<ZPL
pipeline = deepobj
actor = make
    module = $BUILD/tests/awkward.so
    out = values
    on_error = skip
    args
        kind = deep
        how = object
        depth = 30
        count = 3
actor = print
    module = print
    in = values
ZPL
"$TROUPE" run --stats "$SCRATCH/deepobj.json" "$SCRATCH/deepobj.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
wait_at_most $! 60
expect_eq "an object nested too deep, skipped: exit code" "$?" 0
expect_eq "an object nested too deep, skipped: nothing out, three failed" \
    "$(wc -c < "$SCRATCH/out") $(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["failed_items"])' "$SCRATCH/deepobj.json")" "0 3"
expect_nothing_left deep "a value nested too deep"
# Out of memory while a module emits (tests/failmalloc.so fails the group
# buffer's growth for a 1 MB string, which the module does not check, then
# it emits one more value): the item fails, saying so, and nothing else is
# touched. The value used to be counted before it was packed: the group
# said two values and held one and a half, and the next stage failed the
# run on a malformed batch.
cat > "$SCRATCH/oom.zpl" <<ZPL
pipeline = oom
actor = numbers
    module = seq
    out = numbers
    args
        count = 10
actor = bad
    module = $BUILD/tests/faulty.so
    in = numbers
    out = passed
    on_error = skip
    args
        mode = oom
        at = 4
actor = print
    module = print
    in = passed
ZPL
LD_PRELOAD="$BUILD/tests/failmalloc.so" "$TROUPE" run -v --stats "$SCRATCH/oom.json" \
    "$SCRATCH/oom.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
wait_at_most $! 60
expect_eq "out of memory in an emit: exit code" "$?" 0
seq 0 9 | grep -vx 4 > "$SCRATCH/want"
expect_file_eq "out of memory in an emit: the other items exact" "$SCRATCH/out" "$SCRATCH/want"
expect_contains "out of memory in an emit: the item fails, saying why" "$SCRATCH/err" \
    "actor 'bad' #0: item 4 failed (skipped): out of memory: the value emitted could not be packed"
expect_eq "out of memory in an emit: one failed, nothing malformed" \
    "$(/usr/bin/python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(j["failed_items"], sum(a["malformed"] for a in j["actors"]))' "$SCRATCH/oom.json")" "1 0"
expect_nothing_left oom "out of memory in an emit"

# an item that computes for 3 s, longer than --hang 1: busy, not hung (its
# worker sends no heartbeat meanwhile, but uses CPU), so it is not killed
cat > "$SCRATCH/busy_item.zpl" <<ZPL
pipeline = busy_item
actor = numbers
    module = seq
    out = numbers
    args
        count = 2
actor = work
    module = spin
    instances = 2
    in = numbers
    out = results
    args
        us = 3000000
actor = print
    module = print
    in = results
ZPL
"$TROUPE" run --hang 1 "$SCRATCH/busy_item.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
wait_at_most $! 50
expect_eq "a long item: exit code" "$?" 0
seq 0 1 > "$SCRATCH/want"
expect_file_eq "a long item: its result" "$SCRATCH/out" "$SCRATCH/want"
grep -q "killing it" "$SCRATCH/err" && fail "a long item: its busy worker was killed as hung"

# an item whose hook blocks for good (no heartbeat, no CPU): hung, killed,
# tried again, and after two such deaths failed as poison, named, while
# the others come out
cat > "$SCRATCH/stuck.zpl" <<ZPL
pipeline = stuck
actor = numbers
    module = seq
    out = numbers
    args
        count = 5
actor = work
    module = $BUILD/tests/faulty.so
    instances = 2
    on_error = skip
    in = numbers
    out = passed
    args
        mode = hang
        at = 2
actor = print
    module = print
    in = passed
ZPL
"$TROUPE" run --hang 1 "$SCRATCH/stuck.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
wait_at_most $! 50
expect_eq "a stuck item: exit code" "$?" 0
seq 0 4 | grep -vx 2 > "$SCRATCH/want"
expect_file_eq "a stuck item: the others exact" "$SCRATCH/out" "$SCRATCH/want"
expect_contains "a stuck item: killed as hung" "$SCRATCH/err" "sent no heartbeat for"
expect_contains "a stuck item: poison, named" "$SCRATCH/err" \
    "item 2 is poison: it killed the worker handling it 2 times (last: hung: no heartbeat, no CPU used)"
expect_nothing_left stuck "a stuck item"
# A stateful actor whose snapshot hook fails, packs nothing, two values or
# one nested deeper than msgpack-c reads back can take no checkpoint, so
# its items can never be acknowledged: the run fails at once, naming the
# actor and why (it used to warn at every checkpoint and never end). A
# good snapshot, the same module, is exact. 1 and 2 instances.
snapshot_pipeline() { # packs instances
    cat <<ZPL
pipeline = snap
actor = numbers
    module = seq
    out = numbers
    args
        count = 100000
actor = count
    module = $BUILD/tests/badsnap.so
    instances = $2
    in = numbers
    out = counted
    args
        packs = $1
actor = print
    module = print
    in = counted
ZPL
}
for n in 1 2; do
    snapshot_pipeline one $n > "$SCRATCH/snap.zpl"
    "$TROUPE" run "$SCRATCH/snap.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
    wait_at_most $! 50
    expect_eq "a good snapshot x$n: exit code" "$?" 0
    total=$(awk '{ s += $1 } END { print s }' "$SCRATCH/out")
    expect_eq "a good snapshot x$n: every item counted once" "$total" 100000
    for packs in nothing two deep fail; do
        snapshot_pipeline $packs $n > "$SCRATCH/snap.zpl"
        "$TROUPE" run "$SCRATCH/snap.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err" &
        wait_at_most $! 50
        expect_eq "a snapshot that $packs x$n: exit code" "$?" 1
        case $packs in
        nothing) why="packed nothing" ;;
        two | deep) why="packed more or less than one msgpack value, or one nested too deep" ;;
        fail) why="failed: badsnap: asked to fail" ;;
        esac
        # with 2, whichever instance checkpoints first
        grep -E -q "actor 'count' #[01]: its snapshot hook \S" "$SCRATCH/err" \
            || fail "a snapshot that $packs x$n: actor not named"
        expect_contains "a snapshot that $packs x$n: why" "$SCRATCH/err" \
            "its snapshot hook $why; an exact actor cannot go on without checkpoints"
        expect_nothing_left snap "a snapshot that $packs x$n"
    done
done
finish
