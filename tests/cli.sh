#!/usr/bin/env bash
# cli: usage errors exit 2 with a message; --help and version exit 0;
# troupe check passes every example and refuses every broken config in
# tests/configs with the error its first line expects, naming file and line.
. "$(dirname "$0")/lib.sh"

expect_exit() { # WANT_CODE WHAT CMD...
    local want=$1 what=$2; shift 2
    "$@" > "$SCRATCH/out" 2> "$SCRATCH/err"
    expect_eq "$what: exit code" "$?" "$want"
}

expect_exit 2 "no command" "$TROUPE"
expect_contains "no command: usage" "$SCRATCH/err" "usage: troupe COMMAND"
expect_exit 2 "unknown command" "$TROUPE" frobnicate
expect_contains "unknown command: named" "$SCRATCH/err" "unknown command 'frobnicate'"
expect_exit 0 "--help" "$TROUPE" --help
expect_contains "--help: lists run" "$SCRATCH/out" "run FILE"
expect_exit 0 "run --help" "$TROUPE" run --help
expect_contains "run --help: documents --set" "$SCRATCH/out" "--set ACTOR.KEY=VALUE"
expect_exit 0 "version" "$TROUPE" version
expect_exit 0 "modules" "$TROUPE" modules
expect_contains "modules: seq and its arguments" "$SCRATCH/out" "args: count start step each"
expect_eq "modules: every built-in, sorted" "$(awk '/^[a-z]/ {print $1}' "$SCRATCH/out" | paste -sd' ')" \
    "collect count counter hello jsonl_in jsonl_out lines print seq sorted spin square sum"
expect_exit 2 "run without a file" "$TROUPE" run
expect_contains "run without a file: says so" "$SCRATCH/err" "which config file?"
expect_exit 2 "run with a bad option" "$TROUPE" run --bogus x.zpl
expect_contains "bad option: named" "$SCRATCH/err" "'--bogus'"
expect_exit 2 "bad --grace" "$TROUPE" run --grace soon x.zpl
expect_exit 2 "missing file" "$TROUPE" run "$SCRATCH/none.zpl"
expect_contains "missing file: named" "$SCRATCH/err" "$SCRATCH/none.zpl: cannot read: No such file"
expect_exit 2 "bad --set" "$TROUPE" check -s nodot "$SRC/examples/squares.zpl"
expect_contains "bad --set: says the form" "$SCRATCH/err" "expected ACTOR.KEY=VALUE"
expect_exit 2 "--set of an unknown actor" "$TROUPE" check -s ghost.instances=2 "$SRC/examples/squares.zpl"
expect_contains "--set unknown actor: named" "$SCRATCH/err" "no actor named 'ghost'"
expect_exit 2 "--set of a bad value" "$TROUPE" check -s square.instances=lots "$SRC/examples/squares.zpl"
expect_contains "--set bad value: names the override" "$SCRATCH/err" "--set square.instances=lots: actor 'square': instances: 'lots'"

# wordcount.zpl's tokenizer is an example module, built here (a user
# builds it with make -C examples/module)
for f in "$SRC"/examples/*.zpl; do
    set_tokenize=()
    [ "$(basename "$f")" = wordcount.zpl ] && set_tokenize=(-s "split.module=$BUILD/examples/tokenize.so")
    expect_exit 0 "check $(basename "$f")" "$TROUPE" check "${set_tokenize[@]}" "$f"
done

for f in "$SRC"/tests/configs/*.zpl; do
    name=$(basename "$f")
    want=$(sed -n '1s/^# expect: //p' "$f")
    [ -n "$want" ] || { fail "$name: first line must be '# expect: ...'"; continue; }
    expect_exit 2 "check $name" "$TROUPE" check "$f"
    expect_contains "check $name: error" "$SCRATCH/err" "$f$want"
    expect_exit 2 "run $name" "$TROUPE" run "$f"
done
# an override of a pipeline key in a file without a pipeline section (it
# crashed: the section made for it had no value)
printf 'actor = a\n    module = seq\n    out = x\nactor = b\n    module = print\n    in = x\n' \
    > "$SCRATCH/nopipe.zpl"
"$TROUPE" check -s pipeline.window=7 "$SCRATCH/nopipe.zpl" > "$SCRATCH/nopipe.out" 2>&1
expect_eq "-s pipeline.KEY with no pipeline section: exit code" "$?" 0
expect_contains "-s pipeline.KEY with no pipeline section: checked" "$SCRATCH/nopipe.out" \
    "ok: pipeline 'nopipe'"
finish
