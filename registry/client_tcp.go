package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/rs/zerolog"
)

// TCPClient is rpyc's TCPRegistryClient: each operation opens a connection
// to the registry, sends the request in one write, reads the reply and
// closes.
type TCPClient struct {
	host    string
	port    int
	timeout time.Duration
	log     zerolog.Logger
}

// NewTCPClient returns a TCP registry client for the registry on host. It
// reads WithPort, WithTimeout and WithLogger.
func NewTCPClient(host string, opts ...Option) *TCPClient {
	cfg := buildConfig(opts)
	return &TCPClient{host: host, port: cfg.port, timeout: cfg.timeout, log: cfg.log}
}

// Target returns the registry address the client connects to.
func (c *TCPClient) Target() string { return hostPort(c.host, c.port) }

// exchange connects (from iface when not ""), sends req and, when read is
// true, returns the reply: the bytes up to the registry's close. nil data
// and no error means the reply did not come within the timeout.
func (c *TCPClient) exchange(ctx context.Context, iface string, req []byte, read bool) ([]byte, error) {
	dl := deadline(ctx, c.timeout)
	d := net.Dialer{Deadline: dl}
	if iface != "" {
		ip, err := resolveHost(ctx, iface, false)
		if err != nil {
			return nil, err
		}
		d.LocalAddr = &net.TCPAddr{IP: ip.AsSlice(), Zone: ip.Zone()}
	}
	nc, err := d.DialContext(ctx, "tcp", c.Target())
	if err != nil {
		return nil, fmt.Errorf("registry: connect: %w", err)
	}
	defer nc.Close()
	stop := watch(ctx, nc)
	defer stop()
	_ = nc.SetDeadline(dl)
	if _, err := nc.Write(req); err != nil {
		return nil, fmt.Errorf("registry: send: %w", err)
	}
	if !read {
		return nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(nc, MaxListReplySize))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return nil, fmt.Errorf("registry: receive: %w", err)
		}
	}
	if len(data) == 0 {
		return nil, nil
	}
	return data, nil
}

// Discover implements Client.
func (c *TCPClient) Discover(ctx context.Context, name string) ([]Endpoint, error) {
	req, err := encodeQuery(name)
	if err != nil {
		return nil, err
	}
	data, err := c.exchange(ctx, "", req, true)
	if err != nil || data == nil {
		return nil, err
	}
	v, err := decodeValue(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	return parseEndpoints(v)
}

// List implements Client.
func (c *TCPClient) List(ctx context.Context, filterHost string) ([]string, error) {
	req, err := encodeList(filterHost)
	if err != nil {
		return nil, err
	}
	data, err := c.exchange(ctx, "", req, true)
	if err != nil || data == nil {
		return nil, err
	}
	v, err := decodeValue(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	return parseNames(v)
}

// Register implements Client. A reply other than "OK" is false with an
// error wrapping ErrBadReply (rpyc returns True for any decodable reply).
func (c *TCPClient) Register(ctx context.Context, aliases []string, port int, iface string) (bool, error) {
	c.log.Info().Msgf("registering on %s", c.Target())
	req, err := encodeRegister(aliases, port)
	if err != nil {
		return false, err
	}
	data, err := c.exchange(ctx, iface, req, true)
	if err != nil {
		c.log.Warn().Err(err).Msg("could not connect to registry")
		return false, err
	}
	if data == nil {
		c.log.Warn().Msg("registry did not acknowledge")
		return false, nil
	}
	v, err := decodeValue(data)
	if err != nil {
		c.log.Warn().Msg("received corrupted data from registry")
		return false, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	if v != "OK" {
		return false, fmt.Errorf("%w: REGISTER answered %s", ErrBadReply, pyRepr(v))
	}
	c.log.Info().Msgf("registry %s acknowledged", c.Target())
	return true, nil
}

// Unregister implements Client: UNREGISTER, without reading the reply.
func (c *TCPClient) Unregister(ctx context.Context, port int) error {
	c.log.Info().Msgf("unregistering from %s", c.Target())
	req, err := encodeUnregister(port)
	if err != nil {
		return err
	}
	_, err = c.exchange(ctx, "", req, false)
	return err
}
