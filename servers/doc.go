// Package servers serves an RPyC service (a conn.Service) to many
// connections, with the policies of RPyC's servers:
//
//   - NewThreadPool: requests run on a fixed pool of workers (RPyC's
//     ThreadPoolServer); the default of cmd/rpyc-server ("reactor" mode).
//   - NewThreaded: a goroutine per request (RPyC's ThreadedServer).
//   - NewProcessPool: worker processes re-executed from the same binary,
//     each connection's socket handed to one of them over SCM_RIGHTS
//     (RPyC's ForkingServer, which Go cannot do by fork).
//   - NewOneShot: one connection, then the server stops (OneShotServer).
//
// Every policy runs on any reactor engine (gnet by default, netpoll,
// stdnet) and takes the same functional options: address, unix socket,
// IPv6, TLS, limits, logger, registrar. The engine's loop only reads,
// decodes and queues; requests run where the policy says, so a request
// that calls back into the peer never stops the loop, and nested calls
// never deadlock.
//
// A binary that uses NewProcessPool must call RunWorkerIfChild first thing
// in main (and a test binary in TestMain).
//
// servers builds on reactor, conn and dispatch; nothing of rpycgo but
// commands imports it.
package servers
