#!/usr/bin/python3
"""hostile: hostile bytes on the data plane are dropped and counted, and the
actor that receives them keeps working: its output is exactly the valid
items.

This script plays the supervisor and the upstream producer with pyzmq,
speaking docs/PROTOCOL.md: it starts a real `troupe actor` process running
the built-in `print` module, hands it a config whose one input is our own
ROUTER, and sends it valid batches interleaved with garbage. It checks what
the actor prints, which batches it acknowledges, and its malformed counter.

usage: hostile.py BUILD_DIR SOURCE_DIR
"""
import os
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

CTL_HELLO, CTL_READY, CTL_ERROR, CTL_STATS, CTL_FAIL, CTL_DONE = 1, 2, 3, 4, 5, 6
CTL_CONFIG, CTL_START, CTL_INPUT_END, CTL_DRAIN, CTL_STOP = 20, 21, 22, 23, 24
ENV_BATCH, ENV_HELLO, ENV_ACK = 0, 1, 2

build = os.path.abspath(sys.argv[1])
failures = []


def check(what, cond, detail=""):
    print(("ok: " if cond else "FAIL: ") + what + ("" if cond else ": " + detail))
    if not cond:
        failures.append(what)


def batch(batch_id, first_seq, values, origin=0):
    return msgpack.packb([1, ENV_BATCH, batch_id, origin, first_seq, [[v] for v in values]])


with tempfile.TemporaryDirectory() as tmp:
    ctx = zmq.Context()
    ctl = ctx.socket(zmq.ROUTER)
    ctl.bind(f"ipc://{tmp}/ctl")
    data = ctx.socket(zmq.ROUTER)
    data.bind(f"ipc://{tmp}/data")
    out = open(f"{tmp}/out", "w")
    actor = subprocess.Popen(
        [f"{build}/troupe-actor", f"ipc://{tmp}/ctl", "1.0.0", "troupe: hostile/print#0"],
        stdout=out)

    def recv_ctl(timeout=10.0):
        if not ctl.poll(int(timeout * 1000)):
            raise SystemExit("FAIL: the actor went silent")
        rid, body = ctl.recv_multipart()
        return rid, msgpack.unpackb(body)

    def send_ctl(rid, *msg):
        ctl.send_multipart([rid, msgpack.packb(list(msg))])

    rid, msg = recv_ctl()
    check("actor says hello", msg[0] == CTL_HELLO and rid == b"1.0.0", repr(msg))
    # the plan's parts go by name (runtime/plan/codec.c); the rest keep
    # their defaults
    send_ctl(rid, CTL_CONFIG, {
        "pipeline": {"name": "hostile", "batch": 1024, "window": 32, "credit": 64},
        "actor": {"name": "print", "instances": 1,
                  "module_path": f"{build}/actors/print.so", "args": {}},
        "index": 1, "instance": 0, "outputs": [], "incarnation": 0,
    })
    rid, msg = recv_ctl()
    check("actor is ready", msg[0] == CTL_READY and msg[1] == [], repr(msg))
    send_ctl(rid, CTL_START, [{"chan": 0, "broadcast": False, "producer": "0.0.0",
                               "endpoint": f"ipc://{tmp}/data", "subscribe": ""}])

    # the actor's input says hello to us, its producer
    if not data.poll(10000):
        raise SystemExit("FAIL: no hello on the data socket")
    drid, body = data.recv_multipart()
    hello = msgpack.unpackb(body)
    check("data hello", hello[:3] == [1, ENV_HELLO, "print#0"], repr(hello))

    good = batch(0, 0, [10, 11, 12])
    hostile = [
        b"not msgpack at all \xc1",                  # 0xc1 is never valid
        b"",                                          # empty frame
        msgpack.packb([2, ENV_BATCH, 1, 0, 3, [[1]]]),  # another version
        good[:len(good) // 2],                        # truncated
        good + b"\x00",                               # trailing bytes
        msgpack.packb({"a": 1}),                      # not an envelope
        msgpack.packb([1, ENV_BATCH, 1, 0, 3, [5]]),  # a group that is no array
        msgpack.packb([1, ENV_BATCH, "x", 0, 3, []]),  # a batch id that is no number
        msgpack.packb([1, 99]),                       # an unknown kind
        b"\xdd\xff\xff\xff\xff",                      # array of 2^32-1, 5 bytes
        b"\xdf\x7f\xff\xff\xff\x01",                  # map of 2^31-1, 6 bytes
        b"\x96\x01\x00\x01\x00\x03\xdd\x0f\xff\xff\xff\x91\x01",  # groups claim 268M
        b"\xdb\xff\xff\xff\xf0abc",                   # a 4 GB string, 3 bytes
        msgpack.packb([1, ENV_BATCH, 1, 0, 3, [[1]]]) * 2,  # two values in one frame
    ]
    frames = [good]
    for i, h in enumerate(hostile):
        frames.append(h)
        frames.append(batch(i + 1, 3 * (i + 1), [3 * (i + 1) + 10 + k for k in range(3)]))
    for f in frames:
        data.send_multipart([drid, f])
    # a three-frame message: not what a producer sends
    data.send_multipart([drid, good, good])
    frames_valid = len(hostile) + 1
    # an oversized value: 20 MB of string in a valid batch is still valid
    big = "x" * (20 * 1024 * 1024)
    data.send_multipart([drid, batch(frames_valid, 3 * frames_valid, [big])])

    # collect acks until every valid batch is acknowledged
    acked = set()
    deadline = time.time() + 20
    while len(acked) < frames_valid + 1 and time.time() < deadline:
        if data.poll(500):
            _, body = data.recv_multipart()
            m = msgpack.unpackb(body)
            if m[:2] == [1, ENV_ACK]:
                acked.update(m[3])
    check("every valid batch acknowledged", acked == set(range(frames_valid + 1)),
          f"acked {sorted(acked)}")

    send_ctl(rid, CTL_INPUT_END)
    stats = None
    deadline = time.time() + 20
    while time.time() < deadline:
        r, msg = recv_ctl()
        if msg[0] == CTL_DONE:
            stats = msg
            break
    check("actor finishes", stats is not None)
    send_ctl(rid, CTL_STOP)
    code = actor.wait(timeout=20)
    out.close()
    check("actor exits 0", code == 0, f"exit {code}")

    lines = open(f"{tmp}/out").read().split("\n")[:-1]
    want = [str(3 * b + 10 + k) for b in range(frames_valid) for k in range(3)] + [big]
    check("output is exactly the valid items", lines == want,
          f"{len(lines)} lines, first {lines[:5]}")
    if stats:
        # [DONE, in, out, batches_in, batches_out, failed, malformed, busy]
        check("items counted", stats[1] == 3 * frames_valid + 1, repr(stats))
        check("every hostile frame counted as malformed",
              stats[6] == len(hostile) + 1, f"malformed {stats[6]}, sent {len(hostile) + 1}")
    ctx.destroy(linger=0)

sys.exit(1 if failures else 0)
