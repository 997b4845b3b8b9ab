#   counter: five workers each add 1 to a shared counter 1000 times; the
#   total is exactly 5000 (Python: a Value('i', 0) guarded by its lock).
#   Here no memory is shared: the counter actor owns the state and the
#   workers send it increments, so no update can be lost.
#
#       troupe run examples/counter.zpl      # prints 5000
#
pipeline = counter

actor = workers
    module = seq
    instances = 5
    out = increments
    args
        each = 1000
        start = 1
        step = 0

actor = counter
    module = counter
    in = increments
    out = total

actor = show
    module = print
    in = total
