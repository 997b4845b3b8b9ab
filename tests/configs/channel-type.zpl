# expect: :3: channel 'n': type 'fanout' is not pipe or broadcast
channel = n
    type = fanout
actor = a
    module = seq
    out = n
actor = b
    module = print
    in = n
