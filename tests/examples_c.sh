#!/usr/bin/env bash
# examples_c: every program of examples/c/ prints what examples/README.md
# says it prints (sorted where the order between processes may vary),
# exits 0 with nothing on stderr, and leaves no process and no run
# directory behind; a bad argument ends one with exit 1 and the reason;
# and two of them build out of tree with nothing but
# `pkg-config --cflags --libs troupe` against the build tree's .pc, and run
# from anywhere.
. "$(dirname "$0")/lib.sh"

EX="$BUILD/examples"
# Set only in the examples' environment, which every process they start
# inherits (pool supervisors and workers too): how this test finds its own
# processes. lib.sh's expect_nothing_left goes by pipeline name, but every
# pool's pipeline is named "pool", and tests running beside this one have
# pools of their own.
MARK="TROUPE_EXAMPLES_C_TEST=$SCRATCH"

# pids of live processes started by an example (grep -z: the entries of
# /proc/PID/environ end with NUL)
example_pids() {
    grep -lzxF "$MARK" /proc/[0-9]*/environ 2> /dev/null | cut -d/ -f3
    return 0
}

# no process of the example's left (after up to 5 s), no run directory left
expect_none_left() { # WHAT
    local pids
    for _ in $(seq 50); do
        pids=$(example_pids)
        [ -z "$pids" ] && break
        sleep 0.1
    done
    expect_eq "$1: no process left" "$pids" ""
    expect_eq "$1: no run directory left" "$(ls -A "$XDG_RUNTIME_DIR")" ""
}

# run_c WHAT PROGRAM [ARGS...]: stdout to $SCRATCH/out; exit code 0, empty
# stderr and nothing left checked
run_c() {
    local what=$1 program=$2; shift 2
    env "$MARK" "$program" "$@" > "$SCRATCH/out" 2> "$SCRATCH/err"
    expect_eq "$what: exit code" "$?" 0
    if [ -s "$SCRATCH/err" ]; then fail "$what: unexpected stderr:"; head "$SCRATCH/err" >&2; fi
    expect_none_left "$what"
}

run_c processes "$EX/processes"
sort "$SCRATCH/out" > "$SCRATCH/got"
printf 'worker %d\n' 0 1 2 3 4 > "$SCRATCH/want"
expect_file_eq "processes: each of five workers prints once" "$SCRATCH/got" "$SCRATCH/want"

run_c pool_map "$EX/pool_map"
expect_eq "pool_map: the squares, in input order" "$(cat "$SCRATCH/out")" "[1, 4, 9, 16, 25]"

run_c counter "$EX/counter"
expect_eq "counter: 5 workers x 1000 increments" "$(cat "$SCRATCH/out")" 5000

run_c shared_counter "$EX/shared_counter"
expect_eq "shared_counter: 5 workers x 1000 increments under the lock" "$(cat "$SCRATCH/out")" 5000

# what a killed program's queue left (its pid is gone) is removed by the
# next queue made; a live owner's directory, and anything not named as
# troupe names its own, are not touched
true & dead=$!
wait $dead
mkdir -m 700 "$XDG_RUNTIME_DIR/troupe-queue-$dead-AbCdEf" "$XDG_RUNTIME_DIR/troupe-queue-$$-GhIjKl" \
    "$XDG_RUNTIME_DIR/troupe-queue-mine"
touch "$XDG_RUNTIME_DIR/troupe-queue-$dead-AbCdEf/queue"
env "$MARK" "$EX/queue" > /dev/null 2>&1
expect_eq "queue, beside others' directories: exit code" "$?" 0
[ -e "$XDG_RUNTIME_DIR/troupe-queue-$dead-AbCdEf" ] \
    && fail "queue: a dead program's queue directory was not removed" \
    || ok "queue: a dead program's queue directory is removed by the next queue"
[ -d "$XDG_RUNTIME_DIR/troupe-queue-$$-GhIjKl" ] && [ -d "$XDG_RUNTIME_DIR/troupe-queue-mine" ] \
    && ok "queue: a live owner's directory and a stranger are left alone" \
    || fail "queue: removed a directory that was not a dead program's"
