#   cpu: CPU-bound work, 1 worker against N (Python: timing Pool(1) against
#   Pool(N) over a CPU-heavy function). Each item burns 2 ms of CPU.
#
#       troupe run -v -s burn.instances=1 examples/cpu.zpl
#       troupe run -v -s burn.instances=2 examples/cpu.zpl
#
#   -v prints elapsed time and items/s per actor; the second run takes
#   about half as long on two cores.
#
pipeline = cpu

actor = items
    module = seq
    out = items
    args
        count = 1000

actor = burn
    module = spin
    instances = 2
    in = items
    out = burnt
    args
        us = 2000

actor = count
    module = count
    in = burnt
    out = total

actor = show
    module = print
    in = total
    args
        prefix = "items done: "
