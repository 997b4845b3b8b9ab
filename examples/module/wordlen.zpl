#   wordlen: every word of words.txt with its length, using the module
#   built from wordlen.c in this folder (see README.md).
#
#       troupe run wordlen.zpl                           # after make
#       echo "some text" | troupe run -s text.args.file=- wordlen.zpl
#
#   Both paths below (./wordlen.so and words.txt) are taken from this
#   file's folder, so it runs the same from any working directory.

pipeline = wordlen

actor = text
    module = lines
    out = lines
    args
        file = words.txt        # or - for stdin

actor = words
    module = ./wordlen.so       # relative to this file's folder
    instances = 2
    in = lines
    out = pairs
    args
        min = 3

actor = show
    module = print
    in = pairs
