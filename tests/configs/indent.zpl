# expect: :3: bad indentation: a sub-key goes exactly 4 spaces deeper than its parent
actor = a
  module = seq
