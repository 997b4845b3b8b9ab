#!/usr/bin/env bash
# module_out_of_tree: examples/module builds in a folder of its own with
# nothing but `pkg-config troupe` (the build tree's uninstalled .pc) and
# runs in a pipeline with the exact expected output, from any working
# directory and from stdin; an item it fails ends the run with exit 1 and a
# message naming the item, or is skipped with on_error = skip; a bad
# argument is refused before anything runs.
. "$(dirname "$0")/lib.sh"

MINE="$SCRATCH/mine"
cp -r "$SRC/examples/module" "$MINE"
rm -f "$MINE/wordlen.so"
if PKG_CONFIG_PATH="$BUILD/meson-uninstalled" make -C "$MINE" > "$SCRATCH/make.log" 2>&1; then
    ok "builds with pkg-config"
else
    fail "make failed:"; cat "$SCRATCH/make.log" >&2; finish
fi
grep -q -- "-ltroupe" "$SCRATCH/make.log" || fail "pkg-config --libs troupe did not give -ltroupe"

# from another working directory: the module path and the lines file are
# both taken from the config's folder
(cd / && "$TROUPE" run "$MINE/wordlen.zpl") > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "wordlen: exit code" "$?" 0
expect_file_eq "wordlen: output" "$SCRATCH/out" "$SRC/tests/expected/wordlen.out"
[ -s "$SCRATCH/err" ] && { fail "wordlen: unexpected stderr:"; cat "$SCRATCH/err" >&2; }

"$TROUPE" run -s text.args.file=- "$MINE/wordlen.zpl" < "$MINE/words.txt" \
    > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "wordlen from stdin: exit code" "$?" 0
expect_file_eq "wordlen from stdin: output" "$SCRATCH/out" "$SRC/tests/expected/wordlen.out"

# numbers join the text on the same channel: the module fails those items
cat > "$MINE/mixed.zpl" <<'ZPL'
pipeline = mixed
actor = text
    module = lines
    out = lines
    args
        file = words.txt
actor = nums
    module = seq
    out = lines
    args
        count = 3
        start = 7
actor = words
    module = ./wordlen.so
    in = lines
    out = pairs
    args
        min = 3
actor = show
    module = print
    in = pairs
ZPL
"$TROUPE" run "$MINE/mixed.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "a failed item: exit code" "$?" 1
expect_contains "a failed item: named" "$SCRATCH/err" \
    "actor 'words' #0: item 0 failed: wordlen: not text: 7"

"$TROUPE" run -v -s words.on_error=skip "$MINE/mixed.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "skipped items: exit code" "$?" 0
expect_file_eq "skipped items: output" "$SCRATCH/out" "$SRC/tests/expected/wordlen.out"
expect_contains "skipped items: reported" "$SCRATCH/err" \
    "actor 'words' #0: item 2 failed (skipped): wordlen: not text: 9"

# a bad argument is refused before anything runs
"$TROUPE" run -s words.args.min=0 "$MINE/wordlen.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "bad argument: exit code" "$?" 2
expect_contains "bad argument: named" "$SCRATCH/err" "argument 'min': 0 is less than 1"
[ -s "$SCRATCH/out" ] && fail "bad argument: something ran"
"$TROUPE" check -s words.args.minimum=2 "$MINE/wordlen.zpl" > /dev/null 2> "$SCRATCH/err"
expect_eq "unknown argument: exit code" "$?" 2
expect_contains "unknown argument: named" "$SCRATCH/err" \
    "module './wordlen.so' takes no argument 'minimum' (it takes: min)"
for p in wordlen mixed; do expect_nothing_left "$p" "$p"; done
finish
