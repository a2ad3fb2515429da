"""Benchmark target: a Python rpyc 5.3 server with echo, blob, call and Counter.

Run with /usr/bin/python3:

    py_echo_server.py threaded|threadpool|forking [port]

It binds 127.0.0.1 (port 0 by default: any free port), prints the bound port
on stdout, then serves until killed.
"""
import os
import sys

import rpyc
from rpyc.core.channel import Channel
from rpyc.utils.server import ForkingServer, ThreadedServer, ThreadPoolServer


class Counter(object):
    def __init__(self, start=0):
        self.value = start

    def exposed_incr(self, by=1):
        self.value += by
        return self.value

    def exposed_reset(self):
        self.value = 0


class BenchService(rpyc.Service):
    exposed_Counter = Counter

    def exposed_echo(self, x):
        return x

    def exposed_blob(self, n):
        return bytes(i % 256 for i in range(n))

    def exposed_call(self, func, *args, **kwargs):
        return func(*args, **kwargs)


SERVERS = {
    "threaded": ThreadedServer,
    "threadpool": ThreadPoolServer,
    "forking": ForkingServer,
}


def main():
    if os.environ.get("RPYC_BENCH_COMPRESS") == "0":
        # rpyc-bench --compress=false: no payload is ever compressed.
        Channel.COMPRESSION_THRESHOLD = float("inf")
    mode = sys.argv[1] if len(sys.argv) > 1 else "threaded"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    cls = SERVERS[mode]
    kwargs = dict(hostname="127.0.0.1", port=port, reuse_addr=True,
                  protocol_config={"allow_public_attrs": True}, listener_timeout=None)
    if cls is ThreadPoolServer:
        kwargs["nbThreads"] = 20
    server = cls(BenchService, **kwargs)
    server.logger.disabled = True
    server._listen()  # listen before telling the port (start() would do it after)
    print(server.port, flush=True)
    server.start()


if __name__ == "__main__":
    main()
