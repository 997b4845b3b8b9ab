# expect: :8: actor 'a' is defined twice
actor = a
    module = seq
    out = x
actor = b
    module = print
    in = x
actor = a
    module = seq
    out = x
