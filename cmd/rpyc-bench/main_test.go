package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/bench"
	"github.com/rpycgo/rpycgo/servers"
	"github.com/rpycgo/rpycgo/services"
)

// serveRPyCEnv, when set, makes the test binary stand in for rpyc-server
// (the thread-pool server on gnet with the CONFORMANCE service).
const serveRPyCEnv = "RPYC_BENCH_TEST_RPYC_SERVER"

// TestMain lets the test binary serve the raw echo target, as rpyc-bench
// does for itself (the harness runs os.Executable() raw-echo ...), and
// stand in for rpyc-server.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "raw-echo" {
		if err := rawEcho(os.Args[2:]); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(serveRPyCEnv) != "" {
		if err := serveRPyC(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveRPyC serves on any free loopback port, prints it and serves until
// SIGTERM, as rpyc-server -p 0 does.
func serveRPyC() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := servers.NewThreadPool(services.Conformance(), servers.WithHost("127.0.0.1"), servers.WithPort(0))
	if err := srv.Start(); err != nil {
		return err
	}
	fmt.Println(srv.Addr().(*net.TCPAddr).Port)
	return srv.Serve(ctx)
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
			require.Len(t, p.Targets, 5)
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

func TestSoakFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(t *testing.T, c bench.SoakConfig)
		wantErr string
	}{
		{name: "defaults", args: []string{"--soak", "10m"}, check: func(t *testing.T, c bench.SoakConfig) {
			require.Equal(t, 10*time.Minute, c.Duration)
			require.Equal(t, "rpycgo:reactor:gnet", c.Target.Name)
			require.Equal(t, bench.DefaultSoakInterval, c.Interval)
			require.Equal(t, 64, c.Conns)
			require.Equal(t, 4, c.ChurnWorkers)
			require.Equal(t, 16, c.Window)
			require.Negative(t, c.Warmup, "the default warm-up")
			require.InDelta(t, 0.5, c.MaxRSSGrowth, 1e-9)
			require.True(t, c.Compress)
			require.Nil(t, c.Kinds, "all")
		}},
		{name: "short and overrides", args: []string{"-s", "2m", "-t", "rpycgo:threadpool:netpoll", "-c", "8", "--churn-workers", "0",
			"-W", "4", "-w", "30s", "--soak-interval", "5s", "--soak-max-rss-growth", "0", "--compress=false", "--soak-kinds", "echo,Churn"},
			check: func(t *testing.T, c bench.SoakConfig) {
				require.Equal(t, 2*time.Minute, c.Duration)
				require.Equal(t, "rpycgo:threadpool:netpoll", c.Target.Name)
				require.Equal(t, 8, c.Conns)
				require.Zero(t, c.ChurnWorkers)
				require.Equal(t, 4, c.Window)
				require.Equal(t, 30*time.Second, c.Warmup)
				require.Equal(t, 5*time.Second, c.Interval)
				require.Zero(t, c.MaxRSSGrowth)
				require.False(t, c.Compress)
				require.Equal(t, []bench.SoakKind{bench.SoakEcho, bench.SoakChurn}, c.Kinds)
			}},
		{name: "bad kind", args: []string{"--soak", "1m", "--soak-kinds", "echo,nap"}, wantErr: "unknown soak kind"},
		{name: "python", args: []string{"--soak", "1m", "-t", "python"}, wantErr: "runs against rpyc-server"},
		{name: "two targets", args: []string{"--soak", "1m", "-t", "rpycgo,rpycgo:threaded"}, wantErr: "one target"},
		{name: "two conns", args: []string{"--soak", "1m", "-c", "1,2"}, wantErr: "one count"},
		{name: "too long", args: []string{"--soak", "25h"}, wantErr: "at most 24h"},
		{name: "negative", args: []string{"--soak", "-1s"}, wantErr: "more than 0"},
		{name: "interval", args: []string{"--soak", "1m", "--soak-interval", "2m"}, wantErr: "--soak-interval"},
		{name: "warmup", args: []string{"--soak", "1m", "-w", "1m"}, wantErr: "--warmup"},
		{name: "window", args: []string{"--soak", "1m", "-W", "0"}, wantErr: "--window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, &bytes.Buffer{})
			require.NoError(t, err)
			c, err := o.soakConfig(testBins)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
	// A bad soak flag fails before anything is built.
	err := run(context.Background(), []string{"--soak", "1m", "-t", "raw:gnet"}, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "runs against rpyc-server")
}

// TestRunSoak runs a short soak through the command, this test binary
// standing in for rpyc-server.
func TestRunSoak(t *testing.T) {
	t.Setenv(serveRPyCEnv, "1")
	out := filepath.Join(t.TempDir(), "results")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-s", "2s", "--soak-interval", "500ms", "-w", "500ms", "-c", "6",
		"--churn-workers", "1", "--soak-max-rss-growth", "0", "-o", out, "--rpyc-server", os.Args[0]}, &stdout, &stderr)
	require.NoError(t, err, "%s\n%s", stdout.String(), stderr.String())
	require.Contains(t, stdout.String(), "soak: PASS")
	require.Contains(t, stdout.String(), "errors: 0")
	require.Contains(t, stderr.String(), "100%")
	b, err := os.ReadFile(filepath.Join(out, "soak.json"))
	require.NoError(t, err)
	var rep bench.SoakReport
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Zero(t, rep.Errors)
	require.GreaterOrEqual(t, len(rep.Samples), 3)
	for _, f := range []string{"soak_memory.svg", "soak_goroutines.svg"} {
		_, err := os.Stat(filepath.Join(out, f))
		require.NoError(t, err, f)
	}
}
