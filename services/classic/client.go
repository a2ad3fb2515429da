package classic

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
)

// Default ports of rpyc_classic (rpyc.utils.classic.DEFAULT_SERVER_PORT and
// DEFAULT_SERVER_SSL_PORT).
const (
	DefaultPort    = 18812
	DefaultTLSPort = 18821
)

// Client is a connection to a classic (SlaveService) server. All methods
// are safe for concurrent use.
type Client struct {
	c    *conn.Conn
	root *netref.Proxy

	mu       sync.Mutex
	builtins *netref.Proxy
	fs       *remoteFS
}

// Connect dials a classic server over TCP; port 0 means DefaultPort. The
// options configure the connection (timeouts, logger...).
func Connect(ctx context.Context, host string, port int, opts ...conn.Option) (*Client, error) {
	if port == 0 {
		port = DefaultPort
	}
	c, err := conn.Dial(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)), opts...)
	if err != nil {
		return nil, fmt.Errorf("classic: connect: %w", err)
	}
	return newClient(ctx, c)
}

// ConnectUnix dials a classic server listening on the unix socket path.
func ConnectUnix(ctx context.Context, path string, opts ...conn.Option) (*Client, error) {
	c, err := conn.Dial(ctx, "unix", path, opts...)
	if err != nil {
		return nil, fmt.Errorf("classic: connect: %w", err)
	}
	return newClient(ctx, c)
}

// ConnectTLS dials a classic server over TLS (rpyc_classic started with
// --ssl-certfile/--ssl-keyfile); port 0 means DefaultTLSPort. cfg may be
// nil for the defaults (server verified against the system roots, with
// host as the server name).
func ConnectTLS(ctx context.Context, host string, port int, cfg *tls.Config, opts ...conn.Option) (*Client, error) {
	if port == 0 {
		port = DefaultTLSPort
	}
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	d := tls.Dialer{NetDialer: &net.Dialer{KeepAlive: 30 * time.Second}, Config: cfg}
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("classic: connect: %w", err)
	}
	c, err := conn.NewNetConn(nc, nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("classic: connect: %w", err)
	}
	return newClient(ctx, c)
}

// New makes a classic client of an established connection to a classic
// server. It fetches the server's root (one GETROOT); the Client owns c
// from then on (Close closes it).
func New(ctx context.Context, c *conn.Conn) (*Client, error) {
	return newClient(ctx, c)
}

func newClient(ctx context.Context, c *conn.Conn) (*Client, error) {
	root, err := c.Root(ctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("classic: root: %w", err)
	}
	return &Client{c: c, root: root}, nil
}

// Conn returns the underlying connection.
func (cl *Client) Conn() *conn.Conn { return cl.c }

// Root returns the proxy of the server's SlaveService instance.
func (cl *Client) Root() *netref.Proxy { return cl.root }

// Close closes the connection (sending CLOSE). It is idempotent.
func (cl *Client) Close() error { return cl.c.Close() }

// Module imports the module with the dotted name on the server and returns
// a proxy for it: CALLATTR(root, "getmodule", (name,)). "os.path" gives the
// posixpath module itself, as import with a fromlist does. An unknown
// module fails with a *codec.PyError of class ModuleNotFoundError.
func (cl *Client) Module(ctx context.Context, dotted string) (*netref.Proxy, error) {
	v, err := cl.root.CallMethod(ctx, "getmodule", dotted)
	if err != nil {
		return nil, err
	}
	p, ok := v.(*netref.Proxy)
	if !ok {
		return nil, fmt.Errorf("classic: getmodule(%q) returned %T, not a module reference", dotted, v)
	}
	return p, nil
}

// Builtins returns the server's builtins module (fetched once, then
// cached; do not Close it).
func (cl *Client) Builtins(ctx context.Context) (*netref.Proxy, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.builtins != nil {
		return cl.builtins, nil
	}
	p, err := cl.Module(ctx, "builtins")
	if err != nil {
		return nil, err
	}
	cl.builtins = p
	return p, nil
}

// Eval evaluates a Python expression on the server with the remote
// namespace as globals and returns its value: plain values (int, str,
// bytes, tuples...) by value, anything else as a *netref.Proxy. A remote
// exception is returned as *codec.PyError.
func (cl *Client) Eval(ctx context.Context, expr string) (any, error) {
	return cl.root.CallMethod(ctx, "eval", expr)
}

// Execute runs Python statements on the server in the remote namespace.
func (cl *Client) Execute(ctx context.Context, code string) error {
	_, err := cl.root.CallMethod(ctx, "execute", code)
	return err
}

// Namespace returns the dict in which Eval and Execute run (a proxy of a
// "builtins.dict": GetItem, SetItem, Contains, Len work on it).
func (cl *Client) Namespace(ctx context.Context) (*netref.Proxy, error) {
	v, err := cl.root.GetAttr(ctx, "namespace")
	if err != nil {
		return nil, err
	}
	p, ok := v.(*netref.Proxy)
	if !ok {
		return nil, fmt.Errorf("classic: namespace is %T, not a reference", v)
	}
	return p, nil
}

// proxyOf asserts that a call returned a reference.
func proxyOf(v any, err error) (*netref.Proxy, error) {
	if err != nil {
		return nil, err
	}
	p, ok := v.(*netref.Proxy)
	if !ok {
		return nil, fmt.Errorf("classic: got %T, not a reference", v)
	}
	return p, nil
}
