//go:build race

package servers

// leakCycles is TestConnectCallCloseCycles's count under the race
// detector, which makes each cycle several times slower; builds without
// -race run 10,000.
const leakCycles = 2_000

// netpollChurnTested is false under the race detector: netpoll v0.7.2's
// race build (poll_default_linux_race.go) finds a connection's poller state
// by descriptor number rather than by the pointer the epoll event carries.
// An event fetched for a connection that the server has just closed can
// then land on a new connection that took the same descriptor in the same
// batch of events, and netpoll hangs the new one up before it has read a
// byte: about one connection in 15,000 of TestLeakMatrix's netpoll cells.
// Builds without -race carry the pointer and are not affected (no failure
// in 80 runs, 330,000 netpoll connections); `make test` runs those cells
// without -race.
const netpollChurnTested = false
