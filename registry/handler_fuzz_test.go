package registry

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/rpycgo/rpycgo/codec"
)

// FuzzHandle feeds arbitrary requests to the server protocol: it must never
// panic, and whatever it answers must be one decodable brine value.
func FuzzHandle(f *testing.F) {
	b, err := os.ReadFile("testdata/registry.json")
	if err != nil {
		f.Fatal(err)
	}
	var v map[string]json.RawMessage
	if err := json.Unmarshal(b, &v); err != nil {
		f.Fatal(err)
	}
	for _, k := range []string{"udp_listing_allowed", "udp_listing_denied", "tcp"} {
		var steps []struct{ Kind, Hex string }
		if err := json.Unmarshal(v[k], &steps); err != nil {
			f.Fatal(err)
		}
		for _, s := range steps {
			if s.Kind == "request" {
				d, _ := hex.DecodeString(s.Hex)
				f.Add(d)
			}
		}
	}
	seed, _ := codec.Append(nil, codec.Tuple{"RPYC", "LIST", codec.Tuple{"abc"}})
	f.Add(seed)
	seed, _ = codec.Append(nil, codec.Tuple{"RPYC", "register", codec.Tuple{"ab", int64(1)}})
	f.Add(seed)
	h := newHandler(buildConfig([]Option{WithListing(true), WithPruningTimeout(time.Millisecond)}))
	f.Fuzz(func(t *testing.T, data []byte) {
		reply, ok := h.handle(context.Background(), data, "127.0.0.1")
		if !ok {
			return
		}
		if _, err := codec.Decode(reply); err != nil {
			t.Fatalf("reply %x does not decode: %v", reply, err)
		}
	})
}
