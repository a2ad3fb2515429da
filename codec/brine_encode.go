package codec

import "math/big"

// CONTRACT STUB: the brine helper replaces the bodies; signatures are fixed.

// Append appends the brine encoding of v to dst and returns the extended
// buffer. v must be a value of the model in the package documentation; any
// other value gives an error wrapping ErrUnencodable and dst unchanged.
func Append(dst []byte, v any) ([]byte, error) { panic("todo") }

// Encodable reports whether v (recursively) can be encoded by brine.
func Encodable(v any) bool { panic("todo") }

// AppendNone appends None.
func AppendNone(dst []byte) []byte { panic("todo") }

// AppendBool appends True or False.
func AppendBool(dst []byte, b bool) []byte { panic("todo") }

// AppendInt appends a Python int.
func AppendInt(dst []byte, v int64) []byte { panic("todo") }

// AppendBigInt appends a Python int of any size.
func AppendBigInt(dst []byte, v *big.Int) []byte { panic("todo") }

// AppendFloat appends a Python float.
func AppendFloat(dst []byte, f float64) []byte { panic("todo") }

// AppendComplex appends a Python complex.
func AppendComplex(dst []byte, c complex128) []byte { panic("todo") }

// AppendStr appends a Python str. s must be valid UTF-8.
func AppendStr(dst []byte, s string) []byte { panic("todo") }

// AppendBytes appends a Python bytes value.
func AppendBytes(dst []byte, b []byte) []byte { panic("todo") }

// AppendTupleHeader appends the header of an n-tuple; the caller then appends
// exactly n values.
func AppendTupleHeader(dst []byte, n int) []byte { panic("todo") }

// AppendSingleton appends Ellipsis or NotImplemented.
func AppendSingleton(dst []byte, s Singleton) []byte { panic("todo") }
