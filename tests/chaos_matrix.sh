#!/usr/bin/env bash
# chaos_matrix (issue 12): SIGKILL from outside, every 50-150 ms, of random
# instances of EVERY stage (sources, transforms, stateful actors and sinks,
# not only workers), through a matrix of pipeline shapes and instance
# counts; each run must exit 0 with exactly the fault-free output and leave
# nothing behind. Then what must fail, and how: a stateful module without
# snapshot/restore that dies (unless restart = permanent_lossy), a poison
# item (unless on_error = skip), and on_error = fail, which must still
# write out what was done before the failure.
#
# One line per chaos case gives its kills (per stage) and restarts, for
# docs/RELIABILITY.md. CHAOS_CASE_TIMEOUT (60) bounds each run;
# CHAOS_ONLY=REGEX picks cases by name (cm_A_t2c3, cm_B_..., cm_poison_skip);
# CHAOS_KILLS=0 runs the chaos cases without their killer (a check of the
# expected outputs themselves).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chaos_lib.sh"
FAULTY="$BUILD/tests/faulty.so"
TALLY="$BUILD/tests/tally.so"
RUN_TIMEOUT=${CHAOS_CASE_TIMEOUT:-60}
export LC_ALL=C

# troupe moves some 10M small items/s on a 2-core VM: these make runs of
# 0.5-3 s under the killer, long enough for a few kills of every stage
A_ITEMS=${CHAOS_A_ITEMS:-8000000}  # shape A: one number out, many items cost little
B_ITEMS=${CHAOS_B_ITEMS:-3000000}  # shapes with every square out (and sorted)
P_ITEMS=${CHAOS_P_ITEMS:-1500000}  # through spin (see identity), which is slower
SOURCE_KILLS=2    # kills of a source per case (see killer)
# CHAOS_ONLY=REGEX runs the cases whose name matches it, only
selected() { [[ $1 =~ ${CHAOS_ONLY:-.} ]]; }

# chaos NAME STAGE...: runs $SCRATCH/NAME.zpl (pipeline NAME) with -v -v
# under the killer of STAGEs, checks exit 0, at least one kill, nothing
# left, and prints the kills; the caller compares the output
chaos() {
    local name=$1; shift
    local t0=$EPOCHREALTIME kills per
    : > "$SCRATCH/$name.kills"
    start_run "$name" -v -v
    if started "$SCRATCH/$name.err" && [ "${CHAOS_KILLS:-1}" != 0 ]; then
        killer "$name" "$RUN_PID" "$SCRATCH/$name.kills" "$@" &
        KILLER_PID=$!
    fi
    end_run "$name"
    expect_eq "$name: exit code" "$CODE" 0
    [ "$CODE" -eq 0 ] || grep -E "error|giving up" "$SCRATCH/$name.err" | head -3 >&2
    kills=$(wc -l < "$SCRATCH/$name.kills")
    per=$(for st in "$@"; do st=${st%%:*}; echo -n " $st $(grep -cx "$st" "$SCRATCH/$name.kills")"; done)
    [ "$kills" -ge 1 ] || [ "${CHAOS_KILLS:-1}" = 0 ] || fail "$name: no kill was sent"
    echo "   $name: $kills kills sent (${per# }), $(restarts_in "$SCRATCH/$name.json") restarts," \
        "$(/usr/bin/python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$t0" "$EPOCHREALTIME") s"
    expect_nothing_left "$name" "$name"
}

# --- config pieces ------------------------------------------------------------
# actor NAME MODULE INSTANCES IN OUT [key = value...] (IN/OUT "-": none)
actor() {
    local name=$1 module=$2 inst=$3 in=$4 out=$5; shift 5
    echo "actor = $name"
    echo "    module = $module"
    echo "    instances = $inst"
    [ "$in" = - ] || echo "    in = $in"
    [ "$out" = - ] || echo "    out = $out"
    echo "    max_restarts = 100000"
    for kv in "$@"; do echo "    $kv"; done
}
source_of() { # NAME COUNT OUT
    actor "$1" seq 1 - "$3"
    echo "    args"
    echo "        count = $2"
}
collect_into() { # NAME IN FILE
    actor "$1" collect 1 "$2" -
    echo "    args"
    echo "        file = $3"
}

