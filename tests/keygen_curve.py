"""keygen_curve.py KEYS ALLOW: the pairs `troupe keygen` wrote in KEYS
(head, node1, node2) work with what will read them. czmq: zcert_load reads
the public certificate in ALLOW (a copy of node1's) with no secret key, and
zcertstore, what zauth reads an allowlist folder with, holds node1's key and
not node2's. libzmq's CURVE, through pyzmq: over tcp, node1 (allowed)
reaches the head and gets an answer; node2 (not allowed) gets none.
Prints ok/FAIL lines like lib.sh; exits 1 if a check failed."""
import ctypes
import ctypes.util
import os
import sys

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

keys, allow = sys.argv[1], sys.argv[2]
failed = False


def expect(what, cond, detail=""):
    global failed
    if cond:
        print(f"ok: {what}")
    else:
        print(f"FAIL: {what} {detail}", file=sys.stderr)
        failed = True


czmq = ctypes.CDLL(ctypes.util.find_library("czmq") or "libczmq.so.4")
czmq.zcert_load.restype = ctypes.c_void_p
czmq.zcert_load.argtypes = [ctypes.c_char_p]
for f in ("zcert_public_txt", "zcert_secret_txt"):
    getattr(czmq, f).restype = ctypes.c_char_p
    getattr(czmq, f).argtypes = [ctypes.c_void_p]
czmq.zcert_meta.restype = ctypes.c_char_p
czmq.zcert_meta.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
czmq.zcert_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
czmq.zcertstore_new.restype = ctypes.c_void_p
czmq.zcertstore_new.argtypes = [ctypes.c_char_p]
czmq.zcertstore_lookup.restype = ctypes.c_void_p
czmq.zcertstore_lookup.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
czmq.zcertstore_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]


def pair(name):
    """(public, secret) of a pair, as pyzmq reads the two files."""
    public, none = zmq.auth.load_certificate(os.path.join(keys, name))
    expect(f"{name}: pyzmq finds no secret key in the public file", none is None)
    public2, secret = zmq.auth.load_certificate(os.path.join(keys, name + "_secret"))
    expect(f"{name}: both files hold one public key", public == public2)
    return public, secret


head, node1, node2 = pair("head"), pair("node1"), pair("node2")

# zcert_load tries NAME_secret first, so the public file is read from ALLOW,
# where it is alone: there, as on a head, it must yield no secret key.
cert = ctypes.c_void_p(czmq.zcert_load(os.path.join(allow, "node1").encode()))
expect("zcert_load reads the public file", cert.value is not None)
if cert.value:
    expect("zcert_load: the public key", czmq.zcert_public_txt(cert) == node1[0])
    expect("zcert_load: no secret key in the public file",
           czmq.zcert_secret_txt(cert) == b"0" * 40, czmq.zcert_secret_txt(cert))
    expect("zcert_load: the name", czmq.zcert_meta(cert, b"name") == b"node1")
    czmq.zcert_destroy(ctypes.byref(cert))

store = ctypes.c_void_p(czmq.zcertstore_new(allow.encode()))


def allowed(key):
    return czmq.zcertstore_lookup(store, key) is not None


expect("zcertstore of the allowlist folder: node1 is in", allowed(node1[0]))
expect("zcertstore of the allowlist folder: node2 is not", not allowed(node2[0]))


class Allowlist:
    """pyzmq's ZAP handler asks czmq's zcertstore, as zauth would."""

    def callback(self, domain, key):
        return allowed(key)


ctx = zmq.Context()
auth = ThreadAuthenticator(ctx)
auth.start()
auth.configure_curve_callback("*", credentials_provider=Allowlist())

server = ctx.socket(zmq.REP)
server.curve_publickey, server.curve_secretkey = head
server.curve_server = True
server.linger = 0
port = server.bind_to_random_port("tcp://127.0.0.1")


def ask(name, client_pair):
    client = ctx.socket(zmq.REQ)
    client.curve_publickey, client.curve_secretkey = client_pair
    client.curve_serverkey = head[0]
    client.linger = 0
    client.connect(f"tcp://127.0.0.1:{port}")
    client.send(name.encode())
    answer = None
    if server.poll(2000):
        server.send(b"hello " + server.recv())
        if client.poll(2000):
            answer = client.recv()
    client.close()
    return answer


got = ask("node1", node1)
expect("CURVE over tcp: node1, allowed, gets its answer", got == b"hello node1", got)
expect("CURVE over tcp: node2, not allowed, gets nothing", ask("node2", node2) is None)

server.close()
auth.stop()
ctx.term()
czmq.zcertstore_destroy(ctypes.byref(store))
sys.exit(1 if failed else 0)
