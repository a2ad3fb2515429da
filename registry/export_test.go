package registry

// Internals the external tests (package registry_test) use.
var (
	WithClock        = withClock
	EncodeQuery      = encodeQuery
	EncodeList       = encodeList
	EncodeRegister   = encodeRegister
	EncodeUnregister = encodeUnregister
)
