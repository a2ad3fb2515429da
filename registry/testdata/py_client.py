"""Real Python rpyc registry clients driven line by line (registry tests).

    /usr/bin/python3 py_client.py MODE REGISTRY_PORT [ipv6]

MODE is udp (UDPRegistryClient(ip="127.0.0.1", or "::1" with ipv6)) or tcp
(TCPRegistryClient("127.0.0.1")). Prints "READY", then reads one JSON request
per line and answers one JSON line:

    ["discover", name]          rpyc.discover(name, registrar=reg)
    ["rdiscover", name]         reg.discover(name)
    ["list", filter_or_null]    rpyc.list_services(registrar=reg, filter_host=...)
    ["connect", name]           rpyc.connect_by_service(name, registrar=reg).root.ping()

Answers are {"ok": value} or {"error": exception class name, "msg": str}.
"""

import json
import sys

import rpyc
from rpyc.utils.registry import TCPRegistryClient, UDPRegistryClient


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    ipv6 = len(sys.argv) > 3 and sys.argv[3] == "ipv6"
    if mode == "udp":
        reg = UDPRegistryClient(ip="::1" if ipv6 else "127.0.0.1", port=port,
                                timeout=1, ipv6=ipv6)
    else:
        reg = TCPRegistryClient("127.0.0.1", port=port, timeout=1)
    print("READY", flush=True)
    for line in sys.stdin:
        op, arg = json.loads(line)
        try:
            if op == "discover":
                out = [list(a) for a in rpyc.discover(arg, registrar=reg)]
            elif op == "rdiscover":
                out = [list(a) for a in reg.discover(arg)]
            elif op == "list":
                out = list(rpyc.list_services(registrar=reg, filter_host=arg))
            elif op == "connect":
                c = rpyc.connect_by_service(arg, registrar=reg)
                out = c.root.ping()
                c.close()
            else:
                raise ValueError(op)
            print(json.dumps({"ok": out}), flush=True)
        except Exception as e:  # reported to the Go test
            print(json.dumps({"error": type(e).__name__, "msg": str(e)}), flush=True)


main()
