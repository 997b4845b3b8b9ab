#!/usr/bin/env bash
# embed_interrupt: a program with a pool busy mapping is stopped by Ctrl-C
# (SIGINT to its whole process group) or killed outright (SIGKILL to the
# program alone): either way the pool's supervisor, zygote and workers all
# end, and the pool's run directory is gone. A program with a SIGINT
# handler of its own that calls troupe_pool_cancel gets its map back at
# Ctrl-C (-1, ECANCELED), goes on with the same pool and ends cleanly.
. "$(dirname "$0")/lib.sh"
PROG="$BUILD/tests/embed/test_pool"
CANCEL="$BUILD/tests/embed/test_pool_cancel"
export TROUPE_MODULE_PATH="$BUILD/actors"

# starts the program in a session of its own with SIGINT at its default
# (a shell's background job ignores it), and waits for it to say it maps
start_mapping() { # [PROGRAM ARG]
    /usr/bin/python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execv(sys.argv[1], sys.argv[1:])' "${1:-$PROG}" "${2:---serve-until-killed}" \
        > "$SCRATCH/out" 2> "$SCRATCH/err" &
    pid=$!
    for _ in $(seq 200); do grep -q mapping "$SCRATCH/out" && return 0; sleep 0.05; done
    # not mapping after 10 s: what it said and what runs, for the log
    echo "not mapping after 10 s: ${1:-$PROG}; its stderr:"
    sed 's/^/    /' "$SCRATCH/err"
    ps -ef --forest | grep -A6 -- "${1:-$PROG}" | grep -v grep | sed 's/^/    /'
}

start_mapping
[ -n "$(actor_pids interrupted)" ] || fail "SIGINT: no worker was running"
kill -INT -- "-$pid"
wait "$pid"
expect_eq "SIGINT: the program died of it" "$?" 130
expect_nothing_left interrupted "SIGINT"

start_mapping
[ -n "$(actor_pids interrupted)" ] || fail "SIGKILL: no worker was running"
kill -KILL "$pid"
wait "$pid"
expect_eq "SIGKILL: the program died of it" "$?" 137
expect_nothing_left interrupted "SIGKILL"

# the program's own handler cancels the map (500 s of work): the map
# returns, the pool maps again (spin passes items on: 5 last), the
# program closes it and exits 0
start_mapping "$CANCEL" --map-until-cancelled
[ -n "$(actor_pids cancelled)" ] || fail "cancel: no worker was running"
kill -INT -- "-$pid"
wait_at_most "$pid" 30
expect_eq "cancel: the program ended by itself" "$?" 0
expect_contains "cancel: the map returned, cancelled" "$SCRATCH/out" "map: -1 ECANCELED"
expect_contains "cancel: the pool went on" "$SCRATCH/out" "after: 0, 5"
expect_nothing_left cancelled "cancel"
finish
