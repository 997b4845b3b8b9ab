#!/usr/bin/env bash
# top: `troupe top` against a running pipeline. The run reads its stdin
# (a fifo the test holds open), so it lasts exactly as long as the test
# needs, with no timing. Checked: --list and --once find the run by name
# and by run directory and show every instance with its real pid and item
# counts; in a terminal (tmux), every actor row is drawn, `q` and Ctrl-C
# leave with exit 0 and the run goes on untouched; a run that ends under
# a watching top leaves its last view on the screen; a head's run is
# watched over its node link, with keys and without, and a key not on its
# list gets nothing; bad targets and options are refused with a message.
# The run's output stays exact throughout.
. "$(dirname "$0")/lib.sh"

command -v tmux > /dev/null || { echo "tmux missing (.ci/deps installs it)" >&2; exit 1; }
export TMUX_TMPDIR="$SCRATCH" # a tmux server of our own
# (its server must not hold the fifo open: it would never see an end)
tmux_() { tmux -L troupe-top "$@" 3>&-; }
trap 'main_shell && { tmux_ kill-server 2> /dev/null; rm -rf "$SCRATCH"; }' EXIT

cat > "$SCRATCH/watched.zpl" <<'ZPL'
pipeline = watched
actor = read
    module = lines
    out = lines
actor = pass
    module = spin
    instances = 2
    in = lines
    out = passed
    args
        us = 0
actor = show
    module = print
    in = passed
ZPL

# has_row FILE ACTOR COLUMN VALUE: FILE (a view) has a row of ACTOR whose
# COLUMN-th field is VALUE (6: items in, 5: state)
has_row() {
    awk -v a="$2" -v c="$3" -v v="$4" '$1 == a && $c == v {f = 1} END {exit !f}' "$1"
}

# until_once NAME ACTOR COLUMN VALUE: waits (at most 20 s) until `troupe top
# --once NAME` shows that row; its last output stays in $SCRATCH/once
until_once() {
    for _ in $(seq 100); do
        "$TROUPE" top --once "$1" > "$SCRATCH/once" 2> "$SCRATCH/once.err" \
            && has_row "$SCRATCH/once" "$2" "$3" "$4" && return 0
        sleep 0.2
    done
    fail "troupe top --once $1 never showed $2 with field $3 = $4:"
    cat "$SCRATCH/once" "$SCRATCH/once.err" >&2
    return 1
}

# until_pane TEXT: waits (at most 20 s) until the tmux pane shows TEXT
until_pane() {
    for _ in $(seq 100); do
        tmux_ capture-pane -p -t top > "$SCRATCH/pane" 2> /dev/null
        grep -qE -- "$1" "$SCRATCH/pane" && return 0
        sleep 0.2
    done
    fail "the pane never showed '$1':"
    cat "$SCRATCH/pane" >&2
    return 1
}

mkfifo "$SCRATCH/in"
: > "$SCRATCH/err" # emptied first: the job's own 2> may come after wait_started's first look
"$TROUPE" run -v -v "$SCRATCH/watched.zpl" < "$SCRATCH/in" > "$SCRATCH/out" 2> "$SCRATCH/err" &
sup=$!
exec 3> "$SCRATCH/in"
seq 1 100 >&3
wait_started "$SCRATCH/err"

# ---- finding it, and one view as text ----
"$TROUPE" top --list > "$SCRATCH/list"
expect_eq "--list: exit code" "$?" 0
expect_contains "--list: the pipeline and its supervisor's pid" "$SCRATCH/list" "watched"
grep -q " $sup " "$SCRATCH/list" && ok "--list: the supervisor's pid" \
    || fail "--list: pid $sup not in: $(cat "$SCRATCH/list")"
rundir=$(awk '$1 == "watched" {print $3}' "$SCRATCH/list")

until_once watched show 6 100
expect_contains "--once: the run's state" "$SCRATCH/once" "troupe top: watched (pid $sup), running"
expect_contains "--once: a source of unknown total says so" "$SCRATCH/once" "total not known"
for row in "read +0" "pass +0" "pass +1" "show +0"; do
    grep -qE "^$row " "$SCRATCH/once" && ok "--once: a row for $row" \
        || fail "--once: no row for $row"
