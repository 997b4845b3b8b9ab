# expect: :3: actor 'a': module file
actor = a
    module = ./nothere.so
    out = x
actor = b
    module = print
    in = x
