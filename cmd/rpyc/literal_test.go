package main

import (
	"context"
	"math"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
)

func TestParseLiteral(t *testing.T) {
	huge, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	negHuge := new(big.Int).Neg(huge)
	tests := []struct {
		in   string
		want any
	}{
		{"0", int64(0)},
		{"42", int64(42)},
		{"-7", int64(-7)},
		{"+7", int64(7)},
		{"1_000", int64(1000)},
		{"0x1F", int64(31)},
		{"0o17", int64(15)},
		{"0b101", int64(5)},
		{"9223372036854775807", int64(math.MaxInt64)},
		{"-9223372036854775808", int64(math.MinInt64)},
		{"123456789012345678901234567890", huge},
		{"-123456789012345678901234567890", negHuge},
		{"1.5", 1.5},
		{"-0.25", -0.25},
		{".5", 0.5},
		{"1e3", 1000.0},
		{"1E-3", 0.001},
		{"-2.5e+2", -250.0},
		{"inf", math.Inf(1)},
		{"-inf", math.Inf(-1)},
		{"'abc'", "abc"},
		{`"it's"`, "it's"},
		{`'a\nb\t\\\'\x41\u00e9\U0001F600'`, "a\nb\t\\'A\u00e9\U0001F600"},
		{"'héllo'", "héllo"},
		{"''", ""},
		{`b'\x00\xffab'`, []byte{0, 0xff, 'a', 'b'}},
		{`b""`, []byte{}},
		{"None", nil},
		{"True", true},
		{"False", false},
		{"()", codec.Tuple{}},
		{"(1,)", codec.Tuple{int64(1)}},
		{"(1)", int64(1)},
		{"(1, 'a', (None, -2.0), b'x')", codec.Tuple{int64(1), "a", codec.Tuple{nil, -2.0}, []byte("x")}},
		{" ( 1 , 2 , ) ", codec.Tuple{int64(1), int64(2)}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseLiteral(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	v, err := parseLiteral("nan")
	require.NoError(t, err)
	require.True(t, math.IsNaN(v.(float64)))

	for _, bad := range []string{"", "abc", "'unterminated", "(1, 2", "1 2", "012", "1j", "b'é'", "[1]", "{1: 2}", "0xZZ", "--1", "'\\x4'"} {
		_, err := parseLiteral(bad)
		require.Error(t, err, "%q", bad)
	}
}

func TestRepr(t *testing.T) {
	ctx := context.Background()
	huge, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	tests := []struct {
		in   any
		want string
	}{
		{nil, "None"},
		{true, "True"},
		{int64(-3), "-3"},
		{huge, "-123456789012345678901234567890"},
		{1.0, "1.0"},
		{1e16, "1e+16"},
		{0.0001, "0.0001"},
		{"it's", `"it's"`},
		{"a\nb", `'a\nb'`},
		{[]byte{0, 'a', 0xff}, `b'\x00a\xff'`},
		{codec.Tuple{}, "()"},
		{codec.Tuple{int64(1)}, "(1,)"},
		{codec.Tuple{int64(1), "x", codec.Tuple{nil}}, "(1, 'x', (None,))"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, pyRepr(ctx, tc.in))
	}
}

func TestSplitAddr(t *testing.T) {
	n, a, err := splitAddr("example.org:1234", 1)
	require.NoError(t, err)
	require.Equal(t, "tcp", n)
	require.Equal(t, "example.org:1234", a)
	_, a, err = splitAddr("example.org", 18812)
	require.NoError(t, err)
	require.Equal(t, "example.org:18812", a)
	_, a, err = splitAddr("[::1]:5", 1)
	require.NoError(t, err)
	require.Equal(t, "[::1]:5", a)
	n, a, err = splitAddr("/tmp/x.sock", 1)
	require.NoError(t, err)
	require.Equal(t, "unix", n)
	require.Equal(t, "/tmp/x.sock", a)
	_, _, err = splitAddr("host:99999", 1)
	require.Error(t, err)
}
