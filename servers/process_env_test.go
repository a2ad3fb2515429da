package servers

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
)

// TestProtocolReachesWorkers: the protocol options of a process pool survive
// the trip to its workers.
func TestProtocolReachesWorkers(t *testing.T) {
	s, err := encodeProtocol([]conn.Option{
		conn.WithTimeout(7 * time.Second), conn.WithSetattr(true), conn.WithMaxInFlight(9),
		conn.WithLimits(codec.FrameLimits{MaxFrame: 1000, MaxDecompressed: 2000}),
	})
	require.NoError(t, err)
	o, err := decodeProtocol(s)
	require.NoError(t, err)
	cfg := conn.DefaultConfig()
	o(&cfg)
	require.Equal(t, 7*time.Second, cfg.SyncRequestTimeout)
	require.True(t, cfg.AllowSetattr)
	require.True(t, cfg.AllowDelattr)
	require.Equal(t, 9, cfg.MaxInFlight)
	require.Equal(t, codec.FrameLimits{MaxFrame: 1000, MaxDecompressed: 2000}, cfg.Limits)
	require.Equal(t, conn.DefaultMaxObjects, cfg.MaxObjects)
	_, err = decodeProtocol("{not json")
	require.Error(t, err)
}

// TestProcessPoolOptions: WithMaxConns is enforced by the master across its
// workers, and the protocol options reach the workers (a MaxInFlight of 1
// refuses a second concurrent request).
func TestProcessPoolOptions(t *testing.T) {
	srv := start(t, NewProcessPool(svc(), WithWorkers(1), WithMaxConns(1), WithLogger(testLogger(t)),
		WithProtocol(conn.WithMaxInFlight(1))))
	a := dial(t, srv)
	require.Equal(t, int64(5), call(t, a, "echo", int64(5)))

	slow, err := callAsync(a, "sleep", 0.5)
	require.NoError(t, err)
	// (sleep, not echo: echo never blocks, so it is served inline and is
	// never in flight.)
	_, err = a.Call(context.Background(), "sleep", 0.0)
	var pe *codec.PyError
	require.ErrorAs(t, err, &pe, "MaxInFlight reached the worker")
	require.Equal(t, "RuntimeError", pe.Class)
	_, err = slow.Result(context.Background())
	require.NoError(t, err)

	// A second connection is refused while the first is open.
	b, err := conn.Dial(context.Background(), "tcp", portOf(t, srv))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = b.Call(ctx, "echo", int64(1))
		b.Close()
	}
	require.Error(t, err)
	require.Equal(t, int64(6), call(t, a, "echo", int64(6)))
}