squares "$B_ITEMS" > "$SCRATCH/squares.B"
# where a stage adds the values up, they go through spin (us = 0), a
# transform that passes them on unchanged: squares would overflow 64 bits
sum_below() { echo $(($1 * ($1 - 1) / 2)); } # 0 + 1 + ... + N-1
identity() { # NAME INSTANCES IN OUT
    actor "$1" spin "$2" "$3" "$4"
    echo "    args"
    echo "        us = 0"
}
SRC_STAGE="numbers:$SOURCE_KILLS"

# --- 1. shape A: source -> transform xT -> stateful xC -> sum -> print ---------
# every count emits its share; sum adds them: exactly N
for tc in "1 2" "2 2" "3 2" "2 1" "2 3" "1 1" "1 3" "3 1" "3 3"; do
    read -r t c <<< "$tc"
    name=cm_A_t${t}c$c
    selected $name || continue
    {
        echo "pipeline = $name"
        source_of numbers "$A_ITEMS" numbers
        actor square square "$t" numbers squares
        actor count count "$c" squares partial
        actor sum sum 1 partial total
        actor print print 1 total -
    } > "$SCRATCH/$name.zpl"
    chaos "$name" "$SRC_STAGE" square count sum print
    echo "$A_ITEMS" > "$SCRATCH/want"
    expect_same "$name: prints exactly $A_ITEMS" "$SCRATCH/$name.out" "$SCRATCH/want"
done

# counter (a state-owning counter: each integer adds to "value") x3, whose
# totals sum adds: 0 + 1 + ... + N-1
name=cm_A_counter_t2c3
if selected $name; then
    {
        echo "pipeline = $name"
        source_of numbers "$P_ITEMS" numbers
        identity pass 2 numbers values
        actor counter counter 3 values partial
        actor sum sum 1 partial total
        actor print print 1 total -
    } > "$SCRATCH/$name.zpl"
    chaos "$name" "$SRC_STAGE" pass counter sum print
    sum_below "$P_ITEMS" > "$SCRATCH/want"
    expect_same "$name: prints the sum of the values" "$SCRATCH/$name.out" "$SCRATCH/want"
fi

# --- 2. shape B: source -> transform xT -> sink xP, unordered ------------------
for tp in "1 2" "2 2" "3 2" "2 1" "2 3" "1 1" "1 3" "3 1" "3 3"; do
    read -r t p <<< "$tp"
    name=cm_B_t${t}p$p
    selected $name || continue
    {
        echo "pipeline = $name"
        source_of numbers "$B_ITEMS" numbers
        actor square square "$t" numbers squares
        actor print print "$p" squares - "ordered = false"
    } > "$SCRATCH/$name.zpl"
    chaos "$name" "$SRC_STAGE" square print
    sort -n "$SCRATCH/$name.out" > "$SCRATCH/sorted"
    expect_same "$name: every square once (sorted)" "$SCRATCH/sorted" "$SCRATCH/squares.B"
done

# --- 3. an ordered sink: the squares in source order ----------------------------
name=cm_ordered
if selected $name; then
    {
        echo "pipeline = $name"
        source_of numbers "$B_ITEMS" numbers
        actor square square 2 numbers squares
        actor print print 1 squares -
    } > "$SCRATCH/$name.zpl"
    chaos "$name" "$SRC_STAGE" square print
    expect_same "$name: the squares, in order" "$SCRATCH/$name.out" "$SCRATCH/squares.B"
fi

# --- 4. a broadcast to two collect sinks: each gets everything, in order --------
name=cm_bcast_collect
if selected $name; then
    {
        echo "pipeline = $name"
        echo "channel = news"
        echo "    type = broadcast"
        source_of numbers "$B_ITEMS" numbers
        actor square square 2 numbers news
        collect_into a news "$SCRATCH/$name.a"
        collect_into b news "$SCRATCH/$name.b"
    } > "$SCRATCH/$name.zpl"
    chaos "$name" "$SRC_STAGE" square a b
    expect_same "$name: subscriber a exact" "$SCRATCH/$name.a" "$SCRATCH/squares.B"
    expect_same "$name: subscriber b exact" "$SCRATCH/$name.b" "$SCRATCH/squares.B"
