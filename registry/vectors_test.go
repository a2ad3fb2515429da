package registry_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/registry"
)

// vectorStep is one captured message of testdata/registry.json.
type vectorStep struct {
	Step       string `json:"step"`
	Kind       string `json:"kind"`
	Hex        string `json:"hex"`
	PythonRepr string `json:"python_repr"`
}

func (s vectorStep) bytes(t *testing.T) []byte {
	b, err := hex.DecodeString(s.Hex)
	require.NoError(t, err)
	return b
}

type vectorFile struct {
	UDPListingAllowed []vectorStep `json:"udp_listing_allowed"`
	UDPListingDenied  []vectorStep `json:"udp_listing_denied"`
	TCP               []vectorStep `json:"tcp"`
	AutoRegister      struct {
		ServerPort int          `json:"server_port"`
		Messages   []vectorStep `json:"messages"`
	} `json:"threaded_server_auto_register"`
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	b, err := os.ReadFile("testdata/registry.json")
	require.NoError(t, err)
	var v vectorFile
	require.NoError(t, json.Unmarshal(b, &v))
	require.NotEmpty(t, v.UDPListingAllowed)
	return v
}

// fakeClock is a clock the tests move.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// udpExchange sends req to addr and returns the reply (nil: none in d).
func udpExchange(t *testing.T, addr string, req []byte, d time.Duration) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(req)
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// tcpExchange sends req on a new connection to addr and returns what came
// back before the server closed (nil: nothing).
func tcpExchange(t *testing.T, addr string, req []byte, d time.Duration) []byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, d)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(d)))
	_, err = c.Write(req)
	require.NoError(t, err)
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// TestServerRepliesMatchVectors replays every captured request against our
// servers and compares each reply byte for byte with Python's.
func TestServerRepliesMatchVectors(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	cases := []struct {
		name    string
		tcp     bool
		listing bool
		steps   []vectorStep
	}{
		{"udp_listing_allowed", false, true, v.UDPListingAllowed},
		{"udp_listing_denied", false, false, v.UDPListingDenied},
		{"tcp", true, true, v.TCP},
		{"threaded_server_auto_register", false, false, v.AutoRegister.Messages},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			opts := []registry.Option{registry.WithHost("127.0.0.1"), registry.WithPort(0),
				registry.WithListing(tc.listing), registry.WithClock(clk.now)}
			var addr string
			exchange := udpExchange
			if tc.tcp {
				s := registry.NewTCPServer(opts...)
				require.NoError(t, s.Start())
				t.Cleanup(func() { require.NoError(t, s.Close()) })
				addr, exchange = s.Addr().String(), tcpExchange
			} else {
				s := registry.NewUDPServer(opts...)
				require.NoError(t, s.Start())
				t.Cleanup(func() { require.NoError(t, s.Close()) })
				addr = s.Addr().String()
			}
			pruned := false
			for i, st := range tc.steps {
				if st.Kind != "request" {
					continue
				}
				if strings.Contains(st.Step, "pruning timeout") && !pruned {
					clk.advance(registry.DefaultPruningTimeout + time.Second)
					pruned = true
				}
				require.Less(t, i+1, len(tc.steps), "request %q without a reply", st.Step)
				want := tc.steps[i+1]
				require.Equal(t, "reply", want.Kind, st.Step)
				got := exchange(t, addr, st.bytes(t), 3*time.Second)
				require.Equal(t, want.Hex, hex.EncodeToString(got), "%s: want %s", st.Step, want.PythonRepr)
			}
		})
	}
}

// TestClientRequestsMatchVectors encodes every captured request with the
// encoders our clients use and compares the bytes.
func TestClientRequestsMatchVectors(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	all := append(append(append(append([]vectorStep{}, v.UDPListingAllowed...), v.UDPListingDenied...), v.TCP...), v.AutoRegister.Messages...)
	n := 0
	for _, st := range all {
		if st.Kind != "request" {
			continue
		}
		val, err := codec.Decode(st.bytes(t))
		require.NoError(t, err)
		req := val.(codec.Tuple)
		args := req[2].(codec.Tuple)
		var got []byte
		switch req[1] {
		case "QUERY":
			got, err = registry.EncodeQuery(args[0].(string))
		case "LIST":
			f, _ := args[0].(codec.Tuple)[0].(string)
			got, err = registry.EncodeList(f)
		case "REGISTER":
			var names []string
			for _, n := range args[0].(codec.Tuple) {
				names = append(names, n.(string))
			}
			got, err = registry.EncodeRegister(names, int(args[1].(int64)))
		case "UNREGISTER":
			got, err = registry.EncodeUnregister(int(args[0].(int64)))
		default:
			t.Fatalf("unknown command in %q", st.Step)
		}
		require.NoError(t, err)
		require.Equal(t, st.Hex, hex.EncodeToString(got), st.Step)
		n++
	}
	require.Greater(t, n, 10)
}

