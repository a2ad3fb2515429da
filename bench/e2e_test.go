package bench

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/services/pypeer"
)

func TestParseTarget(t *testing.T) {
	b := Binaries{RPyCServer: "/x/rpyc-server", RawEcho: []string{"/x/rpyc-bench", "raw-echo"}, Python: "/usr/bin/python3", PyScript: "/x/py.py"}
	tests := []struct {
		in, name string
		kind     Kind
		argv     []string
		bad      bool
	}{
		{in: "rpycgo", name: "rpycgo:reactor:gnet", kind: KindRPyCGo,
			argv: []string{"/x/rpyc-server", "--host", "127.0.0.1", "-m", "reactor", "--engine", "gnet", "-q"}},
		{in: "rpycgo:threadpool:netpoll", name: "rpycgo:threadpool:netpoll", kind: KindRPyCGo,
			argv: []string{"/x/rpyc-server", "--host", "127.0.0.1", "-m", "threadpool", "--engine", "netpoll", "-q"}},
		{in: "Python:Forking", name: "python:forking", kind: KindPython, argv: []string{"/usr/bin/python3", "/x/py.py", "forking"}},
		{in: "python", name: "python:threaded", kind: KindPython, argv: []string{"/usr/bin/python3", "/x/py.py", "threaded"}},
		{in: "raw:stdnet", name: "raw:stdnet", kind: KindRaw, argv: []string{"/x/rpyc-bench", "raw-echo", "--engine", "stdnet"}},
		{in: "rpycgo:oneshot", bad: true},
		{in: "rpycgo:reactor:epoll", bad: true},
		{in: "python:asyncio", bad: true},
		{in: "raw:gnet:x", bad: true},
		{in: "nginx", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTarget(tt.in, b)
			if tt.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.name, got.Name)
			require.Equal(t, tt.kind, got.Kind)
			require.Equal(t, tt.argv, got.Argv)
		})
	}
}

func TestStartStop(t *testing.T) {
	p, err := Start(context.Background(), testTarget("raw:stdnet"))
	require.NoError(t, err)
	require.True(t, p.Alive())
	st, err := ReadProc(p.PID)
	require.NoError(t, err)
	require.Positive(t, st.RSSBytes)
	p.Stop()
	require.False(t, p.Alive())
	p.Stop() // idempotent

	// A target that exits at once is reported with its stderr.
	bad := Target{Name: "bad", Kind: KindRPyCGo, Argv: []string{"/bin/sh", "-c", "echo nope >&2; exit 3", "sh"}}
	_, err = Start(context.Background(), bad)
	require.ErrorContains(t, err, "nope")
}

// TestEndToEnd runs a tiny plan against Python's ThreadedServer, an rpycgo
// server and a raw echo server (all subprocesses), a few hundred calls per
// cell, with the idle and churn scenarios.
func TestEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	require.NoError(t, CheckPython(ctx), "the Python peer is missing: run `make deps`")
	bins := testBinaries(t)
	py, err := ParseTarget("python:threaded", bins)
	require.NoError(t, err)
	plan := Plan{
		Profile:  "test",
		Targets:  []Target{testTarget("rpycgo"), py, testTarget("raw:gnet")},
		Conns:    []int{1, 3},
		Payloads: []Payload{PayloadInt, PayloadBytes100, PayloadCallback, PayloadCounter},
		Warmup:   50 * time.Millisecond, Duration: 10 * time.Second, Calls: 150, Compress: true,
		Idle: 30, IdleDuration: 200 * time.Millisecond,
		ChurnDuration: 300 * time.Millisecond, ChurnWorkers: 2,
	}
	var out pypeer.SyncBuffer
	rep, err := Execute(ctx, plan, NewProgress(&out))
	require.NoError(t, err)
	require.Empty(t, rep.Warnings)
	// rpycgo and Python run 4 payloads x 2 conns; raw runs the int and bytes.
	require.Len(t, rep.Cells, 8+8+4)
	for _, c := range rep.Cells {
		require.Empty(t, c.Error, "%s %s x%d", c.Target, c.Payload, c.Conns)
		require.Zero(t, c.Result.Errors, "%s %s x%d: %s", c.Target, c.Payload, c.Conns, c.Result.FirstError)
		require.EqualValues(t, 150, c.Result.Calls, "%s %s x%d", c.Target, c.Payload, c.Conns)
		require.Positive(t, c.Result.ServerRSS)
		require.Positive(t, c.Result.ServerThreads)
	}
	require.Positive(t, rep.Ceiling(PayloadInt, 3))
	require.Positive(t, rep.Python(PayloadCounter, 1))
	require.Len(t, rep.Idle, 3)
	for _, i := range rep.Idle {
		require.Empty(t, i.Error, i.Target)
		require.Equal(t, 30, i.Opened, i.Target)
		require.Positive(t, i.Latency.Calls, i.Target)
	}
	// Python's ThreadedServer holds a thread per connection.
	require.GreaterOrEqual(t, rep.Idle[1].HeldThreads, 30)
	require.Len(t, rep.Churn, 3)
	for _, c := range rep.Churn {
		require.Empty(t, c.Error, c.Target)
		require.Positive(t, c.Cycles, c.Target)
		require.Zero(t, c.Errors, "%s: %s", c.Target, c.FirstError)
	}
	// Every target was stopped.
	live.Range(func(k, _ any) bool {
		t.Errorf("target %s still running", k.(*Process).Target.Name)
		return true
	})
	require.Contains(t, out.String(), "100%")

	paths, err := rep.WriteFiles(t.TempDir())
	require.NoError(t, err)
	require.Len(t, paths, 2+2*4+1)
}

// TestExecuteCancelStopsTargets cancels a long plan (as SIGINT does) and
// checks that Execute returns promptly with every target stopped.
func TestExecuteCancelStopsTargets(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	plan := Plan{
		Targets:  []Target{testTarget("raw:gnet"), testTarget("raw:stdnet")},
		Conns:    []int{2},
		Payloads: []Payload{PayloadInt},
		Duration: time.Minute, ChurnDuration: time.Minute, ChurnWorkers: 1,
	}
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	rep, err := Execute(ctx, plan, nil)
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 15*time.Second)
	require.NotNil(t, rep)
	require.Len(t, rep.Cells, 1)
	live.Range(func(k, _ any) bool {
		t.Errorf("target %s still running", k.(*Process).Target.Name)
		return true
	})
}
