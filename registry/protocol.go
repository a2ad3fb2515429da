package registry

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rpycgo/rpycgo/codec"
)

// Wire constants of PROTOCOL.md §14 (rpyc.utils.registry).
const (
	// DefaultPort is the registry port, UDP and TCP (REGISTRY_PORT).
	DefaultPort = 18811
	// DefaultPruningTimeout is how long a registration stays valid without a
	// refresh (DEFAULT_PRUNING_TIMEOUT).
	DefaultPruningTimeout = 240 * time.Second
	// MaxDatagramSize is the largest request a server reads: one UDP datagram
	// or the one TCP recv (MAX_DGRAM_SIZE).
	MaxDatagramSize = 1500
	// MaxListReplySize is the largest LIST reply a UDP client reads
	// (MAX_DGRAM_SIZE * 10).
	MaxListReplySize = 10 * MaxDatagramSize
	// ReregisterInterval is how often a registered server refreshes its
	// registration (RegistryClient.REREGISTER_INTERVAL).
	ReregisterInterval = 60 * time.Second
	// DefaultClientTimeout is how long a client waits for a reply.
	DefaultClientTimeout = 2 * time.Second
	// DefaultBroadcastHost is the UDP client's default target.
	DefaultBroadcastHost = "255.255.255.255"
	// DefaultServerHost is the address the servers bind by default, as rpyc.
	DefaultServerHost = "0.0.0.0"
	// tcpServerReadTimeout bounds the one recv of a TCP registry connection
	// (TCPRegistryServer.TIMEOUT).
	tcpServerReadTimeout = 3 * time.Second
)

// Magic is the first item of every request.
const Magic = "RPYC"

// Commands, as the clients send them (the servers accept any letter case).
const (
	CmdRegister   = "REGISTER"
	CmdUnregister = "UNREGISTER"
	CmdQuery      = "QUERY"
	CmdList       = "LIST"
)

// Errors callers test.
var (
	// ErrListingDisabled is returned by List when the registry answers None
	// (listing is off, the default; rpyc raises ForbiddenError).
	ErrListingDisabled = errors.New("registry: listing is disabled")
	// ErrNotFound is returned by Discover and conn.ConnectByService when no
	// server exposing the name was found (rpyc's DiscoveryError).
	ErrNotFound = errors.New("registry: no servers found")
	// ErrBadReply wraps a reply that does not decode or has the wrong shape.
	ErrBadReply = errors.New("registry: bad reply")
	// ErrClosed is returned by Start on a closed server or registrar.
	ErrClosed = errors.New("registry: closed")
)

// Endpoint is one registered server: the IP the registry saw the
// registration come from, and the TCP port it announced.
type Endpoint struct {
	Host string
	Port int
}

// String returns host:port (brackets around an IPv6 host).
func (e Endpoint) String() string {
	if strings.Contains(e.Host, ":") {
		return "[" + e.Host + "]:" + strconv.Itoa(e.Port)
	}
	return e.Host + ":" + strconv.Itoa(e.Port)
}

// appendRequest appends ("RPYC", cmd, args).
func appendRequest(dst []byte, cmd string, args codec.Tuple) ([]byte, error) {
	return codec.Append(dst, codec.Tuple{Magic, cmd, args})
}

// encodeQuery is ("RPYC", "QUERY", (name,)).
func encodeQuery(name string) ([]byte, error) {
	return appendRequest(nil, CmdQuery, codec.Tuple{name})
}

// encodeList is ("RPYC", "LIST", ((filter,),)); an empty filter is None.
func encodeList(filterHost string) ([]byte, error) {
	var f any
	if filterHost != "" {
		f = filterHost
	}
	return appendRequest(nil, CmdList, codec.Tuple{codec.Tuple{f}})
}

// encodeRegister is ("RPYC", "REGISTER", (aliases, port)).
func encodeRegister(aliases []string, port int) ([]byte, error) {
	names := make(codec.Tuple, len(aliases))
	for i, a := range aliases {
		names[i] = a
	}
	return appendRequest(nil, CmdRegister, codec.Tuple{names, port})
}

// encodeUnregister is ("RPYC", "UNREGISTER", (port,)).
func encodeUnregister(port int) ([]byte, error) {
	return appendRequest(nil, CmdUnregister, codec.Tuple{port})
}

// decodeValue decodes the brine value at the start of b. Like Python's
// brine.load, bytes after the value are ignored.
func decodeValue(b []byte) (any, error) {
	var d codec.Decoder
	v, _, err := d.Decode(b)
	if err != nil {
		return nil, err
	}
	return codec.Clone(v), nil
}

// parseEndpoints reads a QUERY reply: a tuple of (ip, port) pairs.
func parseEndpoints(v any) ([]Endpoint, error) {
	t, ok := v.(codec.Tuple)
	if !ok {
		return nil, fmt.Errorf("%w: QUERY reply is %T, not a tuple", ErrBadReply, v)
	}
	eps := make([]Endpoint, 0, len(t))
	for _, it := range t {
		pair, ok := it.(codec.Tuple)
		if !ok || len(pair) < 2 {
			return nil, fmt.Errorf("%w: QUERY entry %#v is not an (ip, port) pair", ErrBadReply, it)
		}
		host, ok1 := pair[0].(string)
		port, ok2 := codec.ToInt64(pair[1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%w: QUERY entry %#v is not an (ip, port) pair", ErrBadReply, it)
		}
		eps = append(eps, Endpoint{Host: host, Port: int(port)})
	}
	return eps, nil
}

// parseNames reads a LIST reply: None (listing disabled) or a tuple of str.
func parseNames(v any) ([]string, error) {
	if v == nil {
		return nil, ErrListingDisabled
	}
	t, ok := v.(codec.Tuple)
	if !ok {
		return nil, fmt.Errorf("%w: LIST reply is %T, not a tuple", ErrBadReply, v)
	}
	names := make([]string, 0, len(t))
	for _, it := range t {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("%w: LIST entry %#v is not a str", ErrBadReply, it)
		}
		names = append(names, s)
	}
	return names, nil
}

// pyRepr renders a brine value roughly as Python's repr, for log lines that
// read like rpyc's.
func pyRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case string:
		return "'" + strings.ReplaceAll(x, "'", `\'`) + "'"
	case []byte:
		return "b" + strconv.Quote(string(x))
	case codec.Tuple:
		parts := make([]string, len(x))
		for i, it := range x {
			parts[i] = pyRepr(it)
		}
		if len(parts) == 1 {
			return "(" + parts[0] + ",)"
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	return fmt.Sprint(v)
}