rmdir "$XDG_RUNTIME_DIR/troupe-queue-$$-GhIjKl" "$XDG_RUNTIME_DIR/troupe-queue-mine"
run_c queue "$EX/queue"
printf 'consumed %d\n' $(seq 1 10) > "$SCRATCH/want"
expect_file_eq "queue: ten items consumed, in order" "$SCRATCH/out" "$SCRATCH/want"

run_c futures "$EX/futures"
head -n 8 "$SCRATCH/out" | sort > "$SCRATCH/got"
printf 'done: %d\n' 1 4 9 16 25 36 49 64 | sort > "$SCRATCH/want"
expect_file_eq "futures: each result once, as it completes" "$SCRATCH/got" "$SCRATCH/want"
expect_eq "futures: then the sum, last" "$(tail -n +9 "$SCRATCH/out")" "sum 204"

run_c imap "$EX/imap"
{ for n in $(seq 0 9); do echo $((n * n)); done; echo "map_async: not done in 0.1 s"; } \
    > "$SCRATCH/want"
expect_file_eq "imap: the squares in input order, then the map that timed out" \
    "$SCRATCH/out" "$SCRATCH/want"

# small, and never a speedup threshold: machines are noisy
run_c cpu_bound "$EX/cpu_bound" 40 2000
line=$(cat "$SCRATCH/out")
re='^serial ([0-9]+\.[0-9]{3}) s, parallel ([0-9]+\.[0-9]{3}) s on ([0-9]+) workers, speedup ([0-9]+\.[0-9]{2})$'
if [[ $line =~ $re ]]; then
    ok "cpu_bound: one line of the expected shape"
    serial=${BASH_REMATCH[1]} parallel=${BASH_REMATCH[2]} workers=${BASH_REMATCH[3]}
    awk -v s="$serial" -v p="$parallel" 'BEGIN { exit !(s > 0 && p > 0) }' \
        && ok "cpu_bound: both times positive" \
        || fail "cpu_bound: a time is not positive: $line"
    expect_eq "cpu_bound: one worker per core" "$workers" "$(getconf _NPROCESSORS_ONLN)"
else
    fail "cpu_bound: unexpected output: '$line'"
fi

# an error: said on stderr with the reason, exit 1, nothing left
env "$MARK" "$EX/cpu_bound" 10 lots > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "cpu_bound, bad argument: exit code" "$?" 1
expect_contains "cpu_bound, bad argument: the reason" "$SCRATCH/err" \
    "argument 'us': 'lots' is not an integer"
[ -s "$SCRATCH/out" ] && fail "cpu_bound, bad argument: printed a result"
expect_none_left "cpu_bound, bad argument"

# Out of tree: the program's own module (futures: its workers are the
# program started again) and a built-in one (pool_map), compiled with
# pkg-config's flags alone, run from / with no troupe variable set.
MINE="$SCRATCH/mine"
mkdir -p "$MINE"
export PKG_CONFIG_PATH="$BUILD/meson-uninstalled"
flags=$(pkg-config --cflags --libs troupe)
expect_eq "pkg-config --cflags --libs troupe: exit code" "$?" 0
for name in futures pool_map; do
    cp "$SRC/examples/c/$name.c" "$MINE/"
    # $flags unquoted: one word per flag
    if ${CC:-cc} -Wall -Wextra -Werror -o "$MINE/$name" "$MINE/$name.c" $flags \
        > "$SCRATCH/cc.log" 2>&1; then
        ok "$name: builds out of tree with pkg-config"
    else
        fail "$name: out of tree build failed:"; cat "$SCRATCH/cc.log" >&2; continue
    fi
    (cd / && env -u TROUPE_MODULE_PATH -u TROUPE_ACTOR -u LD_LIBRARY_PATH \
        "$MARK" "$MINE/$name" > "$SCRATCH/$name.out" 2> "$SCRATCH/err")
    expect_eq "$name out of tree: exit code" "$?" 0
    if [ -s "$SCRATCH/err" ]; then fail "$name out of tree: stderr:"; head "$SCRATCH/err" >&2; fi
    expect_none_left "$name out of tree"
done
expect_eq "futures out of tree: the sum" "$(tail -n 1 "$SCRATCH/futures.out")" "sum 204"
expect_eq "pool_map out of tree: the squares" "$(cat "$SCRATCH/pool_map.out")" "[1, 4, 9, 16, 25]"
finish
