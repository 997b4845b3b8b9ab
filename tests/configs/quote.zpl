# expect: :4: missing "
actor = a
    module = seq
    out = "x
