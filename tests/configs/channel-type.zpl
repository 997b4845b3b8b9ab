# expect: :3: channel 'n': type 'fanout' is not pipe, broadcast or keyed
channel = n
    type = fanout
actor = a
    module = seq
    out = n
actor = b
    module = print
    in = n
