package codec

import (
	"sync"
	"sync/atomic"
)

// Large bytes values decoded in Keep mode (a client's replies) each get
// memory of their own. A program that is done with such a value can hand
// that memory back with Recycle, and the next value of the same size is
// decoded into it: no fresh allocation, no collector work, no page faults
// on memory the runtime had returned to the system. A load generator
// receiving 64 KiB replies spends more on that than on the rest of a call.

// recycleMin is the smallest value recycled.
const recycleMin = 32 << 10

// maxRecycleSizes bounds the sizes pooled at once (pools are by exact
// capacity: replies of one size are the case that matters).
const maxRecycleSizes = 64

var (
	recyclePools sync.Map // capacity (int) -> *sync.Pool of *[]byte
	recycleSizes atomic.Int32
)

// Recycle hands b's memory back for reuse by later decodes. Call it only
// for a bytes value that a Decoder in Keep mode returned (as a connection
// returns its replies) and that nothing refers to any more, the caller
// included: its memory will hold another value. Values shorter than 32 KiB
// are left to the collector.
func Recycle(b []byte) {
	if cap(b) < recycleMin {
		return
	}
	b = b[:cap(b)]
	if p := recyclePool(cap(b), true); p != nil {
		p.Put(&b)
	}
}

// recycled returns recycled memory for an n-byte value (length and
// capacity n), or nil.
func recycled(n int) []byte {
	p := recyclePool(n, false)
	if p == nil {
		return nil
	}
	bp, _ := p.Get().(*[]byte)
	if bp == nil {
		return nil
	}
	return (*bp)[:n:n]
}

func recyclePool(n int, create bool) *sync.Pool {
	if p, ok := recyclePools.Load(n); ok {
		return p.(*sync.Pool)
	}
	if !create || recycleSizes.Add(1) > maxRecycleSizes {
		return nil
	}
	p, _ := recyclePools.LoadOrStore(n, new(sync.Pool))
	return p.(*sync.Pool)
}