// fakeRegistry answers each request it receives with the canned reply for
// that request (by hex), over UDP or TCP, and records what it received.
type fakeRegistry struct {
	addr    string
	replies map[string]string
	mu      sync.Mutex
	got     []string
}

func (f *fakeRegistry) record(req []byte) ([]byte, bool) {
	h := hex.EncodeToString(req)
	f.mu.Lock()
	f.got = append(f.got, h)
	f.mu.Unlock()
	r, ok := f.replies[h]
	if !ok {
		return nil, false
	}
	b, _ := hex.DecodeString(r)
	return b, true
}

func (f *fakeRegistry) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func startFakeUDP(t *testing.T, replies map[string]string) *fakeRegistry {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeRegistry{addr: pc.LocalAddr().String(), replies: replies}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if r, ok := f.record(buf[:n]); ok {
				_, _ = pc.WriteTo(r, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return f
}

func startFakeTCP(t *testing.T, replies map[string]string) *fakeRegistry {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeRegistry{addr: ln.Addr().String(), replies: replies}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(3 * time.Second))
			buf := make([]byte, 1500)
			n, _ := c.Read(buf)
			if r, ok := f.record(buf[:n]); ok {
				_, _ = c.Write(r)
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return f
}

// TestClientsOnTheWire runs our UDP and TCP clients against a fake registry
// that answers with Python's captured replies: the requests must be the
// captured bytes and the replies must parse.
func TestClientsOnTheWire(t *testing.T) {
	t.Parallel()
	v := loadVectors(t)
	replies := map[string]string{}
	for i, st := range v.UDPListingAllowed {
		if st.Kind == "request" && i+1 < len(v.UDPListingAllowed) {
			if _, dup := replies[st.Hex]; !dup {
				replies[st.Hex] = v.UDPListingAllowed[i+1].Hex
			}
		}
	}
	hexOf := func(step string) string {
		for _, st := range v.UDPListingAllowed {
			if st.Step == step {
				return st.Hex
			}
		}
		t.Fatalf("no step %q", step)
		return ""
	}
	for _, mode := range []string{"udp", "tcp"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			var f *fakeRegistry
			var c registry.Client
			if mode == "udp" {
				f = startFakeUDP(t, replies)
				host, port := splitHostPort(t, f.addr)
				c = registry.NewUDPClient(registry.WithHost(host), registry.WithPort(port))
			} else {
				f = startFakeTCP(t, replies)
				host, port := splitHostPort(t, f.addr)
				c = registry.NewTCPClient(host, registry.WithPort(port))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			ok, err := c.Register(ctx, []string{"FOO", "bar"}, 12345, "127.0.0.1")
			require.NoError(t, err)
			require.True(t, ok)
			eps, err := c.Discover(ctx, "foo")
			require.NoError(t, err)
			require.Equal(t, []registry.Endpoint{{Host: "127.0.0.1", Port: 12345}}, eps)
			names, err := c.List(ctx, "")
			require.NoError(t, err)
			require.Equal(t, []string{"FOO", "BAR"}, names)
			names, err = c.List(ctx, "127.0.0.1")
			require.NoError(t, err)
			require.Equal(t, []string{"FOO", "BAR"}, names)
			names, err = c.List(ctx, "10.9.9.9")
			require.NoError(t, err)
			require.Empty(t, names)
			require.NoError(t, c.Unregister(ctx, 12345))
			eps, err = c.Discover(ctx, "FOO") // captured reply: ()
			require.NoError(t, err)
			require.Empty(t, eps)

			want := []string{
				hexOf("REGISTER (FOO, bar) port 12345"),
				hexOf("QUERY foo"),
				hexOf("LIST (no filter)"),
				hexOf("LIST filtered by host 127.0.0.1"),
				hexOf("LIST filtered by a host that registered nothing"),
				hexOf("UNREGISTER port 12345 (client does not wait for the reply)"),
				hexOf("QUERY FOO after unregister"),
			}
			require.Eventually(t, func() bool { return len(f.received()) == len(want) }, 3*time.Second, 10*time.Millisecond)
			require.Equal(t, want, f.received())
		})
	}
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", addr)
	require.NoError(t, err)
	return a.IP.String(), a.Port
}