fi

# --- 5. a broadcast into two different stateful actors ---------------------------
# every instance of a subscriber gets every item: count x1 says N, sum x1
# the sum of the values; x2, each instance says it and a sum adds the two
name=cm_bcast_state_x1
if selected $name; then
    {
        echo "pipeline = $name"
        echo "channel = news"
        echo "    type = broadcast"
        source_of numbers "$P_ITEMS" numbers
        identity pass 2 numbers news
        actor count count 1 news counted
        collect_into count_out counted "$SCRATCH/$name.count"
        actor sum sum 1 news summed
        collect_into sum_out summed "$SCRATCH/$name.sum"
    } > "$SCRATCH/$name.zpl"
    chaos "$name" "$SRC_STAGE" pass count count_out sum sum_out
    echo "$P_ITEMS" > "$SCRATCH/want"
    expect_same "$name: count says $P_ITEMS" "$SCRATCH/$name.count" "$SCRATCH/want"
    sum_below "$P_ITEMS" > "$SCRATCH/want"
    expect_same "$name: sum says the sum of the values" "$SCRATCH/$name.sum" "$SCRATCH/want"
fi

name=cm_bcast_state_x2
if selected $name; then
    {
        echo "pipeline = $name"
        echo "channel = news"
        echo "    type = broadcast"
        source_of numbers "$P_ITEMS" numbers
        identity pass 2 numbers news
        actor count count 2 news counts
        actor count_total sum 1 counts counted
        collect_into count_out counted "$SCRATCH/$name.count"
        actor sum sum 2 news sums
        actor sum_total sum 1 sums summed
        collect_into sum_out summed "$SCRATCH/$name.sum"
    } > "$SCRATCH/$name.zpl"
    chaos "$name" "$SRC_STAGE" pass count count_total count_out sum sum_total sum_out
    echo $((2 * P_ITEMS)) > "$SCRATCH/want"
    expect_same "$name: the counts add up to 2 x $P_ITEMS" "$SCRATCH/$name.count" "$SCRATCH/want"
    echo $((2 * $(sum_below "$P_ITEMS"))) > "$SCRATCH/want"
    expect_same "$name: the sums add up to 2 x the sum of the values" "$SCRATCH/$name.sum" "$SCRATCH/want"
fi

# --- 4b. topics set per item: each subscriber gets its topic's items, in order -
name=cm_item_topics
if selected $name; then
    {
        echo "pipeline = $name"
        echo "channel = news"
        echo "    type = broadcast"
        source_of numbers "$P_ITEMS" numbers
        actor tag "$BUILD/tests/parity.so" 2 numbers news
        actor odd "$BUILD/tests/parity.so" 1 news odds "subscribe = odd"
        echo "    args"
        echo "        read = true"
        collect_into odd_out odds "$SCRATCH/$name.odd"
        actor even "$BUILD/tests/parity.so" 2 news evens "subscribe = even"
        echo "    args"
        echo "        read = true"
        actor even_sum sum 1 evens even_total
        collect_into even_out even_total "$SCRATCH/$name.even"
    } > "$SCRATCH/$name.zpl"
    chaos "$name" "$SRC_STAGE" tag odd odd_out even even_sum even_out
    seq 1 2 $((P_ITEMS - 1)) > "$SCRATCH/want"
    expect_same "$name: the odd ones, in order" "$SCRATCH/$name.odd" "$SCRATCH/want"
    # both even instances take every even item (a broadcast): twice their sum
    echo $(( 2 * (P_ITEMS / 2) * (P_ITEMS / 2 - 1) )) > "$SCRATCH/want"
    expect_same "$name: each even instance's copy of the even ones, summed" \
        "$SCRATCH/$name.even" "$SCRATCH/want"
fi

