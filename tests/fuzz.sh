#!/usr/bin/env bash
# fuzz: builds the libFuzzer targets (clang, ASan, UBSan) for the envelope
# decoder and the config loader and runs each for a fixed number of inputs
# from a seed corpus. `make fuzz` runs them longer (FUZZ_SECONDS each).
#   fuzz.sh BUILD_DIR SOURCE_DIR [seconds]
. "$(dirname "$0")/lib.sh"
command -v clang > /dev/null || { echo "clang not installed: skipped"; exit 77; }
seconds=${3:-}
out="$BUILD/fuzz"
mkdir -p "$out"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$SRC/runtime"
deps=$(pkg-config --cflags --libs libczmq libzmq msgpack)
# shellcheck disable=SC2086
clang $flags -o "$out/fuzz_envelope" "$SRC/tests/fuzz/fuzz_envelope.c" \
    "$SRC/runtime/wire/envelope.c" $deps || { fail "building fuzz_envelope"; finish; }
# shellcheck disable=SC2086
clang $flags -o "$out/fuzz_config" "$SRC/tests/fuzz/fuzz_config.c" \
    "$SRC/runtime/plan/config.c" "$SRC/runtime/base/module.c" "$SRC/runtime/plan/plan.c" \
    "$SRC/runtime/plan/names.c" "$SRC/runtime/wire/envelope.c" \
    "$SRC/runtime/base/selfref.c" "$SRC/runtime/base/paths.c" $deps -ldl -lm \
    || { fail "building fuzz_config"; finish; }

# seed corpora: real batches and acks for the decoder, every config we have
mkdir -p "$SCRATCH/env" "$SCRATCH/cfg"
/usr/bin/python3 - "$SCRATCH/env" <<'PY'
import msgpack, struct, sys
d = sys.argv[1]
seeds = [
    [1, 0, 0, 0, 0, [[1], [], "failed", None, [1, "a", 2.5, [1, {"k": b"v"}]]]],
    [1, 1, "print#0", 4, "topic"],
    [1, 2, 3, [0, 1, 2], 1500],
]
for i, s in enumerate(seeds):
    open(f"{d}/seed{i}", "wb").write(msgpack.packb(s))
# a batch with the header troupe writes (fixed-size fields), of integers:
# env_decode reads these without msgpack-c
groups = [[0], [127], [-1], [2**40], [-2**40], [], [1, 2, 3], [2**64 - 1]]
head = struct.pack(">BBBBQBIBQBI", 0x96, 1, 0, 0xCF, 5, 0xCE, 2, 0xCF, 4096, 0xDD,
                   len(groups))
open(f"{d}/seed_ints", "wb").write(head + b"".join(msgpack.packb(g) for g in groups))
# and of plain values (strings, floats, booleans, nil), read the same way
groups = [["a", "the"], [b"\x00", 1.5, True, None], ["x" * 40] * 17, []]
head = struct.pack(">BBBBQBIBQBI", 0x96, 1, 0, 0xCF, 6, 0xCE, 2, 0xCF, 8, 0xDD,
                   len(groups))
open(f"{d}/seed_plain", "wb").write(head + b"".join(msgpack.packb(g) for g in groups))
PY
cp "$SRC"/examples/*.zpl "$SRC"/tests/configs/*.zpl "$SCRATCH/cfg/"

export TROUPE_MODULE_PATH="$BUILD/actors"
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1
if [ -n "$seconds" ]; then limit="-max_total_time=$seconds"; else limit=""; fi
run_fuzzer() { # NAME CORPUS RUNS
    local args=("-runs=$3")
    [ -n "$limit" ] && args=("$limit")
    if "$out/$1" "${args[@]}" -rss_limit_mb=4096 -max_len=4096 "$2" > "$SCRATCH/$1.log" 2>&1; then
        ok "$1: $(grep -o 'Done [0-9]* runs' "$SCRATCH/$1.log" | tail -1)"
    else
        fail "$1 found a problem:"; tail -40 "$SCRATCH/$1.log" >&2
    fi
}
run_fuzzer fuzz_envelope "$SCRATCH/env" 200000
run_fuzzer fuzz_config "$SCRATCH/cfg" 3000
finish
