#!/usr/bin/env bash
# streaming: a source waiting for input does not hold back what it has, and
# is not taken for hung: a line written to the pipeline's stdin comes out
# of its stdout (a pipe) before the next is written, even when the next
# comes only after longer than --hang.
. "$(dirname "$0")/lib.sh"

cat > "$SCRATCH/stream.zpl" <<'ZPL'
pipeline = stream
actor = read
    module = lines
    out = lines
actor = pass
    module = spin
    in = lines
    out = passed
    args
        us = 0
actor = show
    module = print
    in = passed
ZPL
mkfifo "$SCRATCH/in" "$SCRATCH/out"
"$TROUPE" run --hang 0.5 "$SCRATCH/stream.zpl" < "$SCRATCH/in" > "$SCRATCH/out" 2> "$SCRATCH/err" &
sup=$!
exec 3> "$SCRATCH/in"
exec 4< "$SCRATCH/out"
for word in first second third; do
    echo "$word" >&3
    if read -r -t 5 got <&4; then
        expect_eq "'$word' comes out before the next line goes in" "$got" "$word"
    else
        fail "'$word' did not come out within 5 s"
    fi
    sleep 1.2 # longer than --hang: waiting for input is not hanging
done
exec 3>&-
wait $sup
expect_eq "end of input: exit code" "$?" 0
exec 4<&-
if grep -q "heartbeat" "$SCRATCH/err"; then fail "a waiting source was taken for hung"; cat "$SCRATCH/err" >&2; fi
expect_nothing_left stream "streaming"
finish
