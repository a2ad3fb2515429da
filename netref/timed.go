package netref

import (
	"time"

	"github.com/rpycgo/rpycgo/dispatch"
)

// CallTimed is RPyC's timed(proxy, timeout)(*args): an asynchronous call
// whose result expires when no reply has come within d (waiting on it then
// returns an error matching dispatch.ErrExpired).
func (p *Proxy) CallTimed(d time.Duration, args ...any) (*dispatch.AsyncResult, error) {
	r, err := p.CallAsync(args...)
	if err != nil {
		return nil, err
	}
	r.SetExpiry(d)
	return r, nil
}

// CallMethodTimed is CallTimed for a method of the object (one CALLATTR).
func (p *Proxy) CallMethodTimed(d time.Duration, name string, args ...any) (*dispatch.AsyncResult, error) {
	r, err := p.CallMethodAsync(name, args...)
	if err != nil {
		return nil, err
	}
	r.SetExpiry(d)
	return r, nil
}
