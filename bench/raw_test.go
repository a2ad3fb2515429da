package bench

import (
	"context"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/services/pypeer"
)

func TestRawRequestFrameIsARealRequest(t *testing.T) {
	for _, p := range []Payload{PayloadInt, PayloadBytes100, PayloadBytes64K} {
		t.Run(string(p), func(t *testing.T) {
			f := RawRequestFrame(p, 7)
			n := int(binary.BigEndian.Uint32(f))
			require.Len(t, f, codec.FrameHeaderSize+n+1)
			require.Zero(t, f[4], "uncompressed")
			require.Equal(t, codec.FrameTrailer, f[len(f)-1])
			var d codec.Decoder
			typ, seq, args, err := d.DecodeMessage(f[codec.FrameHeaderSize:len(f)-1], codec.FormatV5)
			require.NoError(t, err)
			require.Equal(t, codec.MsgRequest, typ)
			require.EqualValues(t, 7, seq)
			require.NotNil(t, args)
		})
	}
	require.Greater(t, len(RawRequestFrame(PayloadBytes64K, 1)), 64<<10)
}

// startRawEcho serves the raw echo server on engine in this process.
func startRawEcho(t *testing.T, engine string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out pypeer.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- ServeRawEcho(ctx, engine, "127.0.0.1:0", &out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("raw echo server did not stop")
		}
	})
	var port int
	require.Eventually(t, func() bool {
		p, err := strconv.Atoi(strings.TrimSpace(out.String()))
		port = p
		return err == nil
	}, 5*time.Second, 5*time.Millisecond)
	return "127.0.0.1:" + strconv.Itoa(port)
}

func TestRawEchoEngines(t *testing.T) {
	for _, engine := range []string{"gnet", "netpoll", "stdnet"} {
		t.Run(engine, func(t *testing.T) {
			addr := startRawEcho(t, engine)
			tests := []struct {
				name    string
				payload Payload
				conns   int
				window  int
			}{
				{"sync int", PayloadInt, 2, 1},
				{"pipelined bytes100", PayloadBytes100, 2, 8},
				{"sync 64k", PayloadBytes64K, 1, 1},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					var fracs []float64
					res, err := Run(context.Background(), Workload{
						Addr: addr, Raw: true, Conns: tt.conns, Payload: tt.payload, Window: tt.window,
						Warmup: 20 * time.Millisecond, Calls: 200, Duration: 10 * time.Second,
						Progress: func(f float64) { fracs = append(fracs, f) },
					})
					require.NoError(t, err)
					require.Zero(t, res.Errors, res.FirstError)
					require.EqualValues(t, 200, res.Calls)
					require.EqualValues(t, 200, res.Latency.Count)
					require.Positive(t, res.CallsPerSec)
					require.Positive(t, res.Latency.P50)
					require.LessOrEqual(t, res.Latency.P50, res.Latency.P99)
					require.NotEmpty(t, fracs)
					require.Equal(t, 1.0, fracs[len(fracs)-1])
				})
			}
		})
	}
}

func TestRawEchoByDuration(t *testing.T) {
	addr := startRawEcho(t, "gnet")
	start := time.Now()
	res, err := Run(context.Background(), Workload{Addr: addr, Raw: true, Conns: 4, Payload: PayloadInt,
		Duration: 300 * time.Millisecond, ServerPID: 0})
	require.NoError(t, err)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Zero(t, res.Errors, res.FirstError)
	require.Positive(t, res.Calls)
	require.InDelta(t, 0.3, res.Seconds, 0.2)
	require.InDelta(t, float64(res.Calls)/res.Seconds, res.CallsPerSec, 1)
}

func TestRunDialFailure(t *testing.T) {
	_, err := Run(context.Background(), Workload{Addr: "127.0.0.1:1", Raw: true, Conns: 2, Duration: time.Second})
	require.Error(t, err)
	require.Contains(t, err.Error(), "dialling 2 connections")
}
