"""A real Python rpyc ThreadedServer that registers itself with a registry
(registry tests).

    /usr/bin/python3 py_server.py MODE REGISTRY_PORT NAME [ALIAS] [INTERVAL]

MODE is udp or tcp: the registrar is UDPRegistryClient(ip="127.0.0.1") or
TCPRegistryClient("127.0.0.1"). The server listens on 127.0.0.1 port 0 with
auto_register; it prints "PORT <n>" and serves until stdin closes, then calls
server.close() (which unregisters), prints "CLOSED" and exits. INTERVAL
overrides the registrar's REREGISTER_INTERVAL (seconds).
"""

import logging
import sys
import threading

import rpyc
from rpyc.utils.registry import TCPRegistryClient, UDPRegistryClient
from rpyc.utils.server import ThreadedServer


def main():
    mode, rport, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    aliases = [name] + [a for a in sys.argv[4:5] if a]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    class Svc(rpyc.Service):
        ALIASES = aliases

        def exposed_ping(self):
            return "pong"

    if mode == "udp":
        reg = UDPRegistryClient(ip="127.0.0.1", port=rport, timeout=1)
    else:
        reg = TCPRegistryClient("127.0.0.1", port=rport, timeout=1)
    if len(sys.argv) > 5:
        reg.REREGISTER_INTERVAL = float(sys.argv[5])
    srv = ThreadedServer(Svc, hostname="127.0.0.1", port=0, registrar=reg,
                         auto_register=True)
    t = threading.Thread(target=srv.start, daemon=True)
    t.start()
    print("PORT", srv.port, flush=True)
    sys.stdin.read()
    srv.close()
    print("CLOSED", flush=True)


main()
