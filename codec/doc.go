// Package codec is rpycgo's wire codec: brine (RPyC's value serializer), the
// channel framing (length header, optional zlib body, trailer byte), the
// message layouts of rpyc 5.x and 6.x, and vinegar (exceptions on the wire).
// It is byte-exact with Python rpyc 5.3 and 6.0; the facts it implements are
// in shared/spec/PROTOCOL.md.
//
// codec knows nothing of connections, sockets or services: it must not import
// any other rpycgo package.
//
// # Value model
//
// Which Go type stands for which Python type:
//
//	Python           Go (decoded)              also accepted by the encoder
//	None             nil
//	bool             bool
//	int              int64 (when it fits),     int, int8..int32, uint..uint64
//	                 *big.Int (beyond int64)
//	float            float64                   float32
//	complex          complex128                complex64
//	str              string                    (a Go string is always str)
//	bytes            []byte                    (a []byte is always bytes)
//	tuple            Tuple                     []any
//	frozenset        FrozenSet
//	slice            Slice
//	Ellipsis         Ellipsis (Singleton)
//	NotImplemented   NotImplemented (Singleton)
//
// Anything else (maps, Go slices other than []byte and []any, structs,
// pointers, funcs) is not brine-encodable: the encoder refuses it with an
// error wrapping ErrUnencodable. Above the codec such values travel by
// reference.
//
// # Buffers and lifetimes
//
// Encoders append to a caller's buffer and return it (the append idiom), so a
// reused buffer makes encoding allocation-free.
//
// A Decoder reuses its own storage between calls. Values it returns are valid
// until the next call on the same Decoder. In view mode (Decoder.View) the
// []byte and string values it returns also alias the input bytes and are only
// valid while the input is (for a frame handed out by FrameDecoder: until the
// callback returns). Whoever keeps a decoded value longer copies it (Clone).
package codec
