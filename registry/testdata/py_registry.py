"""The real Python rpyc registry server (registry tests).

    /usr/bin/python3 py_registry.py MODE PRUNING_TIMEOUT LISTING

MODE is udp or tcp: UDPRegistryServer / TCPRegistryServer on 127.0.0.1
port 0, with the pruning timeout in seconds and listing on when LISTING is
1. Prints "PORT <n>" and serves until killed.
"""

import logging
import sys

from rpyc.utils.registry import TCPRegistryServer, UDPRegistryServer


def main():
    mode, timeout, listing = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1"
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    cls = UDPRegistryServer if mode == "udp" else TCPRegistryServer
    srv = cls(host="127.0.0.1", port=0, pruning_timeout=timeout, allow_listing=listing)
    print("PORT", srv.port, flush=True)
    srv.start()


main()
