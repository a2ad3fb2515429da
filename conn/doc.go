// Package conn is the RPyC protocol on one connection: the HANDLE_* table,
// boxing and unboxing of values, the local object table with the counts that
// DEL releases, the proxy cache, the attribute policy, ping and close, and
// the client dialers.
//
// A Conn has no read loop of its own. Whatever owns the socket pushes the
// bytes it read into Feed and the Conn hands whole frames to a Transport for
// writing, so the same Conn serves a plain net.Conn (ServeNetConn, Dial) or a
// reactor's event loop. Requests from the peer run on a dispatch.Executor;
// the goroutine that feeds bytes never waits for the peer, so nested calls
// (Go calls Python, Python calls back into Go, ...) never deadlock.
//
// conn imports codec, dispatch, netref and registry (for ConnectByService);
// it must not import services,
// servers or reactor.
package conn
