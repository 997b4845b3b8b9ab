# lib.sh: shared by the integration tests. Each test is run by meson as
#   test.sh BUILD_DIR SOURCE_DIR
# and gets a private scratch dir and a private XDG_RUNTIME_DIR, so that the
# run directories it leaves (or not) are its own to check.
set -u
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TROUPE="$BUILD/troupe"
SCRATCH=$(mktemp -d /tmp/troupe-test.XXXXXX)
export XDG_RUNTIME_DIR="$SCRATCH/run"
mkdir -p "$XDG_RUNTIME_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
FAILED=0
# A background subshell (a killer, a relay) signalled before bash has reset
# the traps it was forked with runs them itself: an EXIT trap acts only in
# the test's own shell. Under load one such killer, stopped at once,
# removed chaos_matrix's scratch directory in the middle of its run.
main_shell() { [ "$BASHPID" = "$$" ]; }
trap 'main_shell && rm -rf "$SCRATCH"' EXIT

fail() {
    echo "FAIL: $*" >&2
    FAILED=1
}

ok() {
    echo "ok: $*"
}

# expect_eq WHAT GOT WANT
expect_eq() {
    if [ "$2" == "$3" ]; then ok "$1"; else fail "$1: got '$2', want '$3'"; fi
}

# expect_file_eq WHAT GOT_FILE WANT_FILE
expect_file_eq() {
    if cmp -s "$2" "$3"; then ok "$1"; else
        fail "$1: output differs"; diff "$2" "$3" | head -10 >&2
    fi
}

# expect_contains WHAT FILE TEXT
expect_contains() {
    if grep -qF -- "$3" "$2"; then ok "$1"; else
        fail "$1: '$3' not in:"; head -20 "$2" >&2
    fi
}

# pids of the actor processes of pipeline $1 (by their process title)
actor_pids() {
    pgrep -f "^troupe: $1/" || true
}

# no process of pipeline $1 alive and no run directory left
expect_nothing_left() {
    local pids left
    for _ in $(seq 50); do
        pids=$(actor_pids "$1")
        [ -z "$pids" ] && break
        sleep 0.1
    done
    expect_eq "$2: no actor process of '$1' left" "$pids" ""
    # the supervisor removes its run directory after its actors are gone
    # (it reaps them, stops its zygote, closes its sockets first): as long
    # as the same bound
    for _ in $(seq 50); do
        [ -z "$(ls -A "$XDG_RUNTIME_DIR")" ] && break
        sleep 0.1
    done
    left=$(ls -A "$XDG_RUNTIME_DIR")
    expect_eq "$2: no run directory left" "$left" ""
}

# the first N squares, one per line
squares() {
    /usr/bin/python3 -c "import sys; n=int(sys.argv[1]); sys.stdout.write(''.join(f'{i*i}\n' for i in range(n)))" "$1"
}

# map_pipeline NAME COUNT INSTANCES: $SCRATCH/NAME.zpl, seq -> spin (20 us,
# INSTANCES workers, which nodes may run) -> square -> print: prints the
# squares of 0 .. COUNT-1 in order
map_pipeline() {
    cat > "$SCRATCH/$1.zpl" <<ZPL
pipeline = $1
actor = numbers
    module = seq
    out = numbers
    args
        count = $2
actor = work
    module = spin
    instances = $3
    in = numbers
    out = middle
    max_restarts = 100
    args
        us = 20
actor = again
    module = square
    in = middle
    out = squares
actor = print
    module = print
    in = squares
ZPL
}

# items_on STATS ACTOR: the items each place handled for ACTOR, from a
# --stats JSON file: "head n1 n2"
items_on() {
    /usr/bin/python3 -c '
import json, sys
a = [a for a in json.load(open(sys.argv[1]))["actors"] if a["name"] == sys.argv[2]][0]
print(" ".join(str(a.get("nodes", {}).get(k, 0)) for k in ("head", "n1", "n2")))' "$1" "$2"
}

# waits until the run whose stderr is file $1 (run with -v -v) has started
# every actor: a death before the start fails a run by design, so tests
# that kill on purpose wait for this first (a busy machine starts slowly).
# Empty $1 before the run is started in the background: the job's own
# 2> $1 may come after the first look here, and an earlier run's "; starting"
# would be taken for this one's (seen in nodes.sh, whose head opens a fifo
# first)
wait_started() {
    for _ in $(seq 1200); do grep -q "; starting" "$1" 2> /dev/null && return 0; sleep 0.05; done
    fail "the run never started (no '; starting' in $1)"
}

# waits for background job $1 at most $2 seconds, then kills it and fails
# (a hang is a failure with a message, not a test killed by its timeout);
# returns the job's exit status
wait_at_most() {
    local i
    for ((i = 0; i < $2 * 20; i++)); do kill -0 "$1" 2> /dev/null || break; sleep 0.05; done
    if kill -0 "$1" 2> /dev/null; then
        fail "still running after $2 s (pid $1): killed"
        kill -KILL "$1" 2> /dev/null
    fi
    wait "$1"
}

finish() {
    if [ "$FAILED" -ne 0 ]; then echo "some checks failed" >&2; exit 1; fi
    exit 0
}

# restarts_in STATS_FILE [ACTOR]: the restarts of ACTOR (of every actor,
# added up) in a run's --stats file; "?" if it cannot be read
restarts_in() {
    /usr/bin/python3 -c 'import json,sys; print(sum(a["restarts"] for a in json.load(open(sys.argv[1]))["actors"] if len(sys.argv) < 3 or a["name"] == sys.argv[2]))' "$@" 2> /dev/null || echo "?"
}

# faulty_pipeline NAME COUNT WORKERS MODE CHANCE FANOUT [key = value...]:
# $SCRATCH/NAME.zpl, seq COUNT -> tests/faulty.so xWORKERS (restarted up to
# 100000 times) -> print; each extra key goes to the worker, or with an
# "args:" prefix to its args (args:at = 33)
faulty_pipeline() {
    local name=$1 count=$2 workers=$3 mode=$4 chance=$5 fanout=$6 kv; shift 6
    {
        echo "pipeline = $name"
        echo "actor = numbers"
        echo "    module = seq"
        echo "    out = numbers"
        echo "    args"
        echo "        count = $count"
        echo "actor = work"
        echo "    module = $BUILD/tests/faulty.so"
        echo "    instances = $workers"
        echo "    in = numbers"
        echo "    out = results"
        echo "    max_restarts = 100000"
        for kv in "$@"; do [ "${kv#args:}" != "$kv" ] || echo "    $kv"; done
        echo "    args"
        echo "        mode = $mode"
        echo "        chance = $chance"
        echo "        fanout = $fanout"
        for kv in "$@"; do [ "${kv#args:}" = "$kv" ] || echo "        ${kv#args:}"; done
        echo "actor = print"
        echo "    module = print"
        echo "    in = results"
    } > "$SCRATCH/$name.zpl"
}
