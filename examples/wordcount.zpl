#   wordcount: how often each word of a text comes, with four counters
#   that each own a quarter of the words (a keyed channel: every count of a
#   word meets at the one instance that owns it), then one sorted list.
#   The output is `tr -cs A-Za-z '\n' < FILE | LC_ALL=C sort | uniq -c`'s,
#   byte for byte.
#
#       make -C examples/module        # builds tokenize.so (README.md there)
#       troupe run -s text.args.file=FILE examples/wordcount.zpl
#
#   Exact under crashes like any troupe pipeline: a counter killed mid-run
#   comes back with its checkpointed counts, and the words sent again find
#   the same counter.

pipeline = wordcount

channel = words
    type = keyed            # each word to the counter that owns it

actor = text
    module = lines
    out = lines
    args
        file = -            # stdin, or a file (relative to this folder)

actor = split
    module = module/tokenize.so
    instances = 2
    in = lines
    out = words

actor = count
    module = counter
    instances = 4
    in = words
    out = counts
    args
        emit = pairs        # one [word, n] per word it owns

actor = show
    module = sorted
    in = counts
    args
        as = uniq-c
