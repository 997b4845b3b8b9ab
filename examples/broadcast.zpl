#   broadcast: publish/subscribe. Two publishers put their items on one
#   broadcast channel, each under its own topic; every subscriber gets every
#   item whose topic starts with its `subscribe` prefix (Python: one Queue
#   per consumer, or a Manager; ZeroMQ: PUB/SUB).
#
#       troupe run examples/broadcast.zpl | sort
#
pipeline = broadcast

channel = news
    type = broadcast

actor = weather
    module = seq
    out = news
    topic = weather
    args
        start = 100
        count = 3

actor = sports
    module = seq
    out = news
    topic = sports
    args
        start = 200
        count = 3

actor = everything
    module = print
    in = news
    ordered = false
    args
        prefix = "all: "

actor = forecaster
    module = print
    in = news
    subscribe = weather
    ordered = false
    args
        prefix = "weather only: "
