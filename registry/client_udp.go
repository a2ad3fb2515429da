package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// UDPClient is rpyc's UDPRegistryClient: each operation uses a new UDP
// socket, sends one datagram to the registry (by default a broadcast to
// 255.255.255.255:18811) and waits for the first reply.
type UDPClient struct {
	host    string
	port    int
	ipv6    bool
	bcast   bool
	timeout time.Duration
	log     zerolog.Logger
}

// NewUDPClient returns a UDP registry client. It reads WithHost (default
// "255.255.255.255"), WithPort, WithIPv6, WithBroadcast (default: on when a
// dotted part of the host is "255"), WithTimeout and WithLogger.
func NewUDPClient(opts ...Option) *UDPClient {
	cfg := buildConfig(opts)
	host := cfg.host
	if !cfg.hostSet {
		host = DefaultBroadcastHost
	}
	bcast := slices.Contains(strings.Split(host, "."), "255")
	if cfg.broadcast != nil {
		bcast = *cfg.broadcast
	}
	if cfg.ipv6 {
		bcast = false
	}
	return &UDPClient{host: host, port: cfg.port, ipv6: cfg.ipv6, bcast: bcast, timeout: cfg.timeout, log: cfg.log}
}

// Broadcast reports whether the client sets SO_BROADCAST.
func (c *UDPClient) Broadcast() bool { return c.bcast }

// Target returns the registry address the client sends to.
func (c *UDPClient) Target() string { return hostPort(c.host, c.port) }

func (c *UDPClient) network() string {
	if c.ipv6 {
		return "udp6"
	}
	return "udp4"
}

// open makes the socket of one operation, bound to iface ("" for any).
func (c *UDPClient) open(ctx context.Context, iface string) (*net.UDPConn, *net.UDPAddr, error) {
	to, err := net.ResolveUDPAddr(c.network(), hostPort(c.host, c.port))
	if err != nil {
		return nil, nil, fmt.Errorf("registry: %w", err)
	}
	lc := net.ListenConfig{}
	if c.bcast {
		lc.Control = setBroadcast
	}
	local := ":0"
	if iface != "" {
		ip, err := resolveHost(ctx, iface, c.ipv6)
		if err != nil {
			return nil, nil, err
		}
		local = netip.AddrPortFrom(ip, 0).String()
	}
	pc, err := lc.ListenPacket(ctx, c.network(), local)
	if err != nil {
		return nil, nil, fmt.Errorf("registry: %w", err)
	}
	return pc.(*net.UDPConn), to, nil
}

// exchange sends req and returns the first datagram accepted by want (any
// datagram when want is nil), or nil when none came within the timeout.
func (c *UDPClient) exchange(ctx context.Context, iface string, req []byte, size int, want func(from netip.AddrPort, data []byte) bool) ([]byte, error) {
	pc, to, err := c.open(ctx, iface)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	if _, err := pc.WriteToUDP(req, to); err != nil {
		return nil, fmt.Errorf("registry: send to %s: %w", to, err)
	}
	if size == 0 {
		return nil, nil
	}
	stop := watch(ctx, pc)
	defer stop()
	_ = pc.SetReadDeadline(deadline(ctx, c.timeout))
	buf := make([]byte, size)
	for {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, nil
			}
			return nil, fmt.Errorf("registry: receive: %w", err)
		}
		if want == nil || want(from, buf[:n]) {
			return buf[:n], nil
		}
	}
}

// Discover implements Client: QUERY, the first reply from any registry.
func (c *UDPClient) Discover(ctx context.Context, name string) ([]Endpoint, error) {
	req, err := encodeQuery(name)
	if err != nil {
		return nil, err
	}
	data, err := c.exchange(ctx, "", req, MaxDatagramSize, nil)
	if err != nil || data == nil {
		return nil, err
	}
	v, err := decodeValue(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	return parseEndpoints(v)
}

// List implements Client: LIST, one reply of up to 15000 bytes.
func (c *UDPClient) List(ctx context.Context, filterHost string) ([]string, error) {
	req, err := encodeList(filterHost)
	if err != nil {
		return nil, err
	}
	data, err := c.exchange(ctx, "", req, MaxListReplySize, nil)
	if err != nil || data == nil {
		return nil, err
	}
	v, err := decodeValue(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	return parseNames(v)
}

// Register implements Client: REGISTER from iface, then wait until the
// timeout for an "OK" datagram coming from the registry port.
func (c *UDPClient) Register(ctx context.Context, aliases []string, port int, iface string) (bool, error) {
	c.log.Info().Msgf("registering on %s", c.Target())
	req, err := encodeRegister(aliases, port)
	if err != nil {
		return false, err
	}
	data, err := c.exchange(ctx, iface, req, MaxDatagramSize, func(from netip.AddrPort, data []byte) bool {
		if int(from.Port()) != c.port {
			return false
		}
		v, err := decodeValue(data)
		return err == nil && v == "OK"
	})
	if err != nil {
		return false, err
	}
	if data == nil {
		c.log.Warn().Msg("no registry acknowledged")
		return false, nil
	}
	c.log.Info().Msgf("registry %s acknowledged", c.Target())
	return true, nil
}

// Unregister implements Client: UNREGISTER, without waiting.
func (c *UDPClient) Unregister(ctx context.Context, port int) error {
	c.log.Info().Msgf("unregistering from %s", c.Target())
	req, err := encodeUnregister(port)
	if err != nil {
		return err
	}
	_, err = c.exchange(ctx, "", req, 0, nil)
	return err
}
