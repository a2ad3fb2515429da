package codec

// CONTRACT STUB: the brine helper replaces the bodies; signatures are fixed.

// DefaultMaxDepth is the default nesting limit of a Decoder.
const DefaultMaxDepth = 1000

// Decoder decodes brine values. The zero value is ready to use (copying
// mode, DefaultMaxDepth). A Decoder is not safe for concurrent use; it reuses
// its storage, so values it returns are valid until its next call.
type Decoder struct {
	// View makes decoded []byte and string values alias the input instead of
	// copying it.
	View bool
	// MaxDepth limits nesting of tuples, frozensets and slices; 0 means
	// DefaultMaxDepth.
	MaxDepth int
}

// Decode decodes one value from the start of b and returns it with the
// number of bytes it used. Trailing bytes are left to the caller.
func (d *Decoder) Decode(b []byte) (v any, n int, err error) { panic("todo") }

// Decode decodes exactly one value from b into fresh memory (no aliasing);
// trailing bytes are an error wrapping ErrInvalid.
func Decode(b []byte) (any, error) { panic("todo") }

// Clone returns a deep copy of v that shares no memory with any input or
// Decoder.
func Clone(v any) any { panic("todo") }
