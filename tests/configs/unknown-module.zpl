# expect: :3: actor 'a': unknown module 'seqq'
actor = a
    module = seqq
    out = x
actor = b
    module = print
    in = x
