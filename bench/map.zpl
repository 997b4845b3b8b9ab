#   map: examples/squares.zpl without the million printed lines. The
#   squares are summed and one number is printed, so the run is the map
#   (and its start-up), which bench/run sets against Pool(2).map and the
#   raw libzmq chain (-s square.instances=1 gives the chain's shape).
#
#       troupe run --stats map.json bench/map.zpl
#
pipeline = map

actor = numbers
    module = seq
    out = numbers
    args
        count = 1000000

actor = square
    module = square
    instances = 2
    in = numbers
    out = squares

actor = total
    module = sum
    in = squares
    out = total

actor = show
    module = print
    in = total
