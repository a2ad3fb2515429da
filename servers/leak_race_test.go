//go:build race

package servers

// leakCycles is TestConnectCallCloseCycles's count under the race
// detector, which makes each cycle several times slower; builds without
// -race run 10,000.
const leakCycles = 2_000
