package codec

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fmMsgTypes maps the vectors' msg names to message types.
var fmMsgTypes = map[string]uint8{
	"MSG_REQUEST":   MsgRequest,
	"MSG_REPLY":     MsgReply,
	"MSG_EXCEPTION": MsgException,
}

// fmWireFormats maps the vectors' wire_format names to formats.
var fmWireFormats = map[string]Format{"rpyc5": FormatV5, "rpyc6": FormatV6}

// fmMessageFormat is the layout of one recorded message.
func fmMessageFormat(t *testing.T, s fmSession, m fmMessage) Format {
	t.Helper()
	if m.WireFormat != "" {
		f, ok := fmWireFormats[m.WireFormat]
		require.True(t, ok, "wire_format %q", m.WireFormat)
		if s.Format != FormatUnknown {
			require.Equal(t, s.Format, f, "session layout")
		}
		return f
	}
	require.NotEqual(t, FormatUnknown, s.Format)
	return s.Format
}

// fmStripThreadPrefix removes the bind_threads prefix of a message of the
// bind_threads session.
func fmStripThreadPrefix(t *testing.T, m fmMessage, payload []byte) []byte {
	t.Helper()
	if m.ThreadPrefix == nil {
		return payload
	}
	prefix := fmHex(t, m.ThreadPrefix.Hex)
	require.Len(t, prefix, threadPrefixSize)
	require.True(t, bytes.HasPrefix(payload, prefix))
	return payload[threadPrefixSize:]
}

func TestFormatString(t *testing.T) {
	require.Equal(t, "unknown", FormatUnknown.String())
	require.Equal(t, "rpyc5", FormatV5.String())
	require.Equal(t, "rpyc6", FormatV6.String())
	require.Equal(t, "Format(9)", Format(9).String())
}

func TestDetectFormat(t *testing.T) {
	prefix := "00007f1def9942c00000000000000000"
	for _, tc := range []struct {
		name    string
		hex     string
		want    Format
		errIs   error
		errText string
	}{
		{name: "empty: skip", hex: "", want: FormatUnknown},
		{name: "5.x GETROOT", hex: "1251501153115102", want: FormatV5},
		{name: "5.x long tuple 1", hex: "140351501153115102", want: FormatV5},
		{name: "5.x long tuple 4", hex: "150000000351501153115102", want: FormatV5},
		{name: "6.x request", hex: "0111501153115102", want: FormatV6},
		{name: "6.x reply", hex: "021154115100", want: FormatV6},
		{name: "6.x exception", hex: "03115751", want: FormatV6},
		{name: "type byte alone", hex: "01", want: FormatV6},
		{name: "bind_threads 6.x", hex: prefix + "0111501153115102", errIs: ErrThreadBinding, errText: "6.x"},
		{name: "bind_threads 5.3.1", hex: prefix + "1251501153115102", errIs: ErrThreadBinding, errText: "5.3.1"},
		{name: "bind_threads short", hex: "0000", errIs: ErrThreadBinding},
		{name: "brine 51 is not a type byte", hex: "5111501153115102", errIs: ErrUnknownFormat, errText: "0x51"},
		{name: "2-tuple", hex: "115011", errIs: ErrUnknownFormat, errText: "0x11"},
		{name: "zlib header (not decompressed)", hex: "7801edd0", errIs: ErrUnknownFormat, errText: "0x78"},
		{name: "type 4", hex: "04115000", errIs: ErrUnknownFormat},
		{name: "0xff", hex: "ff", errIs: ErrUnknownFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := DetectFormat(fmHex(t, tc.hex))
			require.Equal(t, tc.want, f)
			if tc.errIs == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.errIs)
			require.ErrorIs(t, err, ErrUnknownFormat)
			require.Contains(t, err.Error(), tc.errText)
		})
	}
}

func TestDetectFormatSessions(t *testing.T) {
	for _, s := range fmSessions(t) {
		t.Run(s.Name, func(t *testing.T) {
			_, payloads := s.frames(t)
			require.NotEmpty(t, payloads)
			if strings.HasSuffix(s.Name, ":bind_threads") {
				_, err := DetectFormat(payloads[0])
				require.ErrorIs(t, err, ErrThreadBinding)
				require.ErrorIs(t, err, ErrUnknownFormat)
				return
			}
			if s.Format != FormatUnknown {
				// The first payload decides; it is non-empty in every session.
				f, err := DetectFormat(payloads[0])
				require.NoError(t, err)
				require.Equal(t, s.Format, f)
			}
			// Every message of every session carries the session's layout,
			// and cross_version.json mixes them (per message wire_format).
			for _, m := range s.Messages {
				if m.PayloadHex == nil {
					continue
				}
				f, err := DetectFormat(fmHex(t, *m.PayloadHex))
				require.NoError(t, err, "message %d", m.Index)
				require.Equal(t, fmMessageFormat(t, s, m), f, "message %d", m.Index)
			}
		})
	}
}

