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
# ---- counter: any number of names; sorted: everything, in order, at the end ----
/usr/bin/python3 -c 'import random
r = random.Random(5)
names = ["w%05d" % i for i in range(3000)]
for _ in range(20000): print(r.choice(names))' > "$SCRATCH/names"
cat > "$SCRATCH/names.zpl" <<ZPL
pipeline = names
actor = text
    module = lines
    out = lines
    args
        file = $SCRATCH/names
actor = count
    module = counter
    in = lines
    out = pairs
    args
        emit = pairs
actor = show
    module = sorted
    in = pairs
    args
        as = uniq-c
ZPL
"$TROUPE" run "$SCRATCH/names.zpl" > "$SCRATCH/names.out" 2> "$SCRATCH/names.err"
expect_eq "counter of 3000 names (the old limit: 256): exit code" "$?" 0
LC_ALL=C sort "$SCRATCH/names" | uniq -c > "$SCRATCH/names.want"
expect_file_eq "counter + sorted: the same bytes as sort | uniq -c" "$SCRATCH/names.out" \
    "$SCRATCH/names.want"
"$TROUPE" run -s count.args.emit=list "$SCRATCH/names.zpl" > /dev/null 2> "$SCRATCH/emit.err"
expect_eq "counter: emit = list refused" "$?" 2
expect_contains "counter: emit = list: says why" "$SCRATCH/emit.err" \
    "argument 'emit': 'list' is not map or pairs"

# ---- topic and subscribe only where there is a broadcast ------------------------
cat > "$SCRATCH/topic.zpl" <<ZPL
pipeline = topic
actor = src
    module = seq
    out = nums
    topic = x
actor = sink
    module = print
    in = nums
    subscribe = x
ZPL
"$TROUPE" check "$SCRATCH/topic.zpl" 2> "$SCRATCH/topic.err"
expect_eq "topic and subscribe on a pipe: refused" "$?" 2
expect_contains "topic on a pipe: says why" "$SCRATCH/topic.err" \
    "topic.zpl:2: actor 'src': topic is for broadcast outputs"
expect_contains "subscribe on a pipe: says why" "$SCRATCH/topic.err" \
    "actor 'sink': subscribe is for broadcast inputs"

# ---- several subscribe prefixes: any of them matches ------------------------------
cat > "$SCRATCH/subs.zpl" <<ZPL
pipeline = subs
channel = news
    type = broadcast
actor = eu
    module = seq
    out = news
    topic = eu.fr
    args
        count = 100
actor = us
    module = seq
    out = news
    topic = us
    args
        count = 10
actor = asia
    module = seq
    out = news
    topic = asia
    args
        count = 1
actor = two
    module = count
    in = news
    out = c2
    subscribe = "eu us"
actor = show2
    module = print
    in = c2
    args
        prefix = "two "
actor = all
    module = count
    in = news
    out = call
actor = showall
    module = print
    in = call
    args
        prefix = "all "
ZPL
"$TROUPE" run "$SCRATCH/subs.zpl" > "$SCRATCH/subs.out" 2> "$SCRATCH/subs.err"
expect_eq "subscribe = \"eu us\": exit code" "$?" 0
expect_eq "subscribe = \"eu us\": the eu.fr and us items, not asia's" \
    "$(grep '^two ' "$SCRATCH/subs.out")" "two 110"
expect_eq "no subscribe: every item" "$(grep '^all ' "$SCRATCH/subs.out")" "all 111"
"$TROUPE" check -s 'eu.topic=eu fr' "$SCRATCH/subs.zpl" 2> "$SCRATCH/subs.err"
expect_eq "a topic of two words: refused" "$?" 2
expect_contains "a topic of two words: says why" "$SCRATCH/subs.err" \
    "actor 'eu': topic 'eu fr' is more than one word"

# ---- topics set per item: each to the subscribers of its topic, in order --------
PARITY="$BUILD/tests/parity.so"
cat > "$SCRATCH/parity.zpl" <<ZPL
pipeline = parity
channel = news
    type = broadcast
actor = src
    module = seq
    out = nums
    args
        count = 1000
actor = tag
    module = $PARITY
    instances = 2
    in = nums
    out = news
actor = odd
    module = $PARITY
    in = news
    out = odds
    subscribe = odd
    args
        read = true
actor = show_odd
    module = print
    in = odds
actor = even
    module = $PARITY
    in = news
    out = evens
    subscribe = even
    args
        read = true
actor = sum_even
    module = sum
    in = evens
    out = even_total
actor = show_even
    module = print
    in = even_total
    args
        prefix = "even sum "
actor = all
    module = count
    in = news
    out = all_n
actor = show_all
    module = print
    in = all_n
    args
        prefix = "all "
ZPL
"$TROUPE" run "$SCRATCH/parity.zpl" > "$SCRATCH/parity.out" 2> "$SCRATCH/parity.err"
expect_eq "topics per item: exit code" "$?" 0
seq 1 2 999 > "$SCRATCH/odd.want"
grep -E '^[0-9]+$' "$SCRATCH/parity.out" > "$SCRATCH/odd.got"
expect_file_eq "topic 'odd': every odd number, in order" "$SCRATCH/odd.got" "$SCRATCH/odd.want"
expect_eq "topic 'even': the even numbers' sum" "$(grep '^even sum ' "$SCRATCH/parity.out")" \
    "even sum 249500"
expect_eq "no subscribe: every item" "$(grep '^all ' "$SCRATCH/parity.out")" "all 1000"

for p in m2m fan names subs parity; do expect_nothing_left "$p" "$p"; done
finish
