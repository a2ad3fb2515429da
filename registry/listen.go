package registry

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// bindAddr returns the network ("udp4", "udp", ...) and address a server
// with cfg binds, as rpyc: "0.0.0.0" by default, "::" with IPv6 (dual
// stack: IPv4 peers then appear as ::ffff:a.b.c.d, as in Python); a host
// name resolves to its first address of the family.
func bindAddr(ctx context.Context, cfg config, proto string) (network, addr string, err error) {
	host := cfg.host
	if !cfg.hostSet {
		host = DefaultServerHost
		if cfg.ipv6 {
			host = "::"
		}
	}
	ip, err := resolveHost(ctx, host, cfg.ipv6)
	if err != nil {
		return "", "", err
	}
	network = proto
	if ip.Is4() {
		network = proto + "4"
	}
	return network, netip.AddrPortFrom(ip, uint16(cfg.port)).String(), nil
}

// resolveHost parses host as an IP or resolves it (IPv4 unless v6).
func resolveHost(ctx context.Context, host string, v6 bool) (netip.Addr, error) {
	if host == "" {
		if v6 {
			return netip.IPv6Unspecified(), nil
		}
		return netip.IPv4Unspecified(), nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip, nil
	}
	family := "ip4"
	if v6 {
		family = "ip6"
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, family, host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("registry: resolve %q: %w", host, err)
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("registry: resolve %q: no address", host)
	}
	return ips[0], nil
}

// hostString is the IP of a peer as Python's socket module prints it.
func hostString(a netip.Addr) string { return a.String() }

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
