package bench

import _ "embed"

// PyEchoServerScript is bench/testdata/py_echo_server.py: the Python rpyc
// target (echo, blob, call, Counter) under ThreadedServer, ThreadPoolServer
// or ForkingServer. Write it to a file and run it with PythonInterpreter.
//
//go:embed testdata/py_echo_server.py
var PyEchoServerScript []byte
