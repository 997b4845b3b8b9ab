#!/usr/bin/env bash
# module_out_of_tree: examples/module builds in a folder of its own with
# nothing but `pkg-config troupe` (the build tree's uninstalled .pc) and
# runs in a pipeline with the exact expected output, from any working
# directory and from stdin; an item it fails ends the run with exit 1 and a
# message naming the item, or is skipped with on_error = skip; a bad
# argument is refused before anything runs. A module built for ABI 1 (the
# descriptor before snapshot and restore) still loads and runs; one built
# for an ABI newer than this troupe's is refused, naming the ABI.
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

# A module built for ABI 1, against the troupe.h of before ABI 2: its own
# descriptor with exactly ABI 1's fields (it ends at idle), not
# troupe_module_t, which has grown since. It loads and runs as it did.
cat > "$MINE/abi1.c" <<'C'
#include <troupe.h>

#ifndef ABI
#define ABI 1
#endif

/* troupe.h's troupe_module_t as ABI 1 had it */
typedef struct {
    uint32_t abi_version;
    const char *name;
    const char *summary;
    const char *const *args;
    uint32_t flags;
    troupe_start_fn *start;
    troupe_message_fn *message;
    troupe_produce_fn *produce;
    troupe_flush_fn *flush;
    troupe_stop_fn *stop;
    troupe_idle_fn *idle;
} abi1_module_t;

static int64_t by = 1;

static int plus_start(troupe_ctx_t *ctx)
{
    by = troupe_arg_int(ctx, "by", 1);
    return troupe_failed(ctx) ? TROUPE_ERROR : TROUPE_OK;
}

static int plus_message(troupe_ctx_t *ctx, const msgpack_object *value)
{
    int64_t v;
    if (!troupe_as_int(value, &v)) {
        troupe_fail(ctx, "plus: not an integer");
        return TROUPE_ERROR;
    }
    return troupe_emit_int(ctx, v + by) == 0 ? TROUPE_OK : TROUPE_ERROR;
}

static void plus_idle(troupe_ctx_t *ctx) { (void)ctx; }
static void plus_stop(troupe_ctx_t *ctx) { (void)ctx; }

static const char *const plus_args[] = { "by", NULL };

__attribute__((visibility("default"))) const abi1_module_t troupe_module = {
    .abi_version = ABI,
    .name = "plus",
    .summary = "adds `by` (1) to each integer",
    .args = plus_args,
    .flags = 0,
    .start = plus_start,
    .message = plus_message,
    .stop = plus_stop,
    .idle = plus_idle,
};
C
build_module() { # OUT.so EXTRA-CFLAGS...
    local out=$1
    shift
    # shellcheck disable=SC2046 # pkg-config's flags are words
    ${CC:-cc} -O2 -Wall -Wextra -Werror -fPIC "$@" \
        $(PKG_CONFIG_PATH="$BUILD/meson-uninstalled" pkg-config --cflags troupe) \
        -shared -o "$MINE/$out" "$MINE/abi1.c" \
        $(PKG_CONFIG_PATH="$BUILD/meson-uninstalled" pkg-config --libs troupe) \
        >> "$SCRATCH/abi1.log" 2>&1
}
if build_module abi1.so && build_module abi99.so -DABI=99; then
    ok "ABI 1 and ABI 99 modules build"
else
    fail "the ABI 1 module does not build:"; cat "$SCRATCH/abi1.log" >&2
fi
for abi in 1 99; do
    cat > "$MINE/abi$abi.zpl" <<ZPL
pipeline = abi$abi
actor = numbers
    module = seq
    out = numbers
    args
        count = 100
actor = plus
    module = ./abi$abi.so
    in = numbers
    out = more
actor = show
    module = print
    in = more
ZPL
done
seq 1 100 > "$SCRATCH/want"
"$TROUPE" run "$MINE/abi1.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "ABI 1 module: exit code" "$?" 0
expect_file_eq "ABI 1 module: output" "$SCRATCH/out" "$SCRATCH/want"
[ -s "$SCRATCH/err" ] && { fail "ABI 1 module: unexpected stderr:"; cat "$SCRATCH/err" >&2; }
# its args field is read where ABI 1 has it
"$TROUPE" run -s plus.args.by=-1 "$MINE/abi1.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "ABI 1 module with an argument: exit code" "$?" 0
seq -1 98 > "$SCRATCH/want"
expect_file_eq "ABI 1 module with an argument: output" "$SCRATCH/out" "$SCRATCH/want"
"$TROUPE" check -s plus.args.step=2 "$MINE/abi1.zpl" > /dev/null 2> "$SCRATCH/err"
expect_eq "ABI 1 module, unknown argument: exit code" "$?" 2
expect_contains "ABI 1 module, unknown argument: named" "$SCRATCH/err" \
    "module './abi1.so' takes no argument 'step' (it takes: by)"

# one built for an ABI this troupe does not speak is refused, by check and
# by run, before anything runs
abi_min=$(sed -n 's/^#define TROUPE_ABI_MIN \([0-9]*\).*/\1/p' "$SRC/runtime/troupe.h")
abi_max=$(sed -n 's/^#define TROUPE_ABI_VERSION \([0-9]*\).*/\1/p' "$SRC/runtime/troupe.h")
refused="was built for troupe ABI 99, this troupe speaks ABI $abi_min to $abi_max: rebuild it against this troupe.h"
"$TROUPE" check "$MINE/abi99.zpl" > /dev/null 2> "$SCRATCH/err"
expect_eq "ABI 99 module, check: exit code" "$?" 2
expect_contains "ABI 99 module, check: refused" "$SCRATCH/err" "abi99.so' $refused"
"$TROUPE" run "$MINE/abi99.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "ABI 99 module, run: exit code" "$?" 2
expect_contains "ABI 99 module, run: refused" "$SCRATCH/err" "abi99.so' $refused"
[ -s "$SCRATCH/out" ] && fail "ABI 99 module: something ran"
for p in wordlen mixed abi1 abi99; do expect_nothing_left "$p" "$p"; done
finish
