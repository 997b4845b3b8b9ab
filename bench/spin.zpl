#   spin: CPU-bound work for the speed-up figure. Each item burns `us`
#   microseconds of CPU in one of `instances` workers; bench/run times
#   1 worker against 2 (and nproc) with -s spin.instances=N.
#
#       troupe run -s spin.instances=2 bench/spin.zpl
#
pipeline = spin

actor = items
    module = seq
    out = items
    args
        count = 4000

actor = spin
    module = spin
    instances = 1
    in = items
    out = burnt
    args
        us = 1000

actor = count
    module = count
    in = burnt
    out = total

actor = show
    module = print
    in = total
    args
        prefix = "items done: "
