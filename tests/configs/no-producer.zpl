# expect: :7: channel 'y' is read but no actor writes it
actor = a
    module = seq
    out = x
actor = b
    module = print
    in = y
actor = c
    module = print
    in = x
