// Package services is what a Go developer writes to serve RPyC: a Go type
// whose exported methods (in snake_case) and rpyc-tagged fields are what a
// Python client finds on conn.root, with RPyC's service names and aliases,
// connect/disconnect hooks, one shared instance or one per connection
// (RPyC's classpartial), the Void service, and the CONFORMANCE service of
// shared/conformance/SERVICE.md that the project is tested against.
//
//	type Calc struct{}
//	func (Calc) Add(a, b int64) int64 { return a + b }
//
//	svc := services.New(Calc{})                 // name "CALC"
//	err := conn.ServeNetConn(nc, svc)           // Python: c.root.add(1, 2)
//
// Access is deny by default, as netref.Wrap decides it: only exported
// methods and fields tagged `rpyc:"name"` are reachable, and attributes of
// a service root can never be set or deleted by the peer.
//
// services sits on top of conn and netref; it must not import servers,
// reactor, registry or bench.
package services
