//go:build !race

package servers

// leakCycles is TestConnectCallCloseCycles's count (2,000 under -race).
const leakCycles = 10_000

// netpollChurnTested: see leak_race_test.go.
const netpollChurnTested = true
