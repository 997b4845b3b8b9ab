# expect: :5: actor 'a': instances: 'two' is not a whole number from 1 to 1024
actor = a
    module = seq
    out = x
    instances = two
actor = b
    module = print
    in = x
