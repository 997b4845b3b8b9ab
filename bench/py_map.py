"""py_map.py: the Python multiprocessing peers of bench/run.

    py_map.py whole N              Pool(2).map(square, range(N)), then print
                                   every result (the twin of squares.zpl)
    py_map.py pool N CHUNKSIZE     time Pool(2).map alone (0: default chunksize)
    py_map.py executor N CHUNKSIZE time ProcessPoolExecutor(2).map alone
    py_map.py futures N            ProcessPoolExecutor(2): N futures submitted
                                   one by one, then waited for; their rate
    py_map.py startup N METHOD     Pool(N) started, one item moved, stopped
    py_map.py rss N                a Pool(N) worker's peak RSS
    py_map.py value N              the seeds' counter: 5 Processes each add 1
                                   to a Value('i') N times under its lock
    py_map.py factorial W N1,N2,.. the seeds' CPU-bound map: Pool(W).map of a
                                   factorial product loop over the Ns, timed
                                   alone; each result as [bit length, n! mod
                                   2^61 - 1], as bench/factorial prints them

Each prints one JSON line (whole prints the results instead).
"""
import json
import multiprocessing as mp
import sys
import time
from concurrent.futures import ProcessPoolExecutor, wait


def square(x):
    return x * x


def maxrss(_):
    """This worker's peak RSS in kB, the same kernel figure (VmHWM) the
    troupe actors and bare zmq process report."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def add_locked(total, n):
    for _ in range(n):
        with total.get_lock():
            total.value += 1


def factorial(n):
    r = 1
    for i in range(2, n + 1):
        r *= i
    return [r.bit_length(), r % (2**61 - 1)]


def main():
    mode, n = sys.argv[1], int(sys.argv[2])
    if mode == "whole":
        with mp.Pool(2) as p:
            r = p.map(square, range(n))
        print(*r, sep="\n")
    elif mode == "pool":
        chunks = int(sys.argv[3]) or None
        with mp.Pool(2) as p:
            t0 = time.perf_counter()
            r = p.map(square, range(n), chunksize=chunks)
            t = time.perf_counter() - t0
        print(json.dumps({"map_s": t, "sum": sum(r)}))
    elif mode == "executor":
        with ProcessPoolExecutor(2) as ex:
            t0 = time.perf_counter()
            r = list(ex.map(square, range(n), chunksize=int(sys.argv[3]) or 1))
            t = time.perf_counter() - t0
        print(json.dumps({"map_s": t, "sum": sum(r)}))
    elif mode == "futures":
        with ProcessPoolExecutor(2) as ex:
            # its workers start on demand: start both before the clock does,
            # as troupe's pool is up before its futures are timed
            list(ex.map(square, range(2)))
            t0 = time.perf_counter()
            fs = [ex.submit(square, i) for i in range(n)]
            wait(fs)
            total = sum(f.result() for f in fs)
            t = time.perf_counter() - t0
        print(json.dumps({"futures_s": t, "rate": n / t, "sum": total}))
    elif mode == "startup":
        ctx = mp.get_context(sys.argv[3])
        t0 = time.perf_counter()
        p = ctx.Pool(n)
        r = p.map(square, [1])
        p.close()
        p.join()
        print(json.dumps({"pool_s": time.perf_counter() - t0, "result": r}))
    elif mode == "rss":
        with mp.Pool(n) as p:
            kb = max(p.map(maxrss, range(n), chunksize=1))
        print(json.dumps({"worker_kb": kb}))
    elif mode == "value":
        total = mp.Value("i", 0)
        t0 = time.perf_counter()
        ps = [mp.Process(target=add_locked, args=(total, n)) for _ in range(5)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        print(json.dumps({"s": time.perf_counter() - t0, "total": total.value}))
    elif mode == "factorial":
        ns = [int(x) for x in sys.argv[3].split(",")]
        with mp.Pool(n) as p:
            t0 = time.perf_counter()
            r = p.map(factorial, ns)
            t = time.perf_counter() - t0
        print(json.dumps({"map_s": t, "results": r}))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
