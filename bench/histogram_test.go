package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistogramPercentiles(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	s := h.Summary()
	tests := []struct {
		name      string
		got, want int64
	}{
		{"p50", s.P50, 5000},
		{"p90", s.P90, 9000},
		{"p99", s.P99, 9900},
		{"p99.9", s.P999, 9990},
		{"min", s.Min, 1},
		{"max", s.Max, 10000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Three significant digits: within 0.1% (plus one unit).
			require.InDelta(t, tt.want, tt.got, float64(tt.want)/1000+1)
		})
	}
	require.EqualValues(t, 10000, s.Count)
	require.InDelta(t, 5000.5, s.Mean, 5)
}

func TestHistogramMergeAndClamp(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	for range 99 {
		a.Record(100 * time.Microsecond)
	}
	b.Record(time.Hour)       // clamped to the maximum
	b.Record(time.Nanosecond) // clamped to 1 µs
	a.Merge(b)
	a.Merge(nil)
	s := a.Summary()
	require.EqualValues(t, 101, s.Count)
	require.EqualValues(t, 1, s.Min)
	require.InDelta(t, 100, s.P50, 1)
	require.InDelta(t, histMaxMicros, s.Max, histMaxMicros/1000)

	a.Reset()
	require.Equal(t, Latency{}, a.Summary())
	require.Zero(t, a.Count())
}
