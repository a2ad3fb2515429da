"""Drives rpycgo servers (package servers) with the real Python rpyc client
over the endpoints the conformance script does not reach. Run by the tests
of package servers:

    servers_client.py tcp HOST PORT            one connection, exercised
    servers_client.py unix PATH                the same over a unix socket
    servers_client.py tls HOST PORT KEY CERT CA
    servers_client.py tls-refused HOST PORT CA [KEY CERT]
    servers_client.py plain-refused HOST PORT  plain text to a TLS port
    servers_client.py nested HOST PORT DEPTH CONNS
    servers_client.py oneshot HOST PORT        one connection, then expect refusal

"exercised" means: echo, a callback (call), two sleeps on the connection at
once while another request is answered, events (subscribe/fire),
live_objects. Prints OK and exits 0 when every check holds.
"""

import gc
import socket
import ssl
import sys
import threading
import time

import rpyc
from rpyc.utils.factory import unix_connect


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def exercise(c, bg=True):
    """With bg, events and concurrent sleeps run under rpyc.BgServingThread;
    without, events arrive while the client waits for fire's reply."""
    root = c.root
    check(root.get_service_name() == "CONFORMANCE", "service name")
    for v in (None, True, 1, 2**80, -0.5, "héllo", b"\x00\xff", (1, ("a",)), frozenset({1})):
        check(root.echo(v) == v, f"echo {v!r}")
    check(root.call(lambda x, y=1: x + y, 41) == 42, "call")
    check(root.call(lambda: root.add(2, 3)) == 5, "nested call")
    if bg:
        exercise_bg(c)
    else:
        exercise_nobg(c)

    gc.collect()
    base = root.live_objects()
    cs = [root.Counter(i) for i in range(3)]
    check(root.live_objects() == base + 3, "live objects up")
    del cs
    gc.collect()
    check(root.live_objects() == base, "live objects down")


def exercise_nobg(c):
    root = c.root
    events = []
    root.subscribe(lambda i, payload: events.append((i, payload)))
    check(root.fire(10, "p") == 10, "fire")
    for _ in range(100):
        if len(events) == 10:
            break
        c.serve(0.05)
    check(events == [(i, "p") for i in range(10)], f"events: {events}")


def exercise_bg(c):
    root = c.root
    bg = rpyc.BgServingThread(c)
    try:
        t0 = time.monotonic()
        a1 = rpyc.async_(root.sleep)(0.5)
        a2 = rpyc.async_(root.sleep)(0.5)
        check(root.echo("fast") == "fast", "echo during sleeps")
        check(time.monotonic() - t0 < 0.45, "echo waited for sleep")
        a1.wait()
        a2.wait()
        check((a1.value, a2.value) == (0.5, 0.5), "sleep values")
        check(time.monotonic() - t0 < 0.95, "sleeps serialized")

        events = []
        done = threading.Event()

        def cb(i, payload):
            events.append((i, payload))
            if len(events) == 10:
                done.set()
        root.subscribe(cb)
        check(root.fire(10, "p") == 10, "fire")
        check(done.wait(10), f"events: {len(events)}")
        check(events == [(i, "p") for i in range(10)], "events order")
    finally:
        bg.stop()


def cmd_tcp(host, port):
    c = rpyc.connect(host, int(port), ipv6=":" in host)
    try:
        exercise(c)
    finally:
        c.close()


def cmd_unix(path):
    c = unix_connect(path)
    try:
        exercise(c)
    finally:
        c.close()


def cmd_tls(host, port, key, cert, ca):
    key, cert = key or None, cert or None
    c = rpyc.ssl_connect(host, int(port), keyfile=key, certfile=cert, ca_certs=ca)
    try:
        exercise(c)
        exercise_nobg(c)
        check(isinstance(c._channel.stream.sock, ssl.SSLSocket), "not TLS")
        # Sleeps on two TLS connections at once.
        c2 = rpyc.ssl_connect(host, int(port), keyfile=key, certfile=cert, ca_certs=ca)
        try:
            t0 = time.monotonic()
            a1 = rpyc.async_(c.root.sleep)(0.5)
            a2 = rpyc.async_(c2.root.sleep)(0.5)
            a1.wait()
            a2.wait()
            check((a1.value, a2.value) == (0.5, 0.5), "sleep values")
            check(time.monotonic() - t0 < 0.95, "sleeps serialized")
        finally:
            c2.close()
    finally:
        c.close()


def refused(fn):
    try:
        c = fn()
        try:
            c.root.echo(1)
        finally:
            c.close()
    except Exception as e:  # noqa: BLE001 - any failure is the refusal
        print("refused:", type(e).__name__, e)
        return
    raise AssertionError("the connection was served")


def cmd_tls_refused(host, port, ca, key=None, cert=None):
    refused(lambda: rpyc.ssl_connect(host, int(port), keyfile=key, certfile=cert, ca_certs=ca,
                                     config={"sync_request_timeout": 5}))


def cmd_plain_refused(host, port):
    refused(lambda: rpyc.connect(host, int(port), config={"sync_request_timeout": 5}))


def cmd_nested(host, port, depth, conns):
    depth, conns = int(depth), int(conns)
    errors = []

    def one():
        try:
            c = rpyc.connect(host, int(port), config={"sync_request_timeout": 60})
            try:
                root = c.root

                def deep(n):
                    return 0 if n == 0 else root.call(deep, n - 1) + 1
                got = root.call(deep, depth)
                check(got == depth, f"depth {got}")
            finally:
                c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    ths = [threading.Thread(target=one) for _ in range(conns)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(90)
    check(not errors, f"errors: {errors!r}")


def cmd_oneshot(host, port):
    c = rpyc.connect(host, int(port))
    try:
        exercise(c)
        # A second connection is not served while the first is open.
        refused(lambda: rpyc.connect(host, int(port), config={"sync_request_timeout": 3}))
    finally:
        c.close()


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = globals()["cmd_" + cmd.replace("-", "_")]
    fn(*args)
    print("OK")


if __name__ == "__main__":
    main()