# --- 5b. copies that meet again: a fan-out into two outputs, and a broadcast -----
# into a stateless actor of two instances, each merged into one sum: every
# copy is an item of its own there (each copy is named apart), so each
# value counts twice
name=cm_fanout_merge
if selected $name; then
    {
        echo "pipeline = $name"
        source_of numbers "$P_ITEMS" "left right"
        identity pass_l 2 left merged
        identity pass_r 1 right merged
        actor sum sum 2 merged partial
        actor total sum 1 partial summed
        collect_into sum_out summed "$SCRATCH/$name.sum"
    } > "$SCRATCH/$name.zpl"
    chaos "$name" "$SRC_STAGE" pass_l pass_r sum total sum_out
    echo $((2 * $(sum_below "$P_ITEMS"))) > "$SCRATCH/want"
    expect_same "$name: both copies of every value, once each" "$SCRATCH/$name.sum" "$SCRATCH/want"
fi

name=cm_bcast_merge
if selected $name; then
    {
        echo "pipeline = $name"
        echo "channel = news"
        echo "    type = broadcast"
        source_of numbers "$P_ITEMS" numbers
        identity pass 1 numbers news
        identity relay 2 news merged
        actor sum sum 2 merged partial
        actor total sum 1 partial summed
        collect_into sum_out summed "$SCRATCH/$name.sum"
    } > "$SCRATCH/$name.zpl"
    chaos "$name" "$SRC_STAGE" pass relay sum total sum_out
    echo $((2 * $(sum_below "$P_ITEMS"))) > "$SCRATCH/want"
    expect_same "$name: each relay's copy of every value, once each" "$SCRATCH/$name.sum" "$SCRATCH/want"
fi

# --- 5c. a keyed channel: the word count, 1, 2 and 4 keyed counters -----------
# lines -> tokenize x2 -> keyed counter xK -> sorted: every word's count
# meets at the counter that owns the word, its checkpoint restored when it
# is killed, and the output is `tr | sort | uniq -c`'s, byte for byte
K_LINES=${CHAOS_K_LINES:-1500000}
K_CASES="cm_keyed_k1 cm_keyed_k2 cm_keyed_k4 cm_flushed_show_s1k2 cm_flushed_show_s2k2
         cm_flushed_count_s1k1 cm_flushed_count_s1k2 cm_flushed_count_s1k4"
if for c in $K_CASES; do selected $c && break; done; then
    /usr/bin/python3 - "$SCRATCH/keyed.text" "$K_LINES" <<'PY'
import random, sys
r = random.Random(7)
vocab = ["".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(1, 8)))
         for _ in range(20000)]
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(" ".join(r.choice(vocab) for _ in range(r.randint(1, 12))) + "\n")
PY
    tr -cs A-Za-z '\n' < "$SCRATCH/keyed.text" | sort | uniq -c > "$SCRATCH/keyed.want"
fi
# wordcount_zpl NAME COUNTERS SHOWS: $SCRATCH/NAME.zpl, lines -> tokenize x2
# -> keyed counter xCOUNTERS -> sorted xSHOWS (uniq -c); with more than one
# sorted sink, `counts` is keyed too, so that each has a share
wordcount_zpl() {
    {
        echo "pipeline = $1"
        echo "channel = words"
        echo "    type = keyed"
        if [ "$3" -gt 1 ]; then
            echo "channel = counts"
            echo "    type = keyed"
            echo "    key = 0"
        fi
        actor text lines 1 - lines
        echo "    args"
        echo "        file = $SCRATCH/keyed.text"
        actor split "$BUILD/examples/tokenize.so" 2 lines words
        actor count counter "$2" words counts
        echo "    args"
        echo "        emit = pairs"
        actor show sorted "$3" counts -
        echo "    args"
        echo "        as = uniq-c"
    } > "$SCRATCH/$1.zpl"
}
for k in 1 2 4; do
    name=cm_keyed_k$k
    selected $name || continue
    wordcount_zpl "$name" "$k" 1
    chaos "$name" text:$SOURCE_KILLS split count show
    expect_same "$name: the count of every word, as tr | sort | uniq -c" \
        "$SCRATCH/$name.out" "$SCRATCH/keyed.want"
