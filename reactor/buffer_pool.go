package reactor

import (
	"math/bits"
	"sync"
)

// Send buffers come from pools of power-of-two capacities, so a connection
// holds memory only while it has bytes to send.
const (
	minBufShift = 12 // 4 KiB
	maxBufShift = 23 // 8 MiB; larger buffers are left to the GC
)

var bufPools [maxBufShift - minBufShift + 1]sync.Pool

// bufClass returns the pool index whose buffers hold n bytes, or -1 when n
// is larger than the largest pooled buffer.
func bufClass(n int) int {
	if n <= 1<<minBufShift {
		return 0
	}
	shift := bits.Len(uint(n - 1))
	if shift > maxBufShift {
		return -1
	}
	return shift - minBufShift
}

// getBuf returns an empty buffer with room for at least n bytes.
func getBuf(n int) *[]byte {
	class := bufClass(n)
	if class < 0 {
		b := make([]byte, 0, n)
		return &b
	}
	if p, ok := bufPools[class].Get().(*[]byte); ok {
		*p = (*p)[:0]
		return p
	}
	b := make([]byte, 0, 1<<(class+minBufShift))
	return &b
}

// putBuf returns a buffer from getBuf to its pool. The caller must not use
// it afterwards.
func putBuf(p *[]byte) {
	if p == nil {
		return
	}
	c := cap(*p)
	if c < 1<<minBufShift || c&(c-1) != 0 {
		return
	}
	class := bits.Len(uint(c)) - 1 - minBufShift
	if class < 0 || class >= len(bufPools) {
		return
	}
	*p = (*p)[:0]
	bufPools[class].Put(p)
}
