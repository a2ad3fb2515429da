package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"math/big"
	"strings"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/netref"
)

// pyRepr formats a decoded value as Python's repr() would (codec.PyRepr).
// References, also inside tuples, are shown with the peer's own repr (one
// HANDLE_REPR each), or the proxy's local description if that fails.
func pyRepr(ctx context.Context, v any) string {
	var sb strings.Builder
	writeRepr(ctx, &sb, v)
	return sb.String()
}

func writeRepr(ctx context.Context, sb *strings.Builder, v any) {
	switch x := v.(type) {
	case *netref.Proxy:
		if s, err := x.Repr(ctx); err == nil {
			sb.WriteString(s)
		} else {
			sb.WriteString(x.String())
		}
	case codec.Tuple:
		sb.WriteByte('(')
		for i, it := range x {
			if i > 0 {
				sb.WriteString(", ")
			}
			writeRepr(ctx, sb, it)
		}
		if len(x) == 1 {
			sb.WriteByte(',')
		}
		sb.WriteByte(')')
	default:
		sb.WriteString(codec.PyRepr(x))
	}
}

// toJSON converts a decoded value into something encoding/json writes
// naturally: tuples and frozensets become arrays, ints of any size
// numbers, bytes a base64 string, non-finite floats the strings "inf",
// "-inf" and "nan", references and other values their Python repr.
func toJSON(ctx context.Context, v any) any {
	switch x := v.(type) {
	case nil, bool, int64, string:
		return x
	case *big.Int:
		return json.Number(x.String())
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return codec.PyRepr(x)
		}
		return x
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case codec.Tuple:
		out := make([]any, len(x))
		for i, it := range x {
			out[i] = toJSON(ctx, it)
		}
		return out
	case codec.FrozenSet:
		out := make([]any, len(x))
		for i, it := range x {
			out[i] = toJSON(ctx, it)
		}
		return out
	default:
		return pyRepr(ctx, x)
	}
}
