#!/usr/bin/env bash
# graph: `troupe graph FILE` writes the pipeline as Graphviz DOT: a node per
# actor with its module and instances, an edge per channel between the
# actors it joins (dashed for a broadcast), overrides applied; dot renders
# it to a PNG; a broken config is refused as check refuses it.
. "$(dirname "$0")/lib.sh"

"$TROUPE" graph "$SRC/examples/squares.zpl" > "$SCRATCH/squares.dot" 2> "$SCRATCH/err"
expect_eq "graph: exit code" "$?" 0
expect_contains "graph: a digraph named after the pipeline" "$SCRATCH/squares.dot" 'digraph "squares" {'
expect_contains "graph: the source, its module" "$SCRATCH/squares.dot" '"numbers" [label="numbers\nseq"'
expect_contains "graph: the workers, with their count" "$SCRATCH/squares.dot" '"square" [label="square\nsquare x2"]'
expect_contains "graph: an edge per channel" "$SCRATCH/squares.dot" '"numbers" -> "square" [label="numbers"];'
expect_contains "graph: the sink's edge" "$SCRATCH/squares.dot" '"square" -> "print" [label="squares"];'
expect_eq "graph: two edges" "$(grep -c -- '->' "$SCRATCH/squares.dot")" 2

"$TROUPE" graph -s square.instances=7 "$SRC/examples/squares.zpl" > "$SCRATCH/seven.dot"
expect_contains "graph: -s overrides apply" "$SCRATCH/seven.dot" 'square x7'

"$TROUPE" graph "$SRC/examples/broadcast.zpl" > "$SCRATCH/broadcast.dot"
expect_eq "graph: a broadcast joins every producer to every subscriber" \
    "$(grep -c -- '-> .*style=dashed' "$SCRATCH/broadcast.dot")" 4

"$TROUPE" graph -s "split.module=$BUILD/examples/tokenize.so" "$SRC/examples/wordcount.zpl" \
    > "$SCRATCH/wordcount.dot"
expect_contains "graph: a keyed channel, bold, with its key" "$SCRATCH/wordcount.dot" \
    '"split" -> "count" [label="words by value", style=bold];'

if command -v dot > /dev/null; then
    for g in squares broadcast wordcount; do
        dot -Tpng "$SCRATCH/$g.dot" > "$SCRATCH/$g.png" 2> "$SCRATCH/dot.err"
        expect_eq "graph: dot renders $g" "$?" 0
        expect_eq "graph: $g.png is a PNG" "$(head -c 8 "$SCRATCH/$g.png" | od -An -tx1 | tr -d ' \n')" \
            "89504e470d0a1a0a"
    done
else
    echo "dot (graphviz) not installed: rendering not checked"
fi

"$TROUPE" graph "$SRC/tests/configs/cycle.zpl" > "$SCRATCH/out" 2> "$SCRATCH/err"
expect_eq "graph: a broken config: exit 2" "$?" 2
[ -s "$SCRATCH/out" ] && fail "graph: a broken config wrote a graph"
"$TROUPE" graph > /dev/null 2> "$SCRATCH/err"
expect_eq "graph: no file: exit 2" "$?" 2
"$TROUPE" graph --help > "$SCRATCH/out"
expect_contains "graph --help" "$SCRATCH/out" "dot -Tpng"
finish
