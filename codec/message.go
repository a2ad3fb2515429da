package codec

import (
	"fmt"
)

// Format is the message layout of a connection: rpyc 5.x or 6.x
// (PROTOCOL.md §5.1 and appendix V6.2). Framing and brine are the same in
// both.
type Format uint8

const (
	// FormatUnknown: not detected yet.
	FormatUnknown Format = iota
	// FormatV5 is the rpyc 5.x layout: the payload is the brine 3-tuple
	// (msg_type, seq, args).
	FormatV5
	// FormatV6 is the rpyc 6.x layout: one raw msg_type byte followed by the
	// brine 2-tuple (seq, args).
	FormatV6
)

// String returns "rpyc5", "rpyc6" or "unknown" (the names the vectors use in
// their wire_format fields).
func (f Format) String() string {
	switch f {
	case FormatUnknown:
		return "unknown"
	case FormatV5:
		return "rpyc5"
	case FormatV6:
		return "rpyc6"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Message types (MSG_*), the same numbers in both layouts.
const (
	MsgRequest   uint8 = 1
	MsgReply     uint8 = 2
	MsgException uint8 = 3
)

// Brine tags of the message envelope.
const (
	envTup2  byte = 0x11 // 2-tuple, no length byte
	envTup3  byte = 0x12 // 3-tuple, no length byte
	envTupL1 byte = 0x14 // tuple with a 1-byte length
	envTupL4 byte = 0x15 // tuple with a 4-byte length
)

// threadPrefixSize is the length of the bind_threads prefix (two uint64
// thread ids) a payload carries when both peers run with bind_threads.
const threadPrefixSize = 16

// ErrThreadBinding is returned (wrapped) by DetectFormat for a payload that
// starts with the experimental bind_threads prefix (PROTOCOL.md V6.5), which
// rpycgo does not support. It wraps ErrUnknownFormat.
var ErrThreadBinding = fmt.Errorf("%w: payload has a bind_threads thread-id prefix (peer runs with RPYC_BIND_THREADS=true), which is not supported", ErrUnknownFormat)

// DetectFormat classifies the first non-empty payload a peer sends by its
// first byte (PROTOCOL.md V6.3): 0x12 (and the long tuple forms 0x14, 0x15)
// is FormatV5, 0x01–0x03 is FormatV6. An empty payload gives FormatUnknown
// and a nil error: skip it and classify the next one. A payload starting
// with 0x00 carries the bind_threads prefix and gives an error wrapping
// ErrThreadBinding (and so ErrUnknownFormat); anything else gives an error
// wrapping ErrUnknownFormat. The payload must be the decompressed one.
//
// DetectFormat looks at the first byte only; DecodeMessage validates the
// rest.
func DetectFormat(payload []byte) (Format, error) {
	if len(payload) == 0 {
		return FormatUnknown, nil
	}
	switch b := payload[0]; b {
	case envTup3, envTupL1, envTupL4:
		return FormatV5, nil
	case MsgRequest, MsgReply, MsgException:
		return FormatV6, nil
	case 0x00:
		if len(payload) > threadPrefixSize {
			switch payload[threadPrefixSize] {
			case MsgRequest, MsgReply, MsgException:
				return FormatUnknown, fmt.Errorf("%w (rpyc 6.x message follows)", ErrThreadBinding)
			case envTup3:
				return FormatUnknown, fmt.Errorf("%w (rpyc 5.3.1+ message follows)", ErrThreadBinding)
			}
		}
		return FormatUnknown, ErrThreadBinding
	default:
		return FormatUnknown, fmt.Errorf("%w: first byte 0x%02x", ErrUnknownFormat, b)
	}
}

// AppendMessageHeader appends the envelope of a message in layout f to dst:
// for FormatV5 `12 <msgType> <seq>` (a brine 3-tuple header and two brine
// ints), for FormatV6 `<msgType as a raw byte> 11 <seq>`. The caller then
// appends exactly one brine value, the args. msgType should be MsgRequest,
// MsgReply or MsgException and seq non-negative. For any other f nothing is
// appended (a programming error that the peer will reject).
func AppendMessageHeader(dst []byte, f Format, msgType uint8, seq int64) []byte {
	switch f {
	case FormatV5:
		dst = AppendTupleHeader(dst, 3)
		dst = AppendInt(dst, int64(msgType))
		return AppendInt(dst, seq)
	case FormatV6:
		dst = append(dst, msgType)
		dst = AppendTupleHeader(dst, 2)
		return AppendInt(dst, seq)
	}
	return dst
}

// msgRequestByte is the brine encoding of MsgRequest as the envelope's
// first item (a one-byte immediate int).
var msgRequestByte = AppendInt(nil, int64(MsgRequest))

// IsRequest reports whether a (decompressed) frame payload in layout f
// looks like a request, from its first bytes and without decoding it. It
// may say false for a request encoded unusually; DecodeMessage decides.
func IsRequest(payload []byte, f Format) bool {
	switch f {
	case FormatV5:
		return len(msgRequestByte) == 1 && len(payload) > 1 && payload[0] == envTup3 && payload[1] == msgRequestByte[0]
	case FormatV6:
		return len(payload) > 0 && payload[0] == MsgRequest
	}
	return false
}

// DecodeMessage decodes a (decompressed) frame payload in layout f into its
// message type, sequence number and args. The layout is checked strictly:
// FormatV5 must be one brine 3-tuple, FormatV6 a type byte followed by one
// brine 2-tuple; the type must be 1–3 (MsgRequest, MsgReply,
// MsgException), seq a non-negative int that fits int64, and no bytes may
// follow the value. Any violation, and any brine error, gives an error
// wrapping ErrBadMessage (and the brine error, if any).
//
// args follows the Decoder's rules: valid until the Decoder's next call and,
// in view mode, only while payload is.
func (d *Decoder) DecodeMessage(payload []byte, f Format) (msgType uint8, seq int64, args any, err error) {
	switch f {
	case FormatV5:
		if len(payload) > 0 && payload[0] == envTup3 {
			// Canonical envelope: decode the three items in place.
			return d.decodeTriple(payload[1:], 1, true)
		}
		return d.decodeWhole(payload, 0, 3)
	case FormatV6:
		if len(payload) == 0 {
			return 0, 0, nil, fmt.Errorf("%w: empty payload", ErrBadMessage)
		}
		if !msgValidType(int64(payload[0])) {
			return 0, 0, nil, fmt.Errorf("%w: invalid message type %d", ErrBadMessage, payload[0])
		}
		if len(payload) > 1 && payload[1] == envTup2 {
			msgType, seq, args, err = d.decodeTriple(payload[2:], 2, false)
		} else {
			msgType, seq, args, err = d.decodeWhole(payload[1:], 1, 2)
		}
		if err != nil {
			return 0, 0, nil, err
		}
		return payload[0], seq, args, nil
	}
	return 0, 0, nil, fmt.Errorf("%w: unknown format %v", ErrBadMessage, f)
}

// decodeTriple decodes the items of a canonical envelope tuple from b (the
// bytes after the tuple tag): (msg, seq, args) when withType, else
// (seq, args). off is the offset of b in the payload, for error messages.
func (d *Decoder) decodeTriple(b []byte, off int, withType bool) (msgType uint8, seq int64, args any, err error) {
	pos := 0
	if withType {
		v, n, err := d.Decode(b)
		if err != nil {
			return 0, 0, nil, msgBadErr("message type", off, err)
		}
		if msgType, err = msgCheckType(v); err != nil {
			return 0, 0, nil, err
		}
		pos = n
	}
	v, n, err := d.Decode(b[pos:])
	if err != nil {
		return 0, 0, nil, msgBadErr("seq", off+pos, err)
	}
	if seq, err = msgCheckSeq(v); err != nil {
		return 0, 0, nil, err
	}
	pos += n
	args, n, err = d.Decode(b[pos:])
	if err != nil {
		return 0, 0, nil, msgBadErr("args", off+pos, err)
	}
	pos += n
	if pos != len(b) {
		return 0, 0, nil, fmt.Errorf("%w: %d trailing bytes after the message", ErrBadMessage, len(b)-pos)
	}
	return msgType, seq, args, nil
}

// decodeWhole decodes b as one brine tuple of n items (a non-canonical
// envelope): (msg, seq, args) for n == 3, (seq, args) for n == 2.
func (d *Decoder) decodeWhole(b []byte, off, n int) (msgType uint8, seq int64, args any, err error) {
	v, used, err := d.Decode(b)
	if err != nil {
		return 0, 0, nil, msgBadErr("message", off, err)
	}
	if used != len(b) {
		return 0, 0, nil, fmt.Errorf("%w: %d trailing bytes after the message", ErrBadMessage, len(b)-used)
	}
	t, ok := v.(Tuple)
	if !ok || len(t) != n {
		return 0, 0, nil, fmt.Errorf("%w: envelope is %s, want a %d-tuple", ErrBadMessage, msgDescribe(v), n)
	}
	if n == 3 {
		if msgType, err = msgCheckType(t[0]); err != nil {
			return 0, 0, nil, err
		}
		t = t[1:]
	}
	if seq, err = msgCheckSeq(t[0]); err != nil {
		return 0, 0, nil, err
	}
	return msgType, seq, t[1], nil
}

func msgValidType(v int64) bool { return v >= int64(MsgRequest) && v <= int64(MsgException) }

func msgCheckType(v any) (uint8, error) {
	if IsInt(v) {
		if i, ok := ToInt64(v); ok && msgValidType(i) {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("%w: invalid message type %s", ErrBadMessage, msgDescribe(v))
}

func msgCheckSeq(v any) (int64, error) {
	if IsInt(v) {
		if i, ok := ToInt64(v); ok && i >= 0 {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: invalid seq %s", ErrBadMessage, msgDescribe(v))
}

func msgBadErr(what string, off int, err error) error {
	return fmt.Errorf("%w: %s at offset %d: %w", ErrBadMessage, what, off, err)
}

// msgDescribe renders a value briefly for an error message.
func msgDescribe(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case Tuple:
		return fmt.Sprintf("a %d-tuple", len(x))
	case []byte:
		return fmt.Sprintf("bytes of length %d", len(x))
	case string:
		return fmt.Sprintf("str of length %d", len(x))
	}
	if IsInt(v) {
		return fmt.Sprintf("int %v", v)
	}
	return fmt.Sprintf("%T", v)
}
