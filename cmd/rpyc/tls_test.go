package main

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
	"strconv"
	"testing"
	"time"

	"github.com/rpycgo/rpycgo/services/pypeer"

	"github.com/stretchr/testify/require"
)

// writeSelfSigned writes a certificate for 127.0.0.1 and its key into dir.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rpycgo test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}

func TestCLIClassicTLS(t *testing.T) {
	pypeer.Require(t)
	certFile, keyFile := writeSelfSigned(t, t.TempDir())
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