done
# the pids shown are the actors' own
for pid in $(pgrep -f "^troupe: watched/.*#"); do
    grep -qE "^[a-z]+ +[0-9]+ +[^ ]+ +$pid " "$SCRATCH/once" && ok "--once: pid $pid shown" \
        || fail "--once: actor pid $pid not shown"
done
# the workers' items in add up to what went through (their heartbeats may
# come a moment after the sink's)
for _ in $(seq 100); do
    got=$(awk '$1 == "pass" {n += $6} END {print n}' "$SCRATCH/once")
    [ "$got" = 100 ] && break
    sleep 0.2
    "$TROUPE" top --once watched > "$SCRATCH/once"
done
expect_eq "--once: the workers' items in add up" "$got" 100
# a second run of the same pipeline: the name no longer says which
mkfifo "$SCRATCH/in3"
"$TROUPE" run "$SCRATCH/watched.zpl" < "$SCRATCH/in3" > "$SCRATCH/out3" 2> "$SCRATCH/err3" &
second=$!
exec 5> "$SCRATCH/in3"
for _ in $(seq 100); do
    [ "$("$TROUPE" top --list 2> /dev/null | grep -c '^watched ')" = 2 ] && break
    sleep 0.1
done
"$TROUPE" top --once watched > /dev/null 2> "$SCRATCH/two"
expect_eq "two runs of one name: exit 2" "$?" 2
expect_contains "two runs of one name: says to name a run directory" "$SCRATCH/two" \
    "2 runs of 'watched' are going on: name one by its run directory"
grep -q " $second " "$SCRATCH/two" && ok "two runs of one name: both listed" \
    || fail "two runs of one name: pid $second not listed"
exec 5>&-
wait_at_most $second 30
expect_eq "the second run: exit code" "$?" 0
"$TROUPE" top --once "$rundir" > "$SCRATCH/bydir"
expect_eq "a run found by its run directory: exit code" "$?" 0
expect_contains "a run found by its run directory" "$SCRATCH/bydir" "troupe top: watched"

# ---- in a terminal: every row, then q ----
tmux_ new-session -d -s top -x 140 -y 30 "'$TROUPE' top watched; echo TOP-EXIT=\$?; sleep 600"
until_pane '^show +0 ' && ok "tmux: the view is drawn"
for row in "read +0" "pass +0" "pass +1" "show +0"; do
    grep -qE "^$row " "$SCRATCH/pane" && ok "tmux: a row for $row" || fail "tmux: no row for $row"
done
grep -q "q: quit" "$SCRATCH/pane" && ok "tmux: says how to leave" || fail "tmux: no 'q: quit'"
tmux_ send-keys -t top q
until_pane 'TOP-EXIT=0' && ok "tmux: q leaves, exit 0"
kill -0 $sup 2> /dev/null && ok "q: the run goes on" || fail "q: the run ended"
tmux_ kill-session -t top

# Ctrl-C leaves too, and more input still comes out whole
tmux_ new-session -d -s top -x 140 -y 30 "'$TROUPE' top watched; echo TOP-EXIT=\$?; sleep 600"
until_pane '^show +0 '
tmux_ send-keys -t top C-c
until_pane 'TOP-EXIT=0' && ok "tmux: Ctrl-C leaves, exit 0"
tmux_ kill-session -t top
seq 101 200 >&3
until_once watched show 6 200 && ok "more input, seen by a new watcher"

# ---- the run ends under a watching top: its last view stays ----
tmux_ new-session -d -s top -x 140 -y 30 "'$TROUPE' top watched; echo TOP-EXIT=\$?; sleep 600"
until_pane '^show +0 '
exec 3>&-
wait_at_most $sup 30
expect_eq "the watched run: exit code" "$?" 0
until_pane 'TOP-EXIT=0' && ok "a run's end ends its top, exit 0"
expect_contains "the last view: the run is done" "$SCRATCH/pane" "watched (pid $sup), done"
has_row "$SCRATCH/pane" show 6 200 && has_row "$SCRATCH/pane" show 5 done \
    && ok "the last view: the final counts" \
    || fail "the last view: no final count of 200 for show"
