// Package reactor moves bytes between sockets and handlers for any
// length-prefixed (or otherwise framed) protocol. It accepts and dials
// connections, reads into its own buffers, hands the bytes to a Handler and
// writes what the handler queues, several frames per system call.
//
// Three engines implement the same Engine interface:
//
//   - "gnet" (the default): github.com/panjf2000/gnet/v2 event loops on
//     epoll. Each Listen runs a gnet server engine; Dial, ServeConn and Serve
//     share one gnet client engine. No goroutine waits for an idle connection.
//   - "netpoll": github.com/cloudwego/netpoll. Its pollers are process-wide
//     (see New); handlers run on netpoll's goroutine pool only while a
//     connection has input. No goroutine waits for an idle connection.
//   - "stdnet": the standard library, a reading goroutine and a writing
//     goroutine per connection. The baseline, and the engine for connections
//     the others cannot drive, such as crypto/tls ones.
//
// A connection's OnOpen, OnData and OnClose never run concurrently. They run
// on the engine's event loop (gnet), a netpoll pool goroutine, or the
// connection's reading goroutine (stdnet), and must not block: work that waits
// belongs on a goroutine of its own. The bytes given to OnData belong to the
// engine and are valid only until OnData returns.
//
// Conn.Write copies the bytes into the connection's send queue and never
// blocks. Writes made while a handler of the same connection runs are sent
// together when it returns; writes from other goroutines are gathered until
// the writer next runs. (The gnet engine writes to the socket at once, without
// the copy, when nothing is queued and the write comes from another goroutine
// or is large: 16 KiB or more from a handler. What the socket does not take
// is queued.) The queue is bounded (Config.MaxQueued): past the
// bound Write returns ErrQueueFull and the caller decides whether to close
// the connection or to wait (Conn.WaitWritable), so a peer that stops
// reading cannot grow the process's memory without bound.
//
// What the reactor engines cannot do, and how they make do:
//
//   - TLS: neither gnet nor netpoll speaks it. Serve refuses a crypto/tls
//     listener and ServeConn a *tls.Conn with ErrUnsupported, leaving the
//     connection open so the caller can hand it to a stdnet engine.
//   - Existing listeners: gnet opens its own sockets, so its Serve accepts
//     on a goroutine and moves each connection to a loop; netpoll serves a
//     duplicate of the listener's descriptor. Both need a *net.TCPListener
//     or *net.UnixListener.
//   - Adopted connections (ServeConn, and Dial, which dials with net.Dialer
//     to honour its context): the socket's descriptor is duplicated into the
//     engine and the net.Conn closed, so a descriptor received over
//     SCM_RIGHTS and wrapped by net.FileConn works on every engine.
//   - Listener.Close: a gnet or netpoll listening socket belongs to a server
//     that owns its connections too. Closing the listener stops new
//     connections from reaching the handler at once, but the socket stays
//     bound (accepting and closing) until its last connection closes.
//   - Process-wide state: netpoll's pollers and configuration (see New), and
//     gnet's logger. netpoll's pollers outlive every engine.
//   - gnet's outbound buffer is unbounded and reports nothing when it
//     drains, so a connection whose peer is slow is looked at again from a
//     timer (1ms to 50ms) to count its queue down.
//   - netpoll's Flush blocks until the peer has taken every byte, so a
//     connection writes with non-blocking write(2) and only a peer that is
//     slow gets a flushing goroutine, for as long as it is slow.
//
// The package knows nothing of RPyC. It must not import any other package of
// this module.
package reactor
