// Package dispatch matches replies to requests by sequence number and runs
// the peer's requests on a pluggable Executor. It knows nothing of the
// protocol's handlers or of sockets; conn builds on it.
//
// A Table numbers outgoing requests and holds their pending AsyncResults
// (PROTOCOL.md §5.2–5.3): Register before sending, Deliver when a reply or
// exception arrives, FailAll when the connection dies (§13), and Call for a
// synchronous request with RPyC's 30 s default timeout. Executors (Inline,
// Goroutines, Pool, Serial) decide where the peer's requests run.
//
// dispatch imports only the standard library, nothing else of rpycgo.
package dispatch
