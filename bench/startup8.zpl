#   startup8: eight actors that move one item, for the start-up figure:
#   a source, six pass-through stages (spin with us = 0 hands each item on
#   unchanged) and a printer. The whole run prints 0.
#
#       troupe run bench/startup8.zpl
#
pipeline = startup8

actor = source
    module = seq
    out = c1
    args
        count = 1

actor = pass1
    module = spin
    in = c1
    out = c2
    args
        us = 0

actor = pass2
    module = spin
    in = c2
    out = c3
    args
        us = 0

actor = pass3
    module = spin
    in = c3
    out = c4
    args
        us = 0

actor = pass4
    module = spin
    in = c4
    out = c5
    args
        us = 0

actor = pass5
    module = spin
    in = c5
    out = c6
    args
        us = 0

actor = pass6
    module = spin
    in = c6
    out = c7
    args
        us = 0

actor = sink
    module = print
    in = c7
