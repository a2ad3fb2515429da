// Package dispatch matches replies to requests by sequence number and runs
// the peer's requests on a pluggable Executor. It knows nothing of the
// protocol's handlers or of sockets; conn builds on it.
package dispatch
