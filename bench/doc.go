// Package bench is rpycgo's benchmark harness: it measures RPyC servers side
// by side in one run, on loopback, with one load generator.
//
// Targets are subprocesses started by command line (Target, Start): the
// rpyc-server command in each mode and engine, Python rpyc 5.3's
// ThreadedServer, ThreadPoolServer and ForkingServer (PyEchoServerScript,
// run with PythonInterpreter), and raw echo servers on the gnet, netpoll and
// stdnet engines (ServeRawEcho) that answer each request frame with a canned
// frame of the same size: the ceiling of the machine for the traffic.
//
// Run drives one target with a Workload: N connections speaking RPyC through
// rpycgo's own client (or bare frames, for the raw servers), synchronous
// ping-pong or pipelined async calls, a warm-up, a fixed duration or call
// count; it returns calls/s, errors, latency percentiles (an HDR histogram),
// and the CPU of both sides and the server's memory and threads from /proc.
// Execute runs a whole Plan (throughput cells, idle capacity, connection
// churn) and returns a Report, written as a terminal table, markdown, JSON
// and SVG charts.
//
// bench sits on top of every other package and nothing imports it.
package bench
