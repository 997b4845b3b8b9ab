# expect: :8: actor 'b': unknown key 'colour'
actor = a
    module = seq
    out = x
actor = b
    module = print
    in = x
    colour = red
