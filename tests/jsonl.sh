#!/usr/bin/env bash
# jsonl: jsonl_in and jsonl_out keep to the mapping docs/CONFIG.md gives
# ("JSON lines"): every JSON type goes through a run and comes back the
# same, line by line; a line that is not JSON fails its item, naming the
# line; values JSON has no form for are refused with the documented
# message; both compose with shell pipes.
. "$(dirname "$0")/lib.sh"

AWKWARD="$BUILD/tests/awkward.so"

cat > "$SCRATCH/round.zpl" <<'ZPL'
pipeline = round
actor = read
    module = jsonl_in
    out = values
    args
        file = in.jsonl
actor = write
    module = jsonl_out
    in = values
ZPL

# same_json GOT WANT: the same JSON values, in order, with the same types
# (1 and 1.0 differ; Python's json keeps them apart)
same_json() {
    /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
def typed(v):
    if isinstance(v, dict):
        return ('object', [(k, typed(x)) for k, x in v.items()])
    if isinstance(v, list):
        return ('array', [typed(x) for x in v])
    return (type(v).__name__, v)
def load(path):
    with open(path, encoding='utf-8') as f:
        return [typed(json.loads(line)) for line in f if line.strip()]
got, want = load(sys.argv[1]), load(sys.argv[2])
if got != want:
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            print(f'value {i + 1}: got {g}, want {w}', file=sys.stderr)
            break
    print(f'{len(got)} values, want {len(want)}', file=sys.stderr)
    sys.exit(1)
PY
}

# every type of the mapping, blank lines among them (skipped)
cat > "$SCRATCH/in.jsonl" <<'JSON'
null
true
false
0
-1
9007199254740992
-9223372036854775808
9223372036854775807
0.1
1.0
-2.5e-300
"text"
"ünïcode"
"nul \u0000 inside"

[[1, [2, []]], {"a": {"b": [null, {}]}, "z": 1, "c": "order kept"}]
[]
   
{}
JSON
"$TROUPE" run "$SCRATCH/round.zpl" > "$SCRATCH/round.out" 2> "$SCRATCH/round.err"
expect_eq "round trip: exit code" "$?" 0
if same_json "$SCRATCH/round.out" "$SCRATCH/in.jsonl"; then ok "round trip: every type comes back the same, in order"
else fail "round trip: values differ"; fi
expect_eq "round trip: one line per value, blank lines skipped" "$(wc -l < "$SCRATCH/round.out")" 17
expect_eq "round trip: compact, shortest reals" "$(sed -n 9,10p "$SCRATCH/round.out" | paste -sd' ')" "0.1 1.0"
expect_eq "round trip: object keys in their order" "$(sed -n 15p "$SCRATCH/round.out")" \
    '[[1,[2,[]]],{"a":{"b":[null,{}]},"z":1,"c":"order kept"}]'

# a line that is not JSON: the run fails, naming the line; skipped, the rest goes on
printf '1\n{"a": 2}\n{bad\n4\n' > "$SCRATCH/in.jsonl"
"$TROUPE" run "$SCRATCH/round.zpl" > "$SCRATCH/bad.out" 2> "$SCRATCH/bad.err"
expect_eq "malformed line: exit code" "$?" 1
expect_contains "malformed line: named, with jansson's reason" "$SCRATCH/bad.err" "line 3: not JSON:"
"$TROUPE" run -s read.on_error=skip "$SCRATCH/round.zpl" > "$SCRATCH/skip.out" 2> "$SCRATCH/skip.err"
expect_eq "malformed line skipped: exit code" "$?" 0
expect_eq "malformed line skipped: the other lines" "$(paste -sd' ' "$SCRATCH/skip.out")" '1 {"a":2} 4'

# stdin and stdout: in a shell pipe, between two programs
cat > "$SCRATCH/pipe.zpl" <<'ZPL'
pipeline = pipe
actor = read
    module = jsonl_in
    out = values
actor = write
    module = jsonl_out
    in = values
ZPL
got=$(seq 1 500 | /usr/bin/python3 -c 'import sys, json; [print(json.dumps({"n": int(l)})) for l in sys.stdin]' \
    | "$TROUPE" run "$SCRATCH/pipe.zpl" 2> "$SCRATCH/pipe.err" \
    | /usr/bin/python3 -c 'import sys, json; print(sum(json.loads(l)["n"] for l in sys.stdin))')
expect_eq "shell pipe: stdin to stdout, every value" "$got" 125250

# what JSON has no form for: the item fails with the documented message
cat > "$SCRATCH/awkward.zpl" <<ZPL
pipeline = awkward
actor = make
    module = $AWKWARD
    out = values
actor = write
    module = jsonl_out
    in = values
ZPL
refused() { # KIND MESSAGE
    "$TROUPE" run -s make.args.kind="$1" "$SCRATCH/awkward.zpl" > "$SCRATCH/$1.out" 2> "$SCRATCH/$1.err"
    expect_eq "$1: refused, exit code" "$?" 1
    expect_contains "$1: the message says why" "$SCRATCH/$1.err" "$2"
    expect_eq "$1: nothing written" "$(cat "$SCRATCH/$1.out")" ""
}
refused bin "binary data has no JSON form"
refused ext "a msgpack ext value (type 7) has no JSON form"
refused intkey "a map key that is not a string (1) has no JSON form"
refused nan "NaN has no JSON form"
refused inf "an infinite number has no JSON form"
refused badutf8 "a string that is not UTF-8 has no JSON form"
"$TROUPE" run -s make.args.kind=bigu "$SCRATCH/awkward.zpl" > "$SCRATCH/bigu.out" 2> "$SCRATCH/bigu.err"
expect_eq "uint64 above INT64_MAX: exit code" "$?" 0
expect_eq "uint64 above INT64_MAX: written as the nearest real" "$(cat "$SCRATCH/bigu.out")" "1.8446744073709552e19"

for p in round pipe awkward; do
    expect_nothing_left "$p" "$p"
done
finish
