package main

import (
	"net"
	"strconv"
	"testing"

	"github.com/rpycgo/rpycgo/services/pypeer"

	"github.com/stretchr/testify/require"
)

func TestCLIClassicTLS(t *testing.T) {
	pypeer.Require(t)
	certFile, keyFile, _ := pypeer.SelfSigned(t, t.TempDir())
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(pypeer.StartClassic(t, "--ssl-certfile", certFile, "--ssl-keyfile", keyFile)))

	r := rpyc(t, "classic", "--ca", certFile, addr, "-e", "'tls ' + str(6*7)")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "'tls 42'\n", r.stdout)

	r = rpyc(t, "classic", "--insecure", addr, "-e", "1+1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "2\n", r.stdout)

	// Not trusted: the handshake fails, which is a connection failure.
	r = rpyc(t, "ping", "--tls", addr)
	require.Equal(t, exitConnect, r.code, r.stderr)
	require.Contains(t, r.stderr, "certificate")
}
