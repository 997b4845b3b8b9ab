#   jsonl: JSON lines in, JSON lines out, so a run sits in a shell pipe
#   between jq and jq (docs/CONFIG.md, "JSON lines"):
#
#       seq 3 | jq -c '{n: .}' | troupe run examples/jsonl.zpl | jq .n
#
pipeline = jsonl

actor = read
    module = jsonl_in
    out = values

actor = write
    module = jsonl_out
    in = values
