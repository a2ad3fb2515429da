package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSoakShort runs the soak's whole mixed load for a few seconds against
// the thread-pool server on gnet (this test binary serves it) and checks
// that nothing failed, every kind made calls and the samples were taken.
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: -short")
	}
	var live bytes.Buffer
	rep, err := RunSoak(context.Background(), SoakConfig{
		Target: testTarget("rpycgo"), Duration: 5 * time.Second, Warmup: 1500 * time.Millisecond, Interval: time.Second,
		Conns: 12, ChurnWorkers: 2, Window: 8, Compress: true, MaxRSSGrowth: 0, Live: &live,
	})
	require.NoError(t, err)
	var table bytes.Buffer
	rep.WriteTable(&table)
	t.Log("\n" + live.String() + table.String())
	require.Zero(t, rep.Errors, "%v", rep.ErrorList)
	require.True(t, rep.OK(), "%v", rep.Failures)
	require.GreaterOrEqual(t, len(rep.Samples), 4)
	for _, k := range SoakKinds {
		require.Positive(t, rep.Calls[k], k)
	}
	last := rep.Samples[len(rep.Samples)-1]
	require.InDelta(t, 5, last.Elapsed, 1)
	require.Positive(t, last.ServerRSS)
	require.Positive(t, last.ServerThreads)
	require.Positive(t, last.ServerFDs)
	require.Positive(t, last.ClientHeap)
	// Two objects connections, each holding its root and the Counter class.
	require.EqualValues(t, 4, last.ServerObjects)
	require.Equal(t, 1, rep.Warm)
	require.Equal(t, strings.Count(live.String(), "\n"), len(rep.Samples))
	require.Contains(t, table.String(), "soak: PASS")

	dir := t.TempDir()
	paths, err := rep.WriteFiles(dir)
	require.NoError(t, err)
	require.Len(t, paths, 3)
	for _, f := range []string{"soak.json", "soak_memory.svg", "soak_goroutines.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		require.NotEmpty(t, b)
	}
}

// TestSoakReportFailures: errors and drift make a report fail, and the
// table says why.
func TestSoakReportFailures(t *testing.T) {
	rep := &SoakReport{Config: SoakConfig{Duration: time.Minute, Interval: 10 * time.Second},
		Samples: []SoakSample{{Elapsed: 10, ServerRSS: 10 << 20}, {Elapsed: 20, ServerRSS: 30 << 20}},
		Errors:  1, ErrorList: []SoakError{{Elapsed: 12, Kind: SoakObjects, Message: "live_objects() is 7"}},
		Failures: []string{"1 errors"}}
	require.False(t, rep.OK())
	var b bytes.Buffer
	rep.WriteTable(&b)
	require.Contains(t, b.String(), "objects: live_objects() is 7")
	require.Contains(t, b.String(), "soak: FAIL: 1 errors")
}

func TestRunSoakRejects(t *testing.T) {
	_, err := RunSoak(context.Background(), SoakConfig{Target: testTarget("raw:gnet"), Duration: time.Second})
	require.ErrorContains(t, err, "not an rpycgo server")
	_, err = RunSoak(context.Background(), SoakConfig{Target: testTarget("rpycgo")})
	require.ErrorContains(t, err, "duration")
}
