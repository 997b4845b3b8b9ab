#!/usr/bin/env bash
# embed_interrupt: a program with a pool busy mapping is stopped by Ctrl-C
# (SIGINT to its whole process group) or killed outright (SIGKILL to the
# program alone): either way the pool's supervisor, zygote and workers all
# end, and the pool's run directory is gone.
. "$(dirname "$0")/lib.sh"
PROG="$BUILD/tests/embed/test_pool"
export TROUPE_MODULE_PATH="$BUILD/actors"

# starts the program in a session of its own with SIGINT at its default
# (a shell's background job ignores it), and waits for it to say it maps
start_mapping() {
    /usr/bin/python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execv(sys.argv[1], sys.argv[1:])' "$PROG" --serve-until-killed > "$SCRATCH/out" 2> "$SCRATCH/err" &
    pid=$!
    for _ in $(seq 200); do grep -q mapping "$SCRATCH/out" && break; sleep 0.05; done
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
finish
