"""curve_probe.py: the outsider's side of tests/curve.sh, in pyzmq.

  curve_probe.py intrude ENDPOINT MODE SERVER_KEY ALLOW_DIR SECONDS
      Connects a DEALER to a producer's tcp ENDPOINT during a run, says
      HELLO as a consumer would ([1, 1, "evil#0", 4, ""], docs/PROTOCOL.md)
      and counts the batches it gets in SECONDS (acknowledging each, so
      that a run it steals from still ends). Prints "batches N". MODE:
        plain        no CURVE at all
        stranger     CURVE, the run's server key, a key pair of its own
        wrongserver  CURVE, a key pair of its own, a server key that is not
                     the run's
        listed       as stranger, after writing its public key into the
                     run's allowlist folder ALLOW_DIR as a zcert public
                     certificate (czmq's own zcert_save_public): what
                     admitting a key means, and the proof that this probe
                     does get batches once admitted

  curve_probe.py sniff MARKER OUT -- COMMAND...
      Captures every frame on the loopback interface (AF_PACKET: needs
      CAP_NET_RAW) while COMMAND runs with its stdout in OUT, then sends
      MARKER once over plain tcp on loopback with pyzmq (PUSH to PULL).
      Prints "run-frames N", "run-marker N" (frames of the run's time with
      MARKER in them), "control-marker N" (the same for the plain send:
      proof that the capture sees payloads in the clear) and "exit N"
      (COMMAND's). Exits 77 when it cannot capture.
"""
import ctypes
import ctypes.util
import os
import socket
import subprocess
import sys
import threading
import time

import msgpack
import zmq
import zmq.utils.z85


def intrude(endpoint, mode, server_key, allow_dir, seconds):
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    s.setsockopt(zmq.ROUTING_ID, b"66.0.0")
    if mode != "plain":
        public, secret = zmq.curve_keypair()
        s.curve_publickey, s.curve_secretkey = public, secret
        if mode == "wrongserver":
            s.curve_serverkey = zmq.curve_keypair()[0]
        else:
            s.curve_serverkey = server_key.encode()
        if mode == "listed":
            czmq = ctypes.CDLL(ctypes.util.find_library("czmq") or "libczmq.so.4")
            czmq.zcert_new_from.restype = ctypes.c_void_p
            czmq.zcert_new_from.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
            czmq.zcert_save_public.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            czmq.zcert_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
            cert = ctypes.c_void_p(czmq.zcert_new_from(zmq.utils.z85.decode(public),
                                                       bytes(32)))
            rc = czmq.zcert_save_public(cert, os.path.join(allow_dir, "probe").encode())
            czmq.zcert_destroy(ctypes.byref(cert))
            if rc != 0:
                print("cannot write the probe's certificate", file=sys.stderr)
                return 2
    # A DEALER's send waits for a peer, and a refused handshake leaves it
    # none, maybe for good: a hello that cannot leave counts as nothing got
    s.sndtimeo = 1000
    s.connect(endpoint)
    batches = 0
    try:
        s.send(msgpack.packb([1, 1, "evil#0", 4, ""]))
    except zmq.Again:
        seconds = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not s.poll(100):
            continue
        msg = msgpack.unpackb(s.recv(), strict_map_key=False)
        if isinstance(msg, list) and len(msg) >= 3 and msg[1] == 0:
            batches += 1
            try:
                s.send(msgpack.packb([1, 2, 1, [msg[2]], 0]))
            except zmq.Again:
                pass
            if batches == 1 and mode == "listed":
                # admitted: the run may end now and remove its folder
                os.unlink(os.path.join(allow_dir, "probe"))
    # Leaving: acknowledge what is still coming, granting no more credit,
    # until nothing has come for 2 s. A consumer that left with batches
    # unacknowledged would hold them for good: the producer hears of the
    # loss of a consumer the plan has (from the supervisor), not of an
    # outsider (see docs/RELIABILITY.md, limits), and the run would wait.
    quiet = time.monotonic() + 2.0
    while batches and time.monotonic() < quiet:
        if not s.poll(100):
            continue
        msg = msgpack.unpackb(s.recv(), strict_map_key=False)
        if isinstance(msg, list) and len(msg) >= 3 and msg[1] == 0:
            batches += 1
            quiet = time.monotonic() + 2.0
            try:
                s.send(msgpack.packb([1, 2, 0, [msg[2]], 0]))
            except zmq.Again:
                pass
    # the verdict first: if tearing down a socket stuck in a refused
    # handshake ever hangs, the test kills us and still has it
    print(f"batches {batches}", flush=True)
    s.close()
    ctx.term()
    return 0


class Capture(threading.Thread):
    """Every frame on lo, with the time it came."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.1)
        self.frames = []
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                self.frames.append((time.monotonic(), self.sock.recv(1 << 17)))
            except socket.timeout:
                pass


def sniff(marker, out, command):
    try:
        cap = Capture()
    except OSError as e:
        print(f"cannot capture on lo: {e}")
        return 77
    marker = marker.encode()
    cap.start()
    time.sleep(0.2)
    with open(out, "wb") as f:
        rc = subprocess.call(command, stdout=f)
    time.sleep(0.2)
    t_control = time.monotonic()
    ctx = zmq.Context()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push.connect(f"tcp://127.0.0.1:{port}")
    control_msg = b"control " + marker
    push.send(control_msg)
    pull.recv()
    push.close(linger=1000)
    pull.close(linger=0)
    ctx.term()
    # the capture thread reads what the kernel kept for it as it can: on a
    # loaded machine well after the frames went by. Wait until it has read
    # the control's (or 20 s), and tell the run's frames from the
    # control's by what they hold, not by when they were read
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(
            control_msg in f for t, f in list(cap.frames) if t >= t_control):
        time.sleep(0.05)
    cap.stop = True
    cap.join()
    run = [f for t, f in cap.frames if control_msg not in f]
    control = [f for t, f in cap.frames if control_msg in f]
    print(f"run-frames {len(run)}")
    print(f"run-marker {sum(marker in f for f in run)}")
    print(f"control-marker {sum(marker in f for f in control)}")
    print(f"exit {rc}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "intrude":
        sys.exit(intrude(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5],
                         float(sys.argv[6])))
    if len(sys.argv) > 5 and sys.argv[1] == "sniff" and sys.argv[4] == "--":
        sys.exit(sniff(sys.argv[2], sys.argv[3], sys.argv[5:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