// TestMessageVectors decodes every recorded message and rebuilds it with
// AppendMessageHeader + Append: the bytes must be Python's.
func TestMessageVectors(t *testing.T) {
	total := 0
	for _, s := range fmSessions(t) {
		t.Run(s.Name, func(t *testing.T) {
			for _, view := range []bool{false, true} {
				d := &Decoder{View: view}
				for _, m := range s.Messages {
					if m.PayloadHex == nil {
						continue
					}
					require.NotNil(t, m.Decoded, "message %d", m.Index)
					f := fmMessageFormat(t, s, m)
					payload := fmStripThreadPrefix(t, m, fmHex(t, *m.PayloadHex))
					if m.MsgTypeByteHex != "" {
						require.Equal(t, m.MsgTypeByteHex+m.BrineHex, hex.EncodeToString(payload))
					}

					msgType, seq, args, err := d.DecodeMessage(payload, f)
					require.NoError(t, err, "message %d", m.Index)
					require.Equal(t, fmMsgTypes[m.Decoded.Msg], msgType, "message %d", m.Index)
					require.Equal(t, m.Decoded.Seq, seq, "message %d", m.Index)

					out := AppendMessageHeader([]byte("pre"), f, msgType, seq)
					out, err = Append(out, args)
					require.NoError(t, err, "message %d", m.Index)
					require.Equal(t, hex.EncodeToString(payload), hex.EncodeToString(out[3:]), "message %d", m.Index)
					total++
				}
			}
		})
	}
	require.Greater(t, total, 500)
}

// TestMessageFrameVectors decodes the messages of v6/frames.json (the frames
// decoded first, so compressed frames are covered).
func TestMessageFrameVectors(t *testing.T) {
	n := 0
	for _, c := range fmFrameCases(t)["v6/frames.json"] {
		if c.Message == nil {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			got, err := fmFeed(&FrameDecoder{}, fmHex(t, c.FrameHex))
			require.NoError(t, err)
			require.Len(t, got, 1)
			payload := got[0]
			f, err := DetectFormat(payload)
			if strings.HasPrefix(c.Name, "bind_threads") {
				require.ErrorIs(t, err, ErrThreadBinding)
				payload = payload[threadPrefixSize:]
				f, err = DetectFormat(payload)
			}
			require.NoError(t, err)
			require.Equal(t, FormatV6, f)
			msgType, seq, _, err := new(Decoder).DecodeMessage(payload, f)
			require.NoError(t, err)
			require.Equal(t, fmMsgTypes[c.Message.Msg], msgType)
			require.Equal(t, c.Message.Seq, seq)
			n++
		})
	}
	require.Equal(t, 7, n)
}

func TestAppendMessageHeader(t *testing.T) {
	for _, tc := range []struct {
		f       Format
		msgType uint8
		seq     int64
		want    string
	}{
		// PROTOCOL.md V6.2 table (the args are appended by the caller).
		{FormatV5, MsgRequest, 0, "125150"},
		{FormatV6, MsgRequest, 0, "011150"},
		{FormatV5, MsgReply, 4, "125254"},
		{FormatV6, MsgReply, 4, "021154"},
		{FormatV5, MsgException, 7, "125357"},
		{FormatV6, MsgException, 7, "031157"},
		{FormatV5, MsgRequest, 159, "1251ef"},
		{FormatV6, MsgRequest, 160, "01111603313630"},
		{FormatUnknown, MsgRequest, 0, ""},
		{Format(7), MsgRequest, 0, ""},
	} {
		got := AppendMessageHeader([]byte{0xAA}, tc.f, tc.msgType, tc.seq)
		require.Equal(t, "aa"+tc.want, hex.EncodeToString(got), "%v %d %d", tc.f, tc.msgType, tc.seq)
	}

	// A whole GETROOT (seq 0) in both layouts.
	args := Tuple{int64(3), Tuple{int64(1), Tuple{}}}
	for f, want := range map[Format]string{FormatV5: "1251501153115102", FormatV6: "0111501153115102"} {
		out, err := Append(AppendMessageHeader(nil, f, MsgRequest, 0), args)
		require.NoError(t, err)
		require.Equal(t, want, hex.EncodeToString(out), "%v", f)
	}
}

func TestAppendMessageHeaderAllocs(t *testing.T) {
	buf := make([]byte, 0, 64)
	for _, f := range []Format{FormatV5, FormatV6} {
		allocs := testing.AllocsPerRun(100, func() {
			buf = AppendMessageHeader(buf[:0], f, MsgRequest, 1<<40)
		})
		require.Zero(t, allocs, "%v", f)
	}
}

