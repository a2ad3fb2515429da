package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/bench"
)

// TestMain lets the test binary serve the raw echo target, as rpyc-bench
// does for itself (the harness runs os.Executable() raw-echo ...).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "raw-echo" {
		if err := rawEcho(os.Args[2:]); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var testBins = bench.Binaries{RPyCServer: "/bin/rpyc-server", RawEcho: []string{"/bin/rpyc-bench", "raw-echo"},
	Python: bench.PythonInterpreter, PyScript: "/tmp/py.py"}

func TestProfilesAndOverrides(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(t *testing.T, p bench.Plan)
		wantErr string
	}{
		{name: "quick defaults", args: nil, check: func(t *testing.T, p bench.Plan) {
			require.Equal(t, "quick", p.Profile)
			require.Equal(t, []int{1, 16, 64, 256}, p.Conns)
			require.Len(t, p.Targets, 4)
			require.Equal(t, 1000, p.Idle)
			require.Equal(t, 2*time.Second, p.Duration)
		}},
		{name: "full", args: []string{"--profile", "full"}, check: func(t *testing.T, p bench.Plan) {
			require.Len(t, p.Targets, 11)
			require.Len(t, p.Payloads, 5)
			require.Equal(t, 19000, p.Idle)
		}},
		{name: "short flags", args: []string{"-t", "raw:gnet,python", "-c", "1,2", "-l", "int,counter", "-d", "1s", "-w", "0s", "-n", "500", "-W", "4", "-i", "0", "--churn", "0s"},
			check: func(t *testing.T, p bench.Plan) {
				require.Equal(t, []string{"raw:gnet", "python:threaded"}, []string{p.Targets[0].Name, p.Targets[1].Name})
				require.Equal(t, []int{1, 2}, p.Conns)
				require.Equal(t, []bench.Payload{bench.PayloadInt, bench.PayloadCounter}, p.Payloads)
				require.Equal(t, time.Second, p.Duration)
				require.Zero(t, p.Warmup)
				require.EqualValues(t, 500, p.Calls)
				require.Equal(t, 4, p.Window)
				require.Zero(t, p.Idle)
				require.Zero(t, p.ChurnDuration)
			}},
		{name: "duplicate targets once", args: []string{"-t", "rpycgo,rpycgo:reactor:gnet"}, check: func(t *testing.T, p bench.Plan) {
			require.Len(t, p.Targets, 1)
		}},
		{name: "bad profile", args: []string{"--profile", "huge"}, wantErr: "quick or full"},
		{name: "too many conns", args: []string{"-c", "20000"}, wantErr: "1 to 19000"},
		{name: "too many idle", args: []string{"--idle", "19001"}, wantErr: "at most 19000"},
		{name: "bad window", args: []string{"-W", "0"}, wantErr: "1 to 1024"},
		{name: "bad target", args: []string{"-t", "nginx"}, wantErr: "unknown target"},
		{name: "bad payload", args: []string{"-l", "json"}, wantErr: "unknown payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, &bytes.Buffer{})
			require.NoError(t, err)
			p, err := o.plan(testBins)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, p)
		})
	}
	_, err := parseFlags([]string{"extra"}, &bytes.Buffer{})
	require.Error(t, err)
}

// TestRunRaw runs the command on the raw echo ceiling alone (this test
// binary serves it) and checks the table and files.
func TestRunRaw(t *testing.T) {
	out := filepath.Join(t.TempDir(), "results")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-t", "raw:gnet,raw:stdnet", "-c", "1,4", "-l", "int", "-d", "200ms", "-w", "50ms",
		"-i", "20", "--idle-duration", "100ms", "--churn", "200ms", "-o", out, "--rpyc-server", "/nonexistent"}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	require.Contains(t, stdout.String(), "payload int")
	require.Contains(t, stdout.String(), "raw:stdnet")
	require.Contains(t, stderr.String(), "100%")
	for _, f := range []string{"results.json", "results.md", "throughput_int.svg", "latency_int.svg", "memory_idle.svg"} {
		_, err := os.Stat(filepath.Join(out, f))
		require.NoError(t, err, f)
	}
}

func TestHelp(t *testing.T) {
	var stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"--help"}, &bytes.Buffer{}, &stderr))
	require.Contains(t, stderr.String(), "--profile")
}