tmux_ kill-session -t top
seq 1 200 > "$SCRATCH/want"
expect_file_eq "watched run: output exact" "$SCRATCH/out" "$SCRATCH/want"
expect_nothing_left watched "watched run"

# ---- refusals ----
"$TROUPE" top --once nosuch > /dev/null 2> "$SCRATCH/e1"
expect_eq "no such run: exit 1" "$?" 1
expect_contains "no such run: says so" "$SCRATCH/e1" "no run of a pipeline named 'nosuch' is going on"
"$TROUPE" top --once "$SCRATCH" > /dev/null 2> "$SCRATCH/e2"
expect_eq "a directory that is no run: exit 1" "$?" 1
expect_contains "a directory that is no run: says so" "$SCRATCH/e2" "is not the directory of a run"
"$TROUPE" top --frobnicate > /dev/null 2> "$SCRATCH/e3"
expect_eq "an unknown option: exit 2" "$?" 2
"$TROUPE" top --key k > /dev/null 2> "$SCRATCH/e4"
expect_eq "--key without --head: exit 2" "$?" 2
"$TROUPE" top --head tcp://127.0.0.1:1 > /dev/null 2> "$SCRATCH/e5"
expect_eq "--head without keys or --insecure: exit 2" "$?" 2
expect_contains "--head without keys: says what to give" "$SCRATCH/e5" "--insecure"

# ---- a head's run, watched over its node link ----
"$TROUPE" keygen "$SCRATCH/head" > /dev/null
"$TROUPE" keygen "$SCRATCH/watcher" > /dev/null
"$TROUPE" keygen "$SCRATCH/stranger" > /dev/null
mkdir "$SCRATCH/allow"
cp "$SCRATCH/watcher" "$SCRATCH/allow/"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed 's/^pipeline = watched/pipeline = headed/' "$SCRATCH/watched.zpl" > "$SCRATCH/headed.zpl"
mkfifo "$SCRATCH/in2"
: > "$SCRATCH/err2" # emptied first: the job's own 2> may come after wait_started's first look
"$TROUPE" run -v -v --listen "tcp://127.0.0.1:$port" --key "$SCRATCH/head_secret" \
    --allow "$SCRATCH/allow" "$SCRATCH/headed.zpl" < "$SCRATCH/in2" > "$SCRATCH/out2" 2> "$SCRATCH/err2" &
head=$!
exec 3> "$SCRATCH/in2"
seq 1 50 >&3
wait_started "$SCRATCH/err2"
for _ in $(seq 50); do
    "$TROUPE" top --once --head "tcp://127.0.0.1:$port" --key "$SCRATCH/watcher_secret" \
        --head-key "$SCRATCH/head" > "$SCRATCH/remote" 2> "$SCRATCH/remote.err" \
        && has_row "$SCRATCH/remote" show 6 50 && break
    sleep 0.2
done
has_row "$SCRATCH/remote" show 6 50 && ok "--head with keys: the head's rows" \
    || { fail "--head with keys: no rows"; cat "$SCRATCH/remote" "$SCRATCH/remote.err" >&2; }
expect_contains "--head: the head's pipeline" "$SCRATCH/remote" "troupe top: headed"
"$TROUPE" top --once --head "tcp://127.0.0.1:$port" --key "$SCRATCH/stranger_secret" \
    --head-key "$SCRATCH/head" > "$SCRATCH/stranger.out" 2> "$SCRATCH/stranger.err"
expect_eq "--head with a key not on the list: exit 1" "$?" 1
expect_eq "--head with a key not on the list: no rows" "$(grep -c '^show' "$SCRATCH/stranger.out")" 0
expect_contains "--head with a key not on the list: says so" "$SCRATCH/stranger.err" "sends no stats"
seq 51 100 >&3
exec 3>&-
wait_at_most $head 30
expect_eq "the head's run: exit code" "$?" 0
seq 1 100 > "$SCRATCH/want2"
expect_file_eq "the head's run: output exact" "$SCRATCH/out2" "$SCRATCH/want2"
expect_nothing_left headed "the head's run"
finish
