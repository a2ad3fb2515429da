"""A real Python rpyc server for the Go client tests (services/pyserver_test.go).

    /usr/bin/python3 py_server.py

Starts a ThreadedServer on 127.0.0.1 port 0, prints "PORT <n>" on stdout,
and serves until stdin closes (the Go test's process ends) or it is killed.
allow_public_attrs is on so that the Go client can reach the public
methods of ordinary objects (list.append, dict.keys, file.read).
"""

import io
import sys
import threading
import time

import rpyc
from rpyc.utils.server import ThreadedServer


class MyError(Exception):
    """An application-specific exception (not a builtin)."""


class PyService(rpyc.Service):
    exposed_shared = [10, 20, 30]  # the same object every time it is read

    def on_connect(self, conn):
        self._conn = conn

    def exposed_echo(self, x):
        return x

    def exposed_greet(self, name, greeting="hello", punct="!"):
        return f"{greeting} {name}{punct}"

    def exposed_add(self, a, b=0, *rest, scale=1, **extra):
        return (a + b + sum(rest)) * scale + sum(extra.values())

    def exposed_describe(self, *args, **kwargs):
        return (args, tuple(sorted(kwargs.items())))

    def exposed_get_list(self):
        return [1, 2, 3]

    def exposed_get_dict(self):
        return {"a": 1, "b": 2}

    def exposed_squares(self, n):
        return (i * i for i in range(n))

    def exposed_open_file(self):
        return io.BytesIO(b"line one\nline two\n")

    def exposed_call_back(self, fn, *args, **kwargs):
        return fn(*args, **kwargs)

    def exposed_call_twice(self, fn, x):
        return fn(fn(x))

    def exposed_len_of(self, obj):
        return len(obj)

    def exposed_sum_of(self, obj):
        return sum(obj)

    def exposed_fail(self, kind):
        if kind == "value":
            raise ValueError("bad value", 42)
        if kind == "key":
            raise KeyError("missing")
        if kind == "custom":
            raise MyError("custom failure")
        if kind == "os":
            raise FileNotFoundError(2, "No such file or directory", "/nope")
        raise RuntimeError(kind)

    def exposed_slow(self, seconds):
        time.sleep(seconds)
        return seconds

    def exposed_peer_name(self):
        return self._conn.root.get_service_name()


def main():
    server = ThreadedServer(
        PyService, hostname="127.0.0.1", port=0,
        protocol_config={"allow_public_attrs": True, "sync_request_timeout": 30},
    )
    t = threading.Thread(target=server.start, daemon=True)
    t.start()
    while not server.active:
        time.sleep(0.01)
    print("PORT", server.port, flush=True)
    sys.stdin.read()  # until the Go test closes our stdin or exits
    server.close()


if __name__ == "__main__":
    main()
