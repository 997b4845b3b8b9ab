# expect: :2: unknown key 'actors' at the top
actors
    a
        module = seq
