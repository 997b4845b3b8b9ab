#!/usr/bin/env bash
# soak (make soak; not in make test): SOAK_ITEMS (50,000,000) items through
# seq -> square x2 -> count x2 -> sum -> print while a random instance of
# every stage (the source SOAK_SOURCE_KILLS (3) times at most: a restarted
# source starts again from its first item) is SIGKILLed every 50 ms; once
# over ipc, once with --transport tcp. Each run must exit 0 and print
# exactly SOAK_ITEMS, and leave nothing behind.
#   bash tests/soak.sh BUILD_DIR SOURCE_DIR
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chaos_lib.sh"
ITEMS=${SOAK_ITEMS:-50000000}
RUN_TIMEOUT=${SOAK_TIMEOUT:-1800}
KILL_MIN_MS=50
KILL_MAX_MS=50

for transport in ipc tcp; do
    name=soak_$transport
    cat > "$SCRATCH/$name.zpl" <<ZPL
pipeline = $name
actor = numbers
    module = seq
    out = numbers
    max_restarts = 1000000
    args
        count = $ITEMS
actor = square
    module = square
    instances = 2
    in = numbers
    out = squares
    max_restarts = 1000000
actor = count
    module = count
    instances = 2
    in = squares
    out = partial
    max_restarts = 1000000
actor = sum
    module = sum
    in = partial
    out = total
    max_restarts = 1000000
actor = print
    module = print
    in = total
    max_restarts = 1000000
ZPL
    t0=$SECONDS
    : > "$SCRATCH/$name.kills"
    start_run "$name" -v -v --transport "$transport"
    if started "$SCRATCH/$name.err"; then
        killer "$name" "$RUN_PID" "$SCRATCH/$name.kills" "numbers:${SOAK_SOURCE_KILLS:-3}" \
            square count sum print &
        KILLER_PID=$!
    fi
    end_run "$name"
    expect_eq "$name: exit code" "$CODE" 0
    [ "$CODE" -eq 0 ] || grep -E "error|giving up" "$SCRATCH/$name.err" | head -3 >&2
    echo "$ITEMS" > "$SCRATCH/want"
    expect_file_eq "$name: prints exactly $ITEMS" "$SCRATCH/$name.out" "$SCRATCH/want"
    kills=$(wc -l < "$SCRATCH/$name.kills")
    [ "$kills" -ge 1 ] || fail "$name: no kill was sent"
    per=$(for st in numbers square count sum print; do echo -n " $st $(grep -cx "$st" "$SCRATCH/$name.kills")"; done)
    echo "   $name: $ITEMS items, $kills kills survived (${per# }), $(restarts_in "$SCRATCH/$name.json") restarts, $((SECONDS - t0)) s"
    expect_nothing_left "$name" "$name"
done
finish
