package codec

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// brineSeeds returns every brine byte string of the vectors plus a few
// hand-made edge cases.
func brineSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, file := range []string{"brine.json", "brine_decode_only.json"} {
		var vecs []brineVector
		loadJSON(tb, file, &vecs)
		for _, v := range vecs {
			seeds = append(seeds, mustHex(tb, v.Hex))
		}
	}
	enc, err := Append(nil, callattrRequest(7))
	if err != nil {
		tb.Fatal(err)
	}
	seeds = append(seeds, enc,
		[]byte{0x15, 0xFF, 0xFF, 0xFF, 0xFF},
		[]byte{0x17, 0, 0, 0, 5, ' ', '+', '1', '_', '2'},
		[]byte{0x19, 0x14, 3, 0x00, 0x1A, 0x11, 0x51, 0x51, 0x08, 0x0A, 'x'},
		bytes.Repeat([]byte{0x10}, 1200),
		binary.BigEndian.AppendUint32([]byte{0x08, 0x0F}, 3),
	)
	return seeds
}

// FuzzBrineDecode checks that the decoder never panics and that whatever
// it accepts re-encodes, and re-decodes to the same value (in view and in
// copying mode, which must agree).
func FuzzBrineDecode(f *testing.F) {
	for _, s := range brineSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		input := bytes.Clone(data)
		var first any
		firstOK := false
		for _, view := range []bool{false, true} {
			d1 := &Decoder{View: view}
			v, n, err := d1.Decode(data)
			if err != nil {
				if v != nil || n != 0 {
					t.Fatalf("view=%v: error %v with value %v, n=%d", view, err, v, n)
				}
				if firstOK {
					t.Fatalf("copying mode decoded %x but view mode failed: %v", data, err)
				}
				continue
			}
			if n < 1 || n > len(data) {
				t.Fatalf("view=%v: n=%d for %d bytes", view, n, len(data))
			}
			if !view {
				first, firstOK = Clone(v), true
			} else if !firstOK {
				t.Fatalf("view mode decoded %x but copying mode failed", data)
			} else if d := valueDiff(first, v); d != "" {
				t.Fatalf("view and copying modes differ: %s", d)
			}
			enc, err := Append(nil, v)
			if err != nil {
				t.Fatalf("view=%v: decoded %x to %#v but cannot encode it: %v", view, data[:n], v, err)
			}
			d2 := &Decoder{View: view}
			v2, n2, err := d2.Decode(enc)
			if err != nil {
				t.Fatalf("view=%v: re-decoding %x: %v", view, enc, err)
			}
			if n2 != len(enc) {
				t.Fatalf("view=%v: re-decoding used %d of %d bytes", view, n2, len(enc))
			}
			if d := valueDiff(v, v2); d != "" {
				t.Fatalf("view=%v: decode(encode(decode(x))) differs: %s", view, d)
			}
			enc2, err := Append(nil, v2)
			if err != nil || !bytes.Equal(enc, enc2) {
				t.Fatalf("view=%v: encoding is not stable: %x vs %x (%v)", view, enc, enc2, err)
			}
			// The value is independent of what follows it.
			v3, n3, err := (&Decoder{View: view}).Decode(data[:n])
			if err != nil || n3 != n || valueDiff(v, v3) != "" {
				t.Fatalf("view=%v: decoding the %d-byte prefix differs (%v)", view, n, err)
			}
			if !bytes.Equal(input, data) {
				t.Fatalf("the decoder modified its input")
			}
		}
		if firstOK {
			// Keep mode agrees, and its values outlive later decodes (of
			// this input and of another, through new generations of
			// chunks).
			other := appendCallattrRequest(nil, 7)
			d := &Decoder{Keep: true}
			var kept []any
			for i := range 24 {
				in := data
				if i%3 == 2 {
					in = other
				}
				v, _, err := d.Decode(in)
				if err != nil {
					t.Fatalf("keep mode, decode %d: %v", i, err)
				}
				kept = append(kept, v)
			}
			for i, v := range kept {
				want := first
				if i%3 == 2 {
					want = callattrRequest(7)
				}
				if diff := valueDiff(want, v); diff != "" {
					t.Fatalf("keep mode, value %d: %s", i, diff)
				}
			}
		}
		if _, err := Decode(data); err == nil && !firstOK {
			t.Fatalf("Decode accepted what Decoder.Decode refused")
		}
	})
}
