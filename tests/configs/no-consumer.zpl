# expect: :4: channel 'x' is written but no actor reads it
actor = a
    module = seq
    out = x
