# expect: :3: indent 4 spaces at once
actor = a
  module = seq
