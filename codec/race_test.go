//go:build race

package codec

// raceEnabled: the race detector is on (allocations differ; see
// TestDecoderKeepAllocatedBytes).
const raceEnabled = true
