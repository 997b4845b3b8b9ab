#   squares: Python's Pool(2).map(square, range(1000000)), as a pipeline.
#   One source, two worker processes, one printer that puts the results
#   back in input order: 0, 1, 4, 9, ...
#
#       troupe run examples/squares.zpl
#
pipeline = squares

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

actor = print
    module = print
    in = squares
