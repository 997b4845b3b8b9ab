#!/usr/bin/env bash
# summary: the end-of-run summary (-v, on stderr) and --stats (JSON) give
# the real item counts: every actor's items in and out equal what went
# through, failed items equal the items missing from the output, and the
# JSON parses with the documented fields.
. "$(dirname "$0")/lib.sh"
FAULTY="$BUILD/tests/faulty.so"

"$TROUPE" run -v --stats "$SCRATCH/s.json" -s numbers.args.count=12345 \
    "$SRC/examples/squares.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "squares: exit code" "$?" 0
expect_eq "squares: lines out" "$(wc -l < "$SCRATCH/out")" 12345
/usr/bin/python3 - "$SCRATCH/s.json" > "$SCRATCH/counts" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
a = {x["name"]: x for x in s["actors"]}
for k in ("pipeline", "exit", "seconds", "run_seconds", "failed_items", "supervisor_max_rss_kb"):
    assert k in s, k
for x in s["actors"]:
    for k in ("instances", "items_in", "items_out", "batches_in", "batches_out", "failed",
              "malformed", "restarts", "busy_seconds", "max_rss_kb"):
        assert k in x, (x["name"], k)
print(a["numbers"]["items_out"], a["square"]["items_in"], a["square"]["items_out"],
      a["print"]["items_in"], a["square"]["instances"], s["failed_items"], s["exit"])
PY
expect_eq "stats: JSON parses, counts are the items" "$(cat "$SCRATCH/counts")" \
    "12345 12345 12345 12345 2 0 0"
expect_eq "summary: the square row" \
    "$(awk '$1 == "square" {print $2, $3, $4, $5, $7}' "$SCRATCH/err")" "2 12345 12345 0 0"
expect_contains "summary: the total time" "$SCRATCH/err" "squares: done in"

# failed items, skipped: the summary counts exactly the ones missing
cat > "$SCRATCH/fails.zpl" <<ZPL
pipeline = fails
actor = numbers
    module = seq
    out = numbers
    args
        count = 5000
actor = work
    module = $FAULTY
    instances = 2
    in = numbers
    out = results
    on_error = skip
    args
        mode = fail
        chance = 0.1
actor = print
    module = print
    in = results
ZPL
"$TROUPE" run -v --stats "$SCRATCH/f.json" "$SCRATCH/fails.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "failures skipped: exit code" "$?" 0
missing=$((5000 - $(wc -l < "$SCRATCH/out")))
failed=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["failed_items"])' "$SCRATCH/f.json")
[ "$missing" -gt 0 ] || fail "failures skipped: no item failed (chance 0.1 of 5000)"
expect_eq "failures skipped: failed items = items missing" "$failed" "$missing"
expect_eq "summary: the work row's failures" "$(awk '$1 == "work" {print $5}' "$SCRATCH/err")" "$missing"

# a failed run (a worker that keeps crashing): the summary still says what
# was done; it said 0 for everyone when the run failed before a heartbeat
cat > "$SCRATCH/crash.zpl" <<ZPL
pipeline = crash
actor = numbers
    module = seq
    out = numbers
    args
        count = 200000
actor = work
    module = $FAULTY
    instances = 2
    in = numbers
    out = results
    max_restarts = 1
    args
        mode = segv
        chance = 0.0001
actor = print
    module = print
    in = results
ZPL
"$TROUPE" run -v --stats "$SCRATCH/c.json" "$SCRATCH/crash.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "a failed run: exit code" "$?" 1
read -r made printed < <(/usr/bin/python3 -c '
import json, sys
a = {x["name"]: x for x in json.load(open(sys.argv[1]))["actors"]}
print(a["numbers"]["items_out"], a["print"]["items_in"])' "$SCRATCH/c.json")
[ "${made:-0}" -gt 0 ] && [ "${printed:-0}" -gt 0 ]
expect_eq "a failed run: its counts are not 0 (numbers out $made, print in $printed)" "$?" 0
expect_eq "a failed run: print took what it printed" "$printed" "$(wc -l < "$SCRATCH/out")"
finish
