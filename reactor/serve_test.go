//go:build linux

package reactor_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/rpycgo/rpycgo/reactor"
)

// testTLS returns a server and a client configuration around a
// certificate made for 127.0.0.1.
func testTLS(t *testing.T) (srv, cli *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "reactor test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	srv = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	cli = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	return srv, cli
}

// oneEcho sends one frame over nc and checks the echo.
func oneEcho(t *testing.T, nc net.Conn, body string) {
	t.Helper()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	frame := appendFrame(nil, []byte(body))
	_, err := nc.Write(frame)
	require.NoError(t, err)
	got := make([]byte, len(frame))
	_, err = io.ReadFull(nc, got)
	require.NoError(t, err)
	require.Equal(t, frame, got)
}

// TestServeTLS serves crypto/tls on stdnet. gnet and netpoll refuse TLS
// listeners and connections with ErrUnsupported and leave the connection
// open, so a server can hand it to stdnet instead.
func TestServeTLS(t *testing.T) {
	srvCfg, cliCfg := testTLS(t)
	std := newEngine(t, reactor.EngineStdnet, reactor.Config{})
	for _, name := range engineNames {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, name, reactor.Config{})
			rec := newRecorder()
			inner, err := net.Listen("tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			tlsLn := tls.NewListener(inner, srvCfg)
			defer tlsLn.Close()

			ln, err := e.Serve(tlsLn, rec)
			if name != reactor.EngineStdnet {
				require.ErrorIs(t, err, reactor.ErrUnsupported)
				require.ErrorIs(t, err, errors.ErrUnsupported)
				// Fallback: accept here, try the engine, give what it
				// refuses to stdnet.
				go func() {
					nc, err := tlsLn.Accept()
					if err != nil {
						return
					}
					if _, err := e.ServeConn(nc, rec); errors.Is(err, reactor.ErrUnsupported) {
						_, err = std.ServeConn(nc, rec)
						assertNoError(t, err)
					}
				}()
			} else {
				require.NoError(t, err)
				defer ln.Close()
			}
			nc, err := tls.Dial("tcp4", inner.Addr().String(), cliCfg)
			require.NoError(t, err)
			defer nc.Close()
			oneEcho(t, nc, "over TLS")
			oneEcho(t, nc, "and again")
			require.NoError(t, nc.Close())
			rec.requireClosedOnce(t)
			rec.mu.Lock()
			require.Equal(t, reactor.EngineStdnet, rec.conns[0].Engine())
			rec.mu.Unlock()
		})
	}
}

// TestServeListener serves listening sockets the engines did not open.
func TestServeListener(t *testing.T) {
	for _, name := range engineNames {
		for _, network := range []string{"tcp4", "unix"} {
			t.Run(name+"/"+network, func(t *testing.T) {
				e := newEngine(t, name, reactor.Config{})
				rec := newRecorder()
				addr := "127.0.0.1:0"
				if network == "unix" {
					addr = filepath.Join(t.TempDir(), "s.sock")
				}
				plain, err := net.Listen(network, addr)
				require.NoError(t, err)
				ln, err := e.Serve(plain, rec)
				require.NoError(t, err)
				require.Equal(t, plain.Addr().String(), ln.Addr().String())
				for range 3 {
					nc, err := net.Dial(network, ln.Addr().String())
					require.NoError(t, err)
					oneEcho(t, nc, "served")
					require.NoError(t, nc.Close())
				}
				require.NoError(t, e.Close())
				rec.requireClosedOnce(t)
				if network == "unix" {
					_, err := os.Stat(addr)
					require.True(t, os.IsNotExist(err), "the socket file is removed: %v", err)
				}
			})
		}
	}
}

