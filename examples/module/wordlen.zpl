#   wordlen: every word of words.txt with its length, using the module
#   built from wordlen.c in this folder (see README.md).
#
#       troupe run wordlen.zpl       # from this folder, after make
#
pipeline = wordlen

actor = text
    module = lines
    out = lines
    args
        file = words.txt

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
