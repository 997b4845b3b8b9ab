# chaos_lib.sh: the runs and the killer of tests/chaos_matrix.sh and
# tests/soak.sh, sourced after lib.sh. A test that sources it owns one run
# at a time (RUN_PID) and its killer (KILLER_PID); both are stopped on exit.
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
KILL_MIN_MS=${KILL_MIN_MS:-50}
KILL_MAX_MS=${KILL_MAX_MS:-150}

RUN_PID=
KILLER_PID=
stop_run() {
    if [ -n "$KILLER_PID" ]; then kill "$KILLER_PID" 2> /dev/null; wait "$KILLER_PID" 2> /dev/null; fi
    KILLER_PID=
    if [ -n "$RUN_PID" ] && kill -0 "$RUN_PID" 2> /dev/null; then
        # timeout(1) passes SIGTERM on to troupe, which stops its actors
        kill -TERM "$RUN_PID" 2> /dev/null
        for _ in $(seq 100); do kill -0 "$RUN_PID" 2> /dev/null || break; sleep 0.1; done
        local child
        for child in $(pgrep -P "$RUN_PID"); do kill -KILL "$child" 2> /dev/null; done
        kill -KILL "$RUN_PID" 2> /dev/null
        wait "$RUN_PID" 2> /dev/null
    fi
    RUN_PID=
}
trap 'main_shell && { stop_run; [ -n "${KEEP_SCRATCH:-}" ] || rm -rf "$SCRATCH"; }' EXIT
trap 'exit 130' INT TERM

# start_run NAME [troupe run options...]: $SCRATCH/NAME.zpl in the background,
# bounded by RUN_TIMEOUT (s), stdout to NAME.out, stderr to NAME.err, stats to
# NAME.json; RUN_PID is timeout(1)'s pid
start_run() {
    local name=$1; shift
    rm -f "$SCRATCH/$name.json"
    timeout -k 10 "$RUN_TIMEOUT" "$TROUPE" run --stats "$SCRATCH/$name.json" "$@" \
        "$SCRATCH/$name.zpl" > "$SCRATCH/$name.out" 2> "$SCRATCH/$name.err" &
    RUN_PID=$!
}

# end_run NAME: waits for the run; CODE is its exit status (124: timed out)
end_run() {
    wait "$RUN_PID"
    CODE=$?
    RUN_PID=
    if [ -n "$KILLER_PID" ]; then kill "$KILLER_PID" 2> /dev/null; wait "$KILLER_PID" 2> /dev/null; fi
    KILLER_PID=
    [ "$CODE" -ne 124 ] || fail "$1: still running after $RUN_TIMEOUT s: stopped"
}

# lib.sh's wait_started, but giving up at once when the run has ended
# before it started (a run that fails its start must not cost a minute)
started() { # ERR_FILE
    for _ in $(seq 1200); do
        grep -q "; starting" "$1" 2> /dev/null && return 0
        kill -0 "$RUN_PID" 2> /dev/null || break
        sleep 0.05
    done
    fail "the run never started (no '; starting' in $1):"
    head -5 "$1" >&2
    return 1
}

# killer PIPELINE PID LOG STAGE...: while PID lives, every KILL_MIN_MS to
# KILL_MAX_MS (50-150) ms SIGKILLs
# one random instance of the next stage, going round the stages in a fresh
# random order each round (a stage with no instance alive, being done or
# not yet restarted, is passed over), so that every stage is hit; writes the
# stage of every kill sent to LOG. STAGE:MAX stops killing that stage after
# MAX kills: a restarted source starts again from its first item, so a
# source killed every few hundred ms would never get to its end
killer() {
    local p=$1 pid=$2 log=$3; shift 3
    local n=$# i=0 tries st victim ms order=()
    local -A max=() sent=()
    for st in "$@"; do
        max[${st%%:*}]=${st#*:}
        [ "${st#*:}" = "$st" ] && max[$st]=-1
        sent[${st%%:*}]=0
    done
    : > "$log"
    while kill -0 "$pid" 2> /dev/null; do
        for ((tries = 0; tries < n; tries++)); do
            ((i % n == 0)) && mapfile -t order < <(printf '%s\n' "${!max[@]}" | shuf)
            st=${order[i % n]}
            i=$((i + 1))
            [ "${max[$st]}" -ge 0 ] && [ "${sent[$st]}" -ge "${max[$st]}" ] && continue
            victim=$(pgrep -f "^troupe: $p/$st#" | shuf -n 1)
            if [ -n "$victim" ] && kill -KILL "$victim" 2> /dev/null; then
                echo "$st" >> "$log"
                sent[$st]=$((sent[$st] + 1))
                break
            fi
        done
        ms=$((KILL_MIN_MS + RANDOM % (KILL_MAX_MS - KILL_MIN_MS + 1)))
        sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    done
}

# expect_file_eq, but where the files are large the difference is told by
# cmp and the line counts: a diff of two 40 MB files that differ all over
# takes half a minute
expect_same() { # WHAT GOT_FILE WANT_FILE
    if [ "$(stat -c %s "$2" 2> /dev/null || echo 0)" -lt 1000000 ] \
        && [ "$(stat -c %s "$3")" -lt 1000000 ]; then
        expect_file_eq "$@"
    elif cmp -s "$2" "$3"; then
        ok "$1"
    else
        fail "$1: output differs ($(wc -l < "$2") lines, want $(wc -l < "$3")):"
        cmp "$2" "$3" 2>&1 | head -1 >&2
    fi
}