done

# --- 5d. killed after the checkpoint that follows its flush, before DONE ---------
# a window no kill from outside can be timed to hit, so the host's fault
# point (TROUPE_FAULT, host_fault) kills the first instance of VICTIM to
# reach it. Its successor resumes from that checkpoint, whose flush is
# done: a sink must not write its flushed output twice, a stateful stage
# must not make its flushed values again. flushed NAME VICTIM: runs
# $SCRATCH/NAME.zpl so; the caller compares the output
flushed() {
    local name=$1 victim=$2
    rm -f "$SCRATCH/$name.fault"
    TROUPE_FAULT="$victim:flushed:$SCRATCH/$name.fault" start_run "$name" -v -v
    end_run "$name"
    expect_eq "$name: exit code" "$CODE" 0
    [ "$CODE" -eq 0 ] || grep -E "error|giving up" "$SCRATCH/$name.err" | head -3 >&2
    [ -e "$SCRATCH/$name.fault" ] && ok "$name: $victim killed after its last checkpoint" \
        || fail "$name: $victim never reached its fault point"
    expect_eq "$name: $victim restarted once" "$(restarts_in "$SCRATCH/$name.json" "$victim")" 1
    expect_nothing_left "$name" "$name"
}
# the word count with its sorted sink (1 instance: it writes stdout
# itself; 2: the supervisor copies each one's output, and a keyed channel
# gives each a share, so that the first one to finish, the one killed, has
# values to write), or a keyed counter (1, 2, 4 instances), killed so
for vk in "show 1 2" "show 2 2" "count 1 1" "count 1 2" "count 1 4"; do
    read -r victim shows k <<< "$vk"
    name=cm_flushed_${victim}_s${shows}k$k
    selected $name || continue
    wordcount_zpl "$name" "$k" "$shows"
    flushed "$name" "$victim"
    # two sorted sinks each write their share, sorted, whole
    if [ "$shows" = 1 ]; then cp "$SCRATCH/$name.out" "$SCRATCH/got"; else sort -k2 "$SCRATCH/$name.out" > "$SCRATCH/got"; fi
    expect_same "$name: the count of every word, once" "$SCRATCH/got" "$SCRATCH/keyed.want"
done
# shape A's count x2 and sum x1, each killed so: the total is N, not more
for victim in count sum print; do
    name=cm_flushed_A_$victim
    selected $name || continue
    {
        echo "pipeline = $name"
        source_of numbers "$P_ITEMS" numbers
        actor square square 2 numbers squares
        actor count count 2 squares partial
        actor sum sum 1 partial total
        actor print print 1 total -
    } > "$SCRATCH/$name.zpl"
    flushed "$name" "$victim"
    echo "$P_ITEMS" > "$SCRATCH/want"
    expect_same "$name: prints exactly $P_ITEMS" "$SCRATCH/$name.out" "$SCRATCH/want"
done

# --- 6. a stateful module without snapshot/restore that dies ----------------------
# killed once after the start: its count is lost, so the run must fail,
# naming it, unless its restart says the loss is accepted
for restart in default permanent_lossy; do
    name=cm_tally_$restart
    selected $name || continue
    # the source reads a fifo the test holds open, so that tally is still
    # taking input when it is killed, however slow the machine (a fast
    # run of a fixed count could be over by then)
    rm -f "$SCRATCH/$name.fifo"
    mkfifo "$SCRATCH/$name.fifo"
    {
        echo "pipeline = $name"
        actor numbers lines 1 - numbers
        echo "    args"
        echo "        file = $SCRATCH/$name.fifo"
        if [ "$restart" = default ]; then
            actor tally "$TALLY" 1 numbers tallied
        else
            actor tally "$TALLY" 1 numbers tallied "restart = permanent_lossy"
        fi
        actor print print 1 tallied -
    } > "$SCRATCH/$name.zpl"
    start_run "$name" -v -v
    exec 4<> "$SCRATCH/$name.fifo" # read-write: never blocks, even if the run fails first
    seq 1000 >&4
    killed=0
    if started "$SCRATCH/$name.err"; then
        victim=$(pgrep -f "^troupe: $name/tally#0" | head -1)
        [ -n "$victim" ] && kill -KILL "$victim" 2> /dev/null && killed=1
    fi
    seq 1000 >&4
    exec 4>&-
    end_run "$name"
    expect_eq "$name: tally killed once after the start" "$killed" 1
    if [ "$restart" = default ]; then
        expect_eq "$name: exit code" "$CODE" 1
        expect_contains "$name: the error names the actor" "$SCRATCH/$name.err" "tally"
        expect_contains "$name: the error says its state was lost" "$SCRATCH/$name.err" "state"
    else
        expect_eq "$name: exit code" "$CODE" 0
        if grep "warning" "$SCRATCH/$name.err" | grep "tally" | grep -q "restart"; then
            ok "$name: the restart is a warning"
        else
            fail "$name: no warning of tally's restart:"; grep -E "warning|error" "$SCRATCH/$name.err" | head -5 >&2
        fi
    fi
    expect_nothing_left "$name" "$name"
