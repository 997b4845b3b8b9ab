#!/usr/bin/python3
"""oom: an actor that runs out of memory goes on correctly or fails with a
clear message; it never hangs its producer, and never exits 0 having
dropped or left unacknowledged a batch.

This script plays the supervisor and the upstream producer with pyzmq,
as tests/hostile.py does, around a real troupe-actor running the built-in
print sink, ordered or not, with checkpoints or without. The actor runs
under tests/failalloc.so: once warmed up (one batch handled and
acknowledged) it gets SIGUSR2, and from then on the first K heap calls
libtroupe makes succeed and every later one fails. Then it gets a batch
that comes early (held, when ordered), the one before it, one after, and
the end of its input. For every K in 0..K_MAX and every kind of sink, one
of two things must happen:

  - it finishes (exit 0): it printed every item (in order, when ordered)
    and acknowledged every batch before saying DONE;
  - it fails (exit 1) and says "out of memory" on stderr, acknowledging
    nothing it has not handled (its producers give the rest to its
    successor, which the supervisor starts).

Anything else fails the test: a batch acknowledged and then dropped (exit
0 with items missing), acknowledgements dropped (DONE with batches not
acknowledged: the producer would wait for ever), or no end at all.

usage: oom.py BUILD_DIR SOURCE_DIR [ACTOR_BUILD_DIR]
    ACTOR_BUILD_DIR: take troupe-actor and print.so from another build
    (an older one, to see the bugs this test is about); the shim is
    BUILD_DIR's.
"""
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

CTL_HELLO, CTL_READY, CTL_ERROR, CTL_STATS, CTL_FAIL, CTL_DONE = 1, 2, 3, 4, 5, 6
CTL_CONFIG, CTL_START, CTL_INPUT_END, CTL_DRAIN, CTL_STOP = 20, 21, 22, 23, 24
ENV_BATCH, ENV_HELLO, ENV_ACK = 0, 1, 2
K_MAX = 5
DEADLINE = 60  # seconds for one actor's whole life: only a hang comes near it
ACK_GRACE = 10  # seconds after DONE for the acks sent before it to come

build = os.path.abspath(sys.argv[1])
actor_build = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else build
shim = os.path.join(build, "tests", "failalloc.so")
failures = []


def check(what, cond, detail=""):
    print(("ok: " if cond else "FAIL: ") + what + ("" if cond else ": " + detail))
    if not cond:
        failures.append(what)
    return cond


def batch(batch_id, first_seq, values, origin=0):
    """A batch as troupe's producers write it (env_batch_header): the fixed
    header, whose form an ordered sink reads without decoding the rest."""
    head = struct.pack(">BBBBQBIBQBI", 0x96, 1, ENV_BATCH, 0xcf, batch_id, 0xce, origin,
                       0xcf, first_seq, 0xdd, len(values))
    return head + b"".join(msgpack.packb([v]) for v in values)


