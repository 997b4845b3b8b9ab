"""py_wordcount.py: the Python multiprocessing twin of examples/wordcount.zpl
in bench/run.

    py_wordcount.py FILE [WORKERS] [CHUNK_BYTES]

Reads FILE, cuts it into chunks of whole lines (about CHUNK_BYTES each,
1 MB by default), and Pool(WORKERS, default 2).map counts the words of
each chunk in a collections.Counter; the Counters are merged and printed
as `tr -cs A-Za-z '\\n' < FILE | LC_ALL=C sort | uniq -c` prints them, byte
for byte: a word is a run of ASCII letters, the words sorted by their
bytes, each count right-aligned in 7 columns, a space, the word.
"""
import collections
import multiprocessing as mp
import re
import sys

WORD = re.compile(rb"[A-Za-z]+")


def count(chunk):
    return collections.Counter(WORD.findall(chunk))


def chunks(data, size):
    """data in pieces of about size bytes, each ending at a line end (or
    the end), so that no word is cut in two."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", start + size)
        end = len(data) if end < 0 else end + 1
        yield data[start:end]
        start = end


def main():
    path = sys.argv[1]
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 1 << 20
    with open(path, "rb") as f:
        data = f.read()
    total = collections.Counter()
    with mp.Pool(workers) as p:
        for c in p.map(count, chunks(data, size)):
            total.update(c)
    # tr turns a first run of non-letters into an empty first line too
    if data and not (data[:1].isascii() and data[:1].isalpha()):
        total[b""] += 1
    out = sys.stdout.buffer
    out.write(b"".join(b"%7d %s\n" % (n, w) for w, n in sorted(total.items())))
    out.flush()


if __name__ == "__main__":
    main()
