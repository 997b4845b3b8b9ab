# expect: :4: channel 'x' has 65 reading instances; a channel takes at most 64
actor = a
    module = seq
    out = x
actor = b
    module = print
    in = x
    ordered = false
    instances = 65
