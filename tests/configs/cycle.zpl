# expect: :2: the pipeline has a cycle: a -> b -> a
actor = a
    module = square
    in = x
    out = y
actor = b
    module = square
    in = y
    out = x
