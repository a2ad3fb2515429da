package codec

import "errors"

// Sentinel errors of the codec. Errors returned by this package wrap one of
// these, so callers test them with errors.Is.
var (
	// ErrUnencodable: the value is not one brine can carry.
	ErrUnencodable = errors.New("codec: value is not brine-encodable")
	// ErrTruncated: the input ended inside a value.
	ErrTruncated = errors.New("codec: truncated input")
	// ErrUnknownTag: a brine tag byte that no rpyc version defines.
	ErrUnknownTag = errors.New("codec: unknown brine tag")
	// ErrInvalid: malformed input (bad decimal text, invalid UTF-8 in a str,
	// a slice that is not a 3-tuple...).
	ErrInvalid = errors.New("codec: invalid brine data")
	// ErrTooDeep: nesting beyond the decoder's depth limit.
	ErrTooDeep = errors.New("codec: nesting too deep")
	// ErrTooLarge: a length beyond a configured limit.
	ErrTooLarge = errors.New("codec: value too large")
	// ErrFrameTooLarge: a frame header announces more than the frame limit.
	ErrFrameTooLarge = errors.New("codec: frame too large")
	// ErrDecompressedTooLarge: a compressed frame inflates past the limit.
	ErrDecompressedTooLarge = errors.New("codec: decompressed frame too large")
	// ErrCorruptFrame: a compressed body that is not valid zlib data.
	ErrCorruptFrame = errors.New("codec: corrupt compressed frame")
	// ErrBadMessage: a payload that is not an rpyc message of the expected
	// layout.
	ErrBadMessage = errors.New("codec: malformed message")
	// ErrUnknownFormat: the first payload matches neither the 5.x nor the 6.x
	// message layout.
	ErrUnknownFormat = errors.New("codec: payload is not an rpyc 5.x or 6.x message")
)
