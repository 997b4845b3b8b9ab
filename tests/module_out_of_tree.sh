#!/usr/bin/env bash
# module_out_of_tree: examples/module builds in a folder of its own with
# nothing but `pkg-config troupe` (the build tree's uninstalled .pc), runs
# in a pipeline with the exact expected output, and an item it fails ends
# the run with exit 1 and a message naming the item.
. "$(dirname "$0")/lib.sh"

cp -r "$SRC/examples/module" "$SCRATCH/mine"
rm -f "$SCRATCH/mine/wordlen.so"
if PKG_CONFIG_PATH="$BUILD/meson-uninstalled" make -C "$SCRATCH/mine" > "$SCRATCH/make.log" 2>&1; then
    ok "builds with pkg-config"
else
    fail "make failed:"; cat "$SCRATCH/make.log" >&2; finish
fi
grep -q -- "-ltroupe" "$SCRATCH/make.log" || fail "pkg-config --libs troupe did not give -ltroupe"

"$TROUPE" run "$SCRATCH/mine/wordlen.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "wordlen: exit code" "$?" 0
expect_file_eq "wordlen: output" "$SCRATCH/out" "$SRC/tests/expected/wordlen.out"

# a number among the lines: the module fails that item
cat > "$SCRATCH/mine/mixed.zpl" <<'ZPL'
pipeline = mixed
actor = nums
    module = seq
    out = lines
    args
        count = 3
actor = words
    module = ./wordlen.so
    in = lines
    out = pairs
actor = show
    module = print
    in = pairs
ZPL
"$TROUPE" run "$SCRATCH/mine/mixed.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "a failed item: exit code" "$?" 1
expect_contains "a failed item: named" "$SCRATCH/err" "actor 'words' #0: item 0 failed: wordlen: item 0 is not text"

# a bad argument is refused before anything runs
"$TROUPE" run -s words.args.min=0 "$SCRATCH/mine/wordlen.zpl" > /dev/null 2> "$SCRATCH/err"
expect_eq "bad argument: exit code" "$?" 2
expect_contains "bad argument: named" "$SCRATCH/err" "argument 'min': 0 is less than 1"
"$TROUPE" check -s words.args.minimum=2 "$SCRATCH/mine/wordlen.zpl" > /dev/null 2> "$SCRATCH/err"
expect_contains "unknown argument: named" "$SCRATCH/err" "module './wordlen.so' takes no argument 'minimum' (it takes: min)"
for p in wordlen mixed; do expect_nothing_left "$p" "$p"; done
finish
