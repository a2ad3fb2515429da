package servers

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
)

// wireProtocol is the part of a conn.Config that a process-pool master hands
// to its workers (through their environment): every setting that is data.
// The executor, logger and service are the worker's own.
type wireProtocol struct {
	AllowGetattr, AllowSetattr, AllowDelattr bool
	SyncRequestTimeout                       time.Duration
	IncludeTraceback                         bool
	Format                                   codec.Format
	MaxFrame, MaxDecompressed, MaxDepth      int
	Compress                                 bool
	MaxObjects, MaxInFlight                  int
}

// encodeProtocol applies opts to RPyC's defaults and encodes the result.
func encodeProtocol(opts []conn.Option) (string, error) {
	cfg := conn.DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	b, err := json.Marshal(wireProtocol{
		AllowGetattr: cfg.AllowGetattr, AllowSetattr: cfg.AllowSetattr, AllowDelattr: cfg.AllowDelattr,
		SyncRequestTimeout: cfg.SyncRequestTimeout, IncludeTraceback: cfg.IncludeTraceback,
		Format: cfg.Format, MaxFrame: cfg.Limits.MaxFrame, MaxDecompressed: cfg.Limits.MaxDecompressed,
		MaxDepth: cfg.MaxDepth, Compress: cfg.Compress, MaxObjects: cfg.MaxObjects, MaxInFlight: cfg.MaxInFlight,
	})
	return string(b), err
}

// decodeProtocol turns encodeProtocol's text back into one conn.Option.
func decodeProtocol(s string) (conn.Option, error) {
	var w wireProtocol
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return nil, fmt.Errorf("servers: protocol settings: %w", err)
	}
	return func(c *conn.Config) {
		c.AllowGetattr, c.AllowSetattr, c.AllowDelattr = w.AllowGetattr, w.AllowSetattr, w.AllowDelattr
		c.SyncRequestTimeout, c.IncludeTraceback = w.SyncRequestTimeout, w.IncludeTraceback
		c.Format = w.Format
		c.Limits = codec.FrameLimits{MaxFrame: w.MaxFrame, MaxDecompressed: w.MaxDecompressed}
		c.MaxDepth, c.Compress = w.MaxDepth, w.Compress
		c.MaxObjects, c.MaxInFlight = w.MaxObjects, w.MaxInFlight
	}, nil
}
