// Package registry is RPyC's service discovery, both ends: the UDP and TCP
// registry servers that keep which hosts serve which service names, the UDP
// and TCP clients (registrars) that query and register, and the Registrar
// that keeps an RPyC server registered while it runs. It is byte-exact with
// Python rpyc 5.3's rpyc.utils.registry; the wire facts are in
// shared/spec/PROTOCOL.md §14.
//
// Every message is one brine value in one UDP datagram or one TCP exchange
// (one send, one reply, close); there is no channel framing. The servers keep
// their state in a Backend (in memory by default), so another store can serve
// the same protocol without touching the servers.
//
// registry imports only codec (and the standard library and zerolog); it
// must not import conn, servers or any other rpycgo package. The client-side
// helpers that dial what was discovered live in conn (conn.ConnectByService).
package registry
