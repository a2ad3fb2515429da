package servers

import (
	"crypto/tls"
	"encoding/binary"
	"net"

	"crypto/x509"
	"errors"
	"fmt"
	"github.com/rpycgo/rpycgo/codec"
	"os"
)

// loadTLS builds the server's TLS configuration: its certificate, and with
// a CA file, client certificates required and verified against it.
func loadTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("servers: TLS needs both a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("servers: TLS key pair: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("servers: TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("servers: TLS CA file %s holds no certificate", caFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// recordConn writes every RPyC frame in TLS records of its own. Python
// rpyc's SocketStream polls the socket (select) before it reads a frame
// and reads only the bytes it needs: the rest of a TLS record that held
// several frames waits in the SSL object, unseen by select, and the client
// hangs. One Write per frame keeps every frame in records of its own.
type recordConn struct {
	net.Conn
	left int // bytes of the current frame not yet written
}

// Write implements net.Conn, splitting b at frame boundaries. Frames may
// span Writes.
func (c *recordConn) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		if c.left == 0 {
			if len(b) < codec.FrameHeaderSize {
				m, err := c.Conn.Write(b) // not a whole header: pass it on
				return written + m, err
			}
			c.left = codec.FrameHeaderSize + int(binary.BigEndian.Uint32(b)) + 1 // and the trailer
		}
		n := min(c.left, len(b))
		m, err := c.Conn.Write(b[:n])
		written += m
		c.left -= m
		if err != nil {
			return written, err
		}
		b = b[n:]
	}
	return written, nil
}

// recordListener wraps accepted TLS connections in recordConn.
type recordListener struct{ net.Listener }

// Accept implements net.Listener.
func (l recordListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordConn{Conn: nc}, nil
}
