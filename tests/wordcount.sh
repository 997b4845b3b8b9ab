#!/bin/bash
# wordcount: examples/wordcount.zpl (lines -> tokenize x2 -> keyed counter
# -> sorted) prints what `tr -cs A-Za-z '\n' | LC_ALL=C sort | uniq -c`
# prints, byte for byte, with 1, 2 and 4 counters; each counter owns its
# own words (no word counted at two); errors of a keyed channel's config
# and of a value without its key are named.
. "$(dirname "$0")/lib.sh"

TOKENIZE="$BUILD/examples/tokenize.so"
# a text of 40,000 lines: words of mixed case, punctuation, digits, runs
# of spaces and empty lines, long words, more than 256 distinct words (the old
# counter's limit), first character not a letter (tr's empty first word)
/usr/bin/python3 - "$SCRATCH/text" <<'PY'
import random, sys
r = random.Random(13)
vocab = ["".join(r.choice("abcdefghijklmnopqrstuvwxyzABCDEFG") for _ in range(r.randint(1, 9)))
         for _ in range(5000)]
# and long ones: the counter keeps names of up to 16 bytes in place, longer
# ones elsewhere (14 to 40 letters: both sides of that line)
vocab += ["".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(14, 40)))
          for _ in range(300)]
with open(sys.argv[1], "w") as f:
    f.write("-- a text --\n")
    for i in range(40000):
        if i % 97 == 0:
            f.write("\n")
            continue
        words = [r.choice(vocab) for _ in range(r.randint(1, 12))]
        f.write(r.choice(["", " ", "  "]) + r.choice([" ", ", ", " 42 ", "; "]).join(words)
                + r.choice(["", ".", "!"]) + "\n")
PY
tr -cs A-Za-z '\n' < "$SCRATCH/text" | LC_ALL=C sort | uniq -c > "$SCRATCH/want"
expect_eq "the text has more than 256 distinct words" \
    "$([ "$(wc -l < "$SCRATCH/want")" -gt 256 ] && echo yes)" yes

for n in 1 2 4; do
    "$TROUPE" run --stats "$SCRATCH/stats$n.json" -s split.module="$TOKENIZE" \
        -s text.args.file="$SCRATCH/text" -s count.instances=$n \
        "$SRC/examples/wordcount.zpl" > "$SCRATCH/out$n" 2> "$SCRATCH/err$n"
    expect_eq "wordcount, $n counter(s): exit code" "$?" 0
    expect_file_eq "wordcount, $n counter(s): same bytes as tr | sort | uniq -c" \
        "$SCRATCH/out$n" "$SCRATCH/want"
done
# each counter emitted only its own words: the pairs that reached the sink
# are as many as the distinct words (a word at two counters would be two)
pairs=$(/usr/bin/python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
print(sum(a["items_in"] for a in s["actors"] if a["name"] == "show"))' "$SCRATCH/stats4.json")
expect_eq "4 counters: one pair per distinct word reached the sink" "$pairs" \
    "$(wc -l < "$SCRATCH/want")"

# ---- what a keyed channel refuses ------------------------------------------------
cat > "$SCRATCH/bad.zpl" <<ZPL
pipeline = badkey
channel = nums
    key = 0
actor = src
    module = seq
    out = nums
    topic = x
actor = sink
    module = print
    in = nums
ZPL
"$TROUPE" check "$SCRATCH/bad.zpl" 2> "$SCRATCH/bad.err"
expect_eq "key on a pipe: refused" "$?" 2
expect_contains "key on a pipe: says why" "$SCRATCH/bad.err" \
    "channel 'nums': key is for a keyed channel (type = keyed)"
expect_contains "topic without a broadcast output: says why" "$SCRATCH/bad.err" \
    "actor 'src': topic is for broadcast outputs"

# a value without the key the channel names fails its item, named
cat > "$SCRATCH/nokey.zpl" <<ZPL
pipeline = nokey
channel = nums
    type = keyed
    key = word
actor = src
    module = seq
    out = nums
    args
        count = 10
actor = sink
    module = counter
    instances = 2
    in = nums
    out = total
actor = show
    module = print
    in = total
ZPL
"$TROUPE" run "$SCRATCH/nokey.zpl" > /dev/null 2> "$SCRATCH/nokey.err"
expect_eq "a value without its key: the run fails" "$?" 1
expect_contains "a value without its key: says which key" "$SCRATCH/nokey.err" \
    "has no key 'word'"
# a keyed channel read by two actors, and into a sink that is ordered by
# default
cat > "$SCRATCH/two.zpl" <<ZPL
pipeline = tworeaders
channel = nums
    type = keyed
actor = src
    module = seq
    out = nums
actor = a
    module = count
    in = nums
actor = b
    module = print
    in = nums
ZPL
"$TROUPE" check "$SCRATCH/two.zpl" 2> "$SCRATCH/two.err"
expect_eq "keyed, two readers: refused" "$?" 2
expect_contains "keyed, two readers: says why" "$SCRATCH/two.err" \
    "channel 'nums' is keyed and read by 'a' and 'b': a keyed channel has one reading actor"
expect_contains "keyed into print: refused, ordered by default" "$SCRATCH/two.err" \
    "actor 'b': reads a keyed channel in order (module 'print' is ordered by default)"

# key = 0: [name, n] pairs by their name, four counters; a map where the
# key is (not hashable) fails that item, named, and the rest is exact
/usr/bin/python3 - "$SCRATCH/pairs.jsonl" "$SCRATCH/pairs.want" <<'PY'
import json, random, sys
r = random.Random(5)
totals = {}
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        name, n = "k%d" % r.randint(0, 999), r.randint(1, 5)
        totals[name] = totals.get(name, 0) + n
        f.write(json.dumps([name, n]) + "\n")
    f.write(json.dumps([{"not": "a key"}, 1]) + "\n")
with open(sys.argv[2], "w") as f:
    for name in sorted(totals):
        f.write(json.dumps([name, totals[name]], separators=(",", ":")) + "\n")
PY
cat > "$SCRATCH/pairs.zpl" <<ZPL
pipeline = keyedpairs
channel = pairs
    type = keyed
    key = 0
actor = src
    module = jsonl_in
    out = pairs
    on_error = skip
    args
        file = $SCRATCH/pairs.jsonl
actor = count
    module = counter
    instances = 4
    in = pairs
    out = totals
    args
        emit = pairs
actor = show
    module = jsonl_out
    in = totals
    ordered = false
ZPL
"$TROUPE" run -v "$SCRATCH/pairs.zpl" > "$SCRATCH/pairs.out" 2> "$SCRATCH/pairs.err"
expect_eq "key = 0: exit code (the map's item skipped)" "$?" 0
sort "$SCRATCH/pairs.out" > "$SCRATCH/pairs.sorted"
expect_file_eq "key = 0: one total per name, each exact" "$SCRATCH/pairs.sorted" "$SCRATCH/pairs.want"
expect_contains "a map as a key: its item fails, named" "$SCRATCH/pairs.err" \
    "the key of a value is a map, which cannot be a key (channel 'pairs')"

for p in wordcount badkey nokey keyedpairs; do expect_nothing_left "$p" "$p"; done
finish
