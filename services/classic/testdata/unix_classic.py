"""A classic (SlaveService) server on a unix socket, for the Go tests.

rpyc_classic has no unix-socket switch, so the test runs this instead.
Usage: unix_classic.py SOCKET_PATH. Prints "ready" once listening.
"""
import sys

from rpyc.core.service import SlaveService
from rpyc.utils.server import ThreadedServer

server = ThreadedServer(SlaveService, socket_path=sys.argv[1],
                        protocol_config={"allow_all_attrs": True,
                                         "allow_setattr": True,
                                         "allow_delattr": True,
                                         "allow_pickle": True})
server._listen()  # listen before telling the test it may connect
print("ready", flush=True)
server.start()
