# expect: :6: actor 'a': module 'seq' takes no argument 'cuont' (it takes: count, start, step, each)
actor = a
    module = seq
    out = x
    args
        cuont = 5
actor = b
    module = print
    in = x