done

# --- 7. a poison item: crashes every process that gets to it ----------------------
# (faulty with `at` and no marker; max_restarts is left at its default)
for on_error in fail skip; do
    name=cm_poison_$on_error
    selected $name || continue
    {
        echo "pipeline = $name"
        echo "actor = numbers"
        echo "    module = seq"
        echo "    out = numbers"
        echo "    args"
        echo "        count = 10000"
        echo "actor = work"
        echo "    module = $FAULTY"
        echo "    instances = 2"
        echo "    in = numbers"
        echo "    out = results"
        [ "$on_error" = skip ] && echo "    on_error = skip"
        echo "    args"
        echo "        mode = segv"
        echo "        at = 4242"
        echo "actor = print"
        echo "    module = print"
        echo "    in = results"
    } > "$SCRATCH/$name.zpl"
    start_run "$name"   # no -v: what it must say, it says anyway
    end_run "$name"
    if [ "$on_error" = fail ]; then
        expect_eq "$name: exit code" "$CODE" 1
        expect_contains "$name: names the item" "$SCRATCH/$name.err" "item 4242"
        expect_contains "$name: names the signal" "$SCRATCH/$name.err" "signal 11"
    else
        expect_eq "$name: exit code" "$CODE" 0
        seq 0 9999 | grep -vx 4242 > "$SCRATCH/want"
        expect_same "$name: every item but 4242" "$SCRATCH/$name.out" "$SCRATCH/want"
        skips=$(grep "warning" "$SCRATCH/$name.err" | grep -i "skipped")
        if [ "$(grep -c . <<< "$skips")" -eq 1 ] && grep -qw 1 <<< "$skips"; then
            ok "$name: one warning of 1 skipped item"
        else
            fail "$name: want one warning line of 1 skipped item, got:"; head -5 "$SCRATCH/$name.err" >&2
        fi
    fi
    expect_nothing_left "$name" "$name"
done

# --- 8. on_error = fail still writes out what was done before ---------------------
name=cm_fail_flush
if selected $name; then
    {
        echo "pipeline = $name"
        echo "actor = numbers"
        echo "    module = seq"
        echo "    out = numbers"
        echo "    args"
        echo "        count = 1000"
        echo "actor = work"
        echo "    module = $FAULTY"
        echo "    in = numbers"
        echo "    out = results"
        echo "    args"
        echo "        mode = fail"
        echo "        at = 999"
        echo "actor = print"
        echo "    module = print"
        echo "    in = results"
    } > "$SCRATCH/$name.zpl"
    start_run "$name"
    end_run "$name"
    expect_eq "$name: exit code" "$CODE" 1
    expect_contains "$name: names the item" "$SCRATCH/$name.err" "item 999"
    # the failure stops the source and lets what is in flight drain: every
    # item that went through before it is written, in order
    seq 0 998 > "$SCRATCH/want"
    expect_file_eq "$name: every item done before the failure is written" \
        "$SCRATCH/$name.out" "$SCRATCH/want"
    expect_nothing_left "$name" "$name"
fi

finish