func TestDecodeMessageNonCanonical(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Format
		hex  string
		msg  uint8
		seq  int64
	}{
		{"5.x 3-tuple with 1-byte length", FormatV5, "140351501153115102", MsgRequest, 0},
		{"5.x 3-tuple with 4-byte length", FormatV5, "150000000352541151 00", MsgReply, 4},
		{"5.x seq as decimal text", FormatV5, "1252160135115100", MsgReply, 5},
		{"6.x 2-tuple with 1-byte length", FormatV6, "0314025751", MsgException, 7},
		{"6.x big seq", FormatV6, "0211160a3130303030303030303000", MsgReply, 1000000000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, seq, _, err := new(Decoder).DecodeMessage(fmHex(t, strings.ReplaceAll(tc.hex, " ", "")), tc.f)
			require.NoError(t, err)
			require.Equal(t, tc.msg, msg)
			require.Equal(t, tc.seq, seq)
		})
	}
}

func TestDecodeMessageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Format
		hex  string
	}{
		{"5.x empty", FormatV5, ""},
		{"5.x truncated", FormatV5, "12515011531151"},
		{"5.x truncated after type", FormatV5, "1251"},
		{"5.x 2-tuple", FormatV5, "115011"},
		{"5.x 4-tuple", FormatV5, "1351505050"},
		{"5.x not a tuple", FormatV5, "51"},
		{"5.x 6.x payload", FormatV5, "0111501153115102"},
		{"5.x msg type 0", FormatV5, "12505050"},
		{"5.x msg type 4", FormatV5, "12545050"},
		{"5.x msg type True", FormatV5, "12035050"},
		{"5.x msg type str", FormatV5, "12080b315050"},
		{"5.x msg type big", FormatV5, "12160a3130303030303030303050 50"},
		{"5.x negative seq", FormatV5, "12514f50"},
		{"5.x seq beyond int64", FormatV5, "125116143138343436373434303733373039353531363136 50"},
		{"5.x seq float", FormatV5, "1251063ff000000000000050"},
		{"5.x seq None", FormatV5, "12510050"},
		{"5.x trailing byte", FormatV5, "125150115311510200"},
		{"5.x long form trailing byte", FormatV5, "14035150115311510200"},
		{"5.x long form msg 9", FormatV5, "1403595050"},
		{"5.x unknown tag in args", FormatV5, "125150ff"},
		{"6.x empty", FormatV6, ""},
		{"6.x type only", FormatV6, "01"},
		{"6.x type 0", FormatV6, "0011505100"},
		{"6.x type 4", FormatV6, "0411505100"},
		{"6.x brine type byte", FormatV6, "5111505100"},
		{"6.x 5.x payload", FormatV6, "1251501153115102"},
		{"6.x 3-tuple", FormatV6, "0112505050"},
		{"6.x not a tuple", FormatV6, "0150"},
		{"6.x negative seq", FormatV6, "02114f00"},
		{"6.x seq bool", FormatV6, "02110200"},
		{"6.x truncated", FormatV6, "0211501151"},
		{"6.x trailing byte", FormatV6, "02115000ff"},
		{"6.x long form trailing", FormatV6, "0214025000ff"},
		{"6.x long form 3 items", FormatV6, "021403505050"},
		{"unknown format", FormatUnknown, "1251501153115102"},
		{"bad format", Format(3), "0111501153115102"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, view := range []bool{false, true} {
				_, _, args, err := (&Decoder{View: view}).DecodeMessage(fmHex(t, strings.ReplaceAll(tc.hex, " ", "")), tc.f)
				require.ErrorIs(t, err, ErrBadMessage)
				require.Nil(t, args)
			}
		})
	}
}

// TestMessageRoundTrip encodes messages with the frame encoder's in-place
// API and decodes them back through the frame decoder.
func TestMessageRoundTrip(t *testing.T) {
	big := strings.Repeat("payload ", 1000) // forces compression
	msgs := []struct {
		msgType uint8
		seq     int64
		args    any
	}{
		{MsgRequest, 0, Tuple{int64(3), Tuple{int64(1), Tuple{}}}},
		{MsgReply, 1, Tuple{int64(1), big}},
		{MsgException, 1 << 40, int64(1)},
		{MsgReply, 159, nil},
	}
	for _, f := range []Format{FormatV5, FormatV6} {
		enc := NewFrameEncoder()
		var stream []byte
		for _, m := range msgs {
			buf, start := enc.Begin(stream)
			buf = AppendMessageHeader(buf, f, m.msgType, m.seq)
			buf, err := Append(buf, m.args)
			require.NoError(t, err)
			stream, err = enc.Finish(buf, start)
			require.NoError(t, err)
		}
		d := &Decoder{View: true}
		i := 0
		err := (&FrameDecoder{}).Feed(stream, func(p []byte) error {
			got, err := DetectFormat(p)
			require.NoError(t, err)
			require.Equal(t, f, got)
			msgType, seq, args, err := d.DecodeMessage(p, f)
			require.NoError(t, err)
			require.Equal(t, msgs[i].msgType, msgType)
			require.Equal(t, msgs[i].seq, seq)
			require.Equal(t, msgs[i].args, Clone(args))
			i++
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, len(msgs), i)
	}
}
