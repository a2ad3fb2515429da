package codec

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzVinegarLoad feeds arbitrary brine to LoadError: it must not panic, it
// must give either a *PyError or an error wrapping ErrBadMessage, and a
// *PyError must survive DumpError → brine → LoadError unchanged.
func FuzzVinegarLoad(f *testing.F) {
	for _, name := range []string{"vinegar.json", "v6/vinegar.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		var file struct {
			Exceptions, MinimalForms []struct {
				Hex string `json:"hex"`
			}
		}
		if err := json.Unmarshal(data, &file); err != nil {
			f.Fatal(err)
		}
		for _, e := range append(file.Exceptions, file.MinimalForms...) {
			b, err := hex.DecodeString(e.Hex)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	opt := VinegarOptions{IncludeTraceback: true, Version: VinegarVersion5}
	for _, err := range []error{
		NewPyError("ValueError", "x"), OSError(2, "No such file or directory", "/x", "/y"),
		errors.New("go"), &PyError{Module: "m", Class: "C", Args: Tuple{1.5, nil, Tuple{}}, Attrs: []Attr{{"a", FrozenSet{int64(1)}}}},
	} {
		f.Add(AppendError(nil, err, opt))
	}
	f.Add([]byte{0x08, 0x0a, 'x'}) // legacy str
	f.Add([]byte{0x03})            // True
	f.Add([]byte{0x52})            // int 2
	f.Add([]byte{0x02})            // ()

	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		if err != nil {
			return
		}
		got := LoadError(v)
		if got == nil {
			t.Fatal("LoadError returned nil")
		}
		_ = got.Error()
		_ = PyRepr(v)
		p, ok := got.(*PyError)
		if !ok {
			if !errors.Is(got, ErrBadMessage) {
				t.Fatalf("LoadError gave %T %v, want *PyError or ErrBadMessage", got, got)
			}
			return
		}
		_ = p.Message()

		opt := VinegarOptions{IncludeTraceback: true, Version: p.RemoteVersion}
		b := AppendError(nil, p, opt)
		b2, err := Append(nil, DumpError(p, opt))
		if err != nil {
			t.Fatalf("DumpError value not encodable: %v", err)
		}
		if hex.EncodeToString(b) != hex.EncodeToString(b2) {
			t.Fatalf("AppendError %x != Append(DumpError) %x", b, b2)
		}
		v2, err := Decode(b)
		if err != nil {
			t.Fatalf("decoding dumped %x: %v", b, err)
		}
		var back *PyError
		if !errors.As(LoadError(v2), &back) {
			t.Fatalf("dumped %x does not load as a PyError", b)
		}
		want := *p
		if isStopIterationForm(p) {
			// Sent as the int 1, which carries no text or version.
			want.Traceback, want.RemoteVersion = "", ""
		}
		if d := pyErrorDiff(&want, back); d != "" {
			t.Fatalf("round trip changed the exception: %s\nfirst: %#v\nthen:  %#v", d, &want, back)
		}
	})
}
