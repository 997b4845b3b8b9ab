# expect: :8: actor 'b': 'in' is given twice
actor = a
    module = seq
    out = x
actor = b
    module = print
    in = x
    in = y
