package servers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestUnixSocketPython serves a unix socket on every engine
// (rpyc.unix_connect).
func TestUnixSocketPython(t *testing.T) {
	requirePython(t)
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		t.Run(e, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rpyc.sock")
			srv := start(t, NewThreadPool(svc(), WithEngine(e), WithSocketPath(path), WithLogger(testLogger(t))))
			require.Equal(t, "unix", srv.Addr().Network())
			runPython(t, time.Minute, serversScript, "unix", path)
			c := dial(t, srv)
			require.Equal(t, int64(7), call(t, c, "echo", int64(7)))
		})
	}
}

// requireIPv6Loopback fails when ::1 cannot be bound here.
func requireIPv6Loopback(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatalf("IPv6 loopback ::1 is unavailable on this machine (%v): the IPv6 tests need it (enable IPv6 on lo)", err)
	}
	ln.Close()
}

// TestIPv6Python serves ::1 on every engine.
func TestIPv6Python(t *testing.T) {
	requirePython(t)
	requireIPv6Loopback(t)
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		t.Run(e, func(t *testing.T) {
			srv := start(t, NewThreaded(svc(), WithEngine(e), WithIPv6(true), WithLogger(testLogger(t))))
			a := srv.Addr().(*net.TCPAddr)
			require.True(t, a.IP.Equal(net.IPv6loopback), "bound %v", a)
			runPython(t, time.Minute, serversScript, "tcp", "::1", portOf(t, srv))
		})
	}
}

// certs are PEM files a test made: a CA, a server certificate for
// 127.0.0.1 and localhost, a client certificate, all signed by the CA, and
// a client certificate signed by another CA.
type certs struct {
	caFile, serverCert, serverKey, clientCert, clientKey, rogueCert, rogueKey string
}

func makeCerts(t *testing.T) certs {
	t.Helper()
	dir := t.TempDir()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return write(name, "PRIVATE KEY", der)
	}
	serial := int64(1)
	mkCA := func(cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		k := newKey()
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		require.NoError(t, err)
		c, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		return c, k, der
	}
	leaf := func(ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		require.NoError(t, err)
		return der, k
	}
	ca, caKey, caDER := mkCA("rpycgo test CA")
	rogueCA, rogueCAKey, _ := mkCA("rogue CA")
	var cs certs
	cs.caFile = write("ca.pem", "CERTIFICATE", caDER)
	der, k := leaf(ca, caKey, "server", x509.ExtKeyUsageServerAuth)
	cs.serverCert, cs.serverKey = write("server.pem", "CERTIFICATE", der), writeKey("server.key", k)
	der, k = leaf(ca, caKey, "client", x509.ExtKeyUsageClientAuth)
	cs.clientCert, cs.clientKey = write("client.pem", "CERTIFICATE", der), writeKey("client.key", k)
	der, k = leaf(rogueCA, rogueCAKey, "rogue", x509.ExtKeyUsageClientAuth)
	cs.rogueCert, cs.rogueKey = write("rogue.pem", "CERTIFICATE", der), writeKey("rogue.key", k)
	return cs
}

// TestTLSPython serves TLS with client-certificate verification on every
// engine (through stdnet) and checks who is refused: a client without a
// certificate, one with a certificate of another CA, a plain-text client;
// the server goes on serving after each.
func TestTLSPython(t *testing.T) {
	requirePython(t)
	cs := makeCerts(t)
	for _, e := range []string{"gnet", "netpoll", "stdnet"} {
		t.Run(e, func(t *testing.T) {
			srv := start(t, NewThreadPool(svc(), WithEngine(e), WithTLS(cs.serverCert, cs.serverKey, cs.caFile), WithLogger(testLogger(t))))
			port := portOf(t, srv)
			runPython(t, time.Minute, serversScript, "tls", "127.0.0.1", port, cs.clientKey, cs.clientCert, cs.caFile)
			runPython(t, time.Minute, serversScript, "tls-refused", "127.0.0.1", port, cs.caFile)
			runPython(t, time.Minute, serversScript, "tls-refused", "127.0.0.1", port, cs.caFile, cs.rogueKey, cs.rogueCert)
			runPython(t, time.Minute, serversScript, "plain-refused", "127.0.0.1", port)
			runPython(t, time.Minute, serversScript, "tls", "127.0.0.1", port, cs.clientKey, cs.clientCert, cs.caFile)
		})
	}
	t.Run("process", func(t *testing.T) {
		srv := start(t, NewProcessPool(svc(), WithWorkers(1), WithTLS(cs.serverCert, cs.serverKey, cs.caFile), WithLogger(testLogger(t))))
		port := portOf(t, srv)
		runPython(t, time.Minute, serversScript, "plain-refused", "127.0.0.1", port)
		runPython(t, time.Minute, serversScript, "tls", "127.0.0.1", port, cs.clientKey, cs.clientCert, cs.caFile)
	})
}

// TestTLSWithoutCA serves TLS without client verification: a client with
// no certificate is served.
func TestTLSWithoutCA(t *testing.T) {
	requirePython(t)
	cs := makeCerts(t)
	srv := start(t, NewThreaded(svc(), WithTLS(cs.serverCert, cs.serverKey, ""), WithLogger(testLogger(t))))
	runPython(t, time.Minute, serversScript, "tls", "127.0.0.1", portOf(t, srv), "", "", cs.caFile)
}