def one(tmp, ordered, ckpt, k):
    name = f"{'ordered' if ordered else 'unordered'} print, " \
           f"{'checkpoints' if ckpt else 'no checkpoints'}, K={k}"
    ctx = zmq.Context()
    ctl = ctx.socket(zmq.ROUTER)
    ctl.bind(f"ipc://{tmp}/ctl")
    data = ctx.socket(zmq.ROUTER)
    data.bind(f"ipc://{tmp}/data")
    out_path, err_path, ckpt_path = (f"{tmp}/out", f"{tmp}/err", f"{tmp}/ckpt")
    open(ckpt_path, "w").close()
    env = dict(os.environ, LD_PRELOAD=shim, TROUPE_FAILALLOC=str(k))
    with open(out_path, "w") as out, open(err_path, "w") as err:
        actor = subprocess.Popen(
            [f"{actor_build}/troupe-actor", f"ipc://{tmp}/ctl", "1.0.0",
             "troupe: oom/print#0"], stdout=out, stderr=err, env=env)
    deadline = time.time() + DEADLINE
    acked, done = [], None

    def pump(until):
        """Reads acks and control messages until until() or the actor's
        end. DONE is answered with STOP once every batch is acknowledged
        (the acks come on another socket, so they may come after it), or
        ACK_GRACE seconds after DONE. False when the deadline passed."""
        nonlocal done
        poller = zmq.Poller()
        poller.register(ctl, zmq.POLLIN)
        poller.register(data, zmq.POLLIN)
        while not until():
            if time.time() > deadline:
                return False
            if actor.poll() is not None and not poller.poll(0):
                return True
            for sock, _ in poller.poll(100):
                r, body = sock.recv_multipart()
                try:
                    msg = msgpack.unpackb(body)
                except ValueError:  # what an older build sent out of memory
                    continue
                if sock is data and msg[:2] == [1, ENV_ACK]:
                    acked.extend(msg[3])
                elif sock is ctl and msg[0] == CTL_DONE:
                    done = time.time()
            if done and done > 0 and (set(acked) >= {0, 1, 2, 3}
                                      or time.time() > done + ACK_GRACE):
                ctl.send_multipart([rid, msgpack.packb([CTL_STOP])])
                done = -1  # answered
        return True

    def recv(sock):
        if not sock.poll(max(deadline - time.time(), 0) * 1000):
            raise TimeoutError
        return sock.recv_multipart()

    try:
        rid, _ = recv(ctl)  # its hello
        # the plan's parts by name (runtime/plan/codec.c)
        ctl.send_multipart([rid, msgpack.packb([CTL_CONFIG, {
            "pipeline": {"name": "oom", "batch": 1024, "window": 32, "credit": 64},
            "actor": {"name": "print", "instances": 1, "ordered": 1 if ordered else 0,
                      "module_path": f"{actor_build}/actors/print.so", "args": {}},
            "index": 1, "instance": 0, "outputs": [], "incarnation": 0,
            "exact": True, "checkpoint": ckpt, "ckpt_file": ckpt_path}])])
        while msgpack.unpackb(recv(ctl)[1])[0] != CTL_READY:
            pass
        ctl.send_multipart([rid, msgpack.packb([CTL_START, [{
            "chan": 0, "broadcast": False, "producer": "0.0.0",
            "endpoint": f"ipc://{tmp}/data", "subscribe": ""}]])])
        drid, _ = recv(data)  # its input's hello
        # warm up: a batch in order, acknowledged
        data.send_multipart([drid, batch(0, 0, list(range(10)))])
        if not pump(lambda: 0 in acked):
            check(f"{name}: warm-up batch acknowledged", False, "no ack")
            return
        actor.send_signal(signal.SIGUSR2)  # out of memory from now on
        for bid, first in [(1, 20), (2, 10), (3, 30)]:  # 1 comes early
            data.send_multipart([drid, batch(bid, first, list(range(first, first + 10)))])
        ctl.send_multipart([rid, msgpack.packb([CTL_INPUT_END])])
        if not pump(lambda: False):
            check(f"{name}: the actor ends", False, "still running: it hangs")
            return
        code = actor.wait()
        lines = open(out_path).read().split()
        stderr = open(err_path).read()
        if code == 0:
            want = [str(i) for i in range(40)]
            got = lines if ordered else sorted(lines, key=int)
            check(f"{name}: exit 0 with every item printed", got == want,
                  f"{len(lines)} lines: {' '.join(lines)}")
            check(f"{name}: every batch acknowledged, DONE said",
                  done is not None and sorted(set(acked)) == [0, 1, 2, 3],
                  f"acked {sorted(set(acked))}, DONE {'said' if done else 'not said'}")
        else:
            check(f"{name}: exit 1 saying it is out of memory",
                  code == 1 and "out of memory" in stderr, f"exit {code}, stderr {stderr!r}")
    except TimeoutError:
        check(f"{name}: the actor starts", False, open(err_path).read())
    finally:
        if actor.poll() is None:
            actor.kill()
            actor.wait()
        ctx.destroy(linger=0)


if not os.path.exists(shim):
    print(f"no {shim}: skipped")
    sys.exit(77)
for ordered in (True, False):
    for ckpt in (True, False):
        for k in range(K_MAX + 1):
            with tempfile.TemporaryDirectory() as tmp:
                one(tmp, ordered, ckpt, k)
sys.exit(1 if failures else 0)
