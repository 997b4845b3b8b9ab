#   bench/run's "one reducer": examples/wordcount.zpl with its channel
#   `words` a plain pipe into one counter that counts every word, against
#   which the keyed counters are timed. A channel's type cannot be set
#   with -s, hence this file; bench/run sets split.module to the build's
#   tokenize.so and text.args.file to its text.

pipeline = wordcount_one

actor = text
    module = lines
    out = lines
    args
        file = -

actor = split
    module = tokenize.so    # bench/run: -s split.module=BUILD/examples/tokenize.so
    instances = 2
    in = lines
    out = words

actor = count
    module = counter
    in = words
    out = counts
    args
        emit = pairs

actor = show
    module = sorted
    in = counts
    args
        as = uniq-c
