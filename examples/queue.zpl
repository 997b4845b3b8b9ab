#   queue: a producer puts ten items on a queue, a consumer takes them off
#   and handles each (Python: multiprocessing.Queue with a producer and a
#   consumer Process). The channel between them is the queue: bounded, so a
#   fast producer waits for a slow consumer instead of growing memory.
#
#       troupe run examples/queue.zpl
#
pipeline = queue

actor = producer
    module = seq
    out = queue
    args
        start = 1
        count = 10

actor = consumer
    module = print
    in = queue
    args
        prefix = "consumed "
