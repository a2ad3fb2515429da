package conn_test

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
	"github.com/rpycgo/rpycgo/services"
)

// Proxies closed explicitly leave nothing behind in the connection's proxy
// cache: a client that makes and closes remote objects in a loop stays the
// same size (it grew by one entry per object).
func TestClosedProxiesLeaveTheCache(t *testing.T) {
	a, b := net.Pipe()
	srv, err := conn.NewNetConn(a, services.Conformance())
	require.NoError(t, err)
	defer srv.Close()
	cli, err := conn.NewNetConn(b, nil)
	require.NoError(t, err)
	defer cli.Close()
	ctx := context.Background()
	root, err := cli.Root(ctx)
	require.NoError(t, err)
	for range 200 {
		v, err := root.CallMethod(ctx, "Counter")
		require.NoError(t, err)
		p := v.(*netref.Proxy)
		_, err = p.CallMethod(ctx, "incr")
		require.NoError(t, err)
		require.NoError(t, p.Close())
	}
	require.LessOrEqual(t, cli.CachedProxies(), 1, "the root's entry at most")
}
