package reactor

import "testing"

// TestReadBufferSizeDefaults checks ReadBufferSize's per-engine default and
// that an explicit size wins on every engine.
func TestReadBufferSizeDefaults(t *testing.T) {
	cfg, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		engine string
		set    int
		want   int
	}{
		{EngineGnet, 0, DefaultGnetReadBufferSize},
		{EngineStdnet, 0, DefaultReadBufferSize},
		{EngineNetpoll, 0, DefaultReadBufferSize},
		{EngineGnet, 4096, 4096},
		{EngineStdnet, 1 << 20, 1 << 20},
	} {
		c := cfg
		c.ReadBufferSize = tc.set
		if got := c.readBufferSize(tc.engine); got != tc.want {
			t.Errorf("%s with ReadBufferSize %d: read buffer %d, want %d", tc.engine, tc.set, got, tc.want)
		}
	}
	if DefaultConfig().ReadBufferSize != 0 {
		t.Error("DefaultConfig leaves ReadBufferSize to the engine")
	}
}
