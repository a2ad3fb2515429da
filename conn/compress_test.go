package conn_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
	"github.com/rpycgo/rpycgo/services"
)

// Payloads above 3000 bytes are compressed as Python compresses them,
// unless WithCompress(false).
func TestWithCompress(t *testing.T) {
	for _, on := range []bool{true, false} {
		tr := newMemTransport()
		c, err := conn.New(tr, services.Conformance(), conn.WithCompress(on))
		require.NoError(t, err)
		<-c.AttachDone()
		big := make([]byte, 8000) // compresses well
		require.NoError(t, c.Feed(fuzzFrame(fuzzRequest(codec.FormatV5, 1, netref.HandlePing, fuzzValue(big)))))
		for !tr.answered(1) {
			<-tr.wrote
		}
		tr.mu.Lock()
		flag := tr.out[codec.FrameHeaderSize-1]
		n := len(tr.out)
		tr.mu.Unlock()
		if on {
			require.NotZero(t, flag, "compressed flag")
			require.Less(t, n, 1000)
		} else {
			require.Zero(t, flag, "compressed flag")
			require.Greater(t, n, 8000)
		}
		require.NoError(t, c.Close())
	}
}
