package codec

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// A large bytes value decoded in Keep mode and recycled gives its memory
// to a later value of the same size; values in use are never reused, and
// small ones are not pooled.
func TestRecycleLargeBytes(t *testing.T) {
	const n = 64 << 10
	enc := func(fill byte) []byte { return AppendBytes(nil, bytes.Repeat([]byte{fill}, n)) }
	d := &Decoder{Keep: true}
	decode := func(b []byte) []byte {
		v, _, err := d.Decode(b)
		require.NoError(t, err)
		return v.([]byte)
	}
	// Values still held are distinct memory.
	a, b := decode(enc(1)), decode(enc(2))
	require.NotEqual(t, unsafe.SliceData(a), unsafe.SliceData(b))
	require.Equal(t, byte(1), a[n-1])

	// A recycled one is reused (a sync.Pool may drop an item now and then,
	// the race detector on purpose: a few tries).
	reused := false
	for i := range 20 {
		old := decode(enc(byte(i)))
		p := unsafe.SliceData(old)
		Recycle(old)
		next := decode(enc(0xEE))
		require.Len(t, next, n)
		require.Equal(t, n, cap(next))
		require.Equal(t, byte(0xEE), next[0])
		require.Equal(t, byte(0xEE), next[n-1])
		if unsafe.SliceData(next) == p {
			reused = true
			break
		}
	}
	require.True(t, reused, "the recycled memory took a later value")
	require.Equal(t, byte(1), a[0], "a value not recycled is untouched")

	// Small values are left to the collector.
	small := make([]byte, 1024)
	Recycle(small)
	require.Nil(t, recycled(1024))
}