// TestServeConnPassedDescriptor receives an accepted connection's
// descriptor over a unix socket (SCM_RIGHTS), as a worker process of a
// process pool would, and serves it on each engine.
func TestServeConnPassedDescriptor(t *testing.T) {
	for _, name := range engineNames {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, name, reactor.Config{})
			rec := newRecorder()
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			client, err := net.Dial("tcp4", ln.Addr().String())
			require.NoError(t, err)
			defer client.Close()
			accepted, err := ln.Accept()
			require.NoError(t, err)

			// "Master" sends the descriptor; "worker" receives it.
			pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			require.NoError(t, err)
			defer unix.Close(pair[0])
			defer unix.Close(pair[1])
			f, err := accepted.(*net.TCPConn).File()
			require.NoError(t, err)
			require.NoError(t, unix.Sendmsg(pair[0], []byte{0}, unix.UnixRights(int(f.Fd())), nil, 0))
			require.NoError(t, f.Close())
			require.NoError(t, accepted.Close()) // the master's copies

			buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
			_, oobn, _, _, err := unix.Recvmsg(pair[1], buf, oob, 0)
			require.NoError(t, err)
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			require.NoError(t, err)
			fds, err := unix.ParseUnixRights(&msgs[0])
			require.NoError(t, err)
			received := os.NewFile(uintptr(fds[0]), "passed")
			nc, err := net.FileConn(received)
			require.NoError(t, err)
			require.NoError(t, received.Close())

			c, err := e.ServeConn(nc, rec)
			require.NoError(t, err)
			require.Equal(t, name, c.Engine())
			oneEcho(t, client, "passed along")
			require.NoError(t, client.Close())
			rec.requireClosedOnce(t)
		})
	}
}

// TestListenErrors covers what the engines refuse.
func TestListenErrors(t *testing.T) {
	_, err := reactor.New("epoll", reactor.Config{})
	require.ErrorIs(t, err, reactor.ErrUnknownEngine)
	_, err = reactor.New("", reactor.Config{TCPNoDelay: true, Nagle: true})
	require.Error(t, err)
	def, err := reactor.New("", reactor.Config{})
	require.NoError(t, err)
	require.Equal(t, reactor.EngineGnet, def.Name())
	require.NoError(t, def.Close())
	require.Equal(t, []string{"gnet", "netpoll", "stdnet"}, reactor.Engines())
	cfg := reactor.DefaultConfig()
	require.True(t, cfg.TCPNoDelay)
	require.Equal(t, reactor.DefaultMaxQueued, cfg.MaxQueued)

	for _, name := range engineNames {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, name, reactor.Config{})
			require.Equal(t, name, e.Name())
			_, err := e.Listen("udp", "127.0.0.1:0", newRecorder())
			require.ErrorIs(t, err, reactor.ErrUnsupported)
			_, err = e.Dial(context.Background(), "udp", "127.0.0.1:1", newRecorder())
			require.ErrorIs(t, err, reactor.ErrUnsupported)

			path := filepath.Join(t.TempDir(), "taken")
			require.NoError(t, os.WriteFile(path, []byte("keep me"), 0o600))
			_, err = e.Listen("unix", path, newRecorder())
			require.Error(t, err, "a path in use is refused")
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, "keep me", string(b))

			ln, err := e.Listen("tcp4", "127.0.0.1:0", newRecorder())
			require.NoError(t, err)
			_, err = e.Listen("tcp4", ln.Addr().String(), newRecorder())
			require.Error(t, err, "an address in use is refused")

			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err = e.Dial(ctx, "tcp4", ln.Addr().String(), newRecorder())
			require.ErrorIs(t, err, context.Canceled)
		})
	}
}

// TestBacklogAndOptions listens with every socket option set.
func TestBacklogAndOptions(t *testing.T) {
	for _, name := range engineNames {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, name, reactor.Config{Backlog: 16, ReuseAddr: true, Nagle: true, KeepAlive: 30 * time.Second, Loops: 1})
			rec := newRecorder()
			ln, err := e.Listen("tcp4", "127.0.0.1:0", rec)
			require.NoError(t, err)
			nc, err := net.Dial("tcp4", ln.Addr().String())
			require.NoError(t, err)
			defer nc.Close()
			oneEcho(t, nc, "options")
		})
	}
}
