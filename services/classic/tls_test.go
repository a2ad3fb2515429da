package classic_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rpycgo/rpycgo/services/pypeer"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/services/classic"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns their paths and a pool trusting the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
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
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestConnectTLS(t *testing.T) {
	pypeer.Require(t)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
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
