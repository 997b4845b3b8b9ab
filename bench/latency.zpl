#   latency: one item at a time through three stages. `stamp` emits the
#   monotonic clock every interval_us; a pass-through stage hands it on;
#   `latency` takes how long ago each stamp was and at the end emits
#   [median_us, p99_us, items]. stamp and latency are bench-only modules
#   (bench/modules/), found through TROUPE_MODULE_PATH:
#
#       TROUPE_MODULE_PATH=build/bench troupe run bench/latency.zpl
#
pipeline = latency

actor = clock
    module = stamp
    out = stamps
    args
        count = 5000
        interval_us = 200

actor = middle
    module = spin
    in = stamps
    out = passed
    args
        us = 0

actor = end
    module = latency
    in = passed
    out = figures

actor = show
    module = print
    in = figures
