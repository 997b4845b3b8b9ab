# expect: : no actor defined
pipeline = empty
