package classic_test

import (
	"crypto/tls"
	"testing"

	"github.com/rpycgo/rpycgo/services/pypeer"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/services/classic"
)

func TestConnectTLS(t *testing.T) {
	pypeer.Require(t)
	dir := t.TempDir()
	certFile, keyFile, pool := pypeer.SelfSigned(t, dir)
	port := pypeer.StartClassic(t, "--ssl-certfile", certFile, "--ssl-keyfile", keyFile)
	ctx := testCtx(t)
	cl, err := classic.ConnectTLS(ctx, "127.0.0.1", port, &tls.Config{RootCAs: pool})
	require.NoError(t, err)
	defer cl.Close()
	v, err := cl.Eval(ctx, "'tls ' + str(6*7)")
	require.NoError(t, err)
	require.Equal(t, "tls 42", v)

	// An untrusted certificate is refused.
	_, err = classic.ConnectTLS(ctx, "127.0.0.1", port, nil)
	require.Error(t, err)
}
