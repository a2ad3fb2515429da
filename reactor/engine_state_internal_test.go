package reactor

import (
	"math/rand/v2"
	"testing"
)

// fakeConn is a trackedConn that counts its Close calls.
type fakeConn struct {
	connBase
	closes int
}

func (c *fakeConn) Close() error { c.closes++; return nil }

// TestConnTracking tracks connections, ends them in random order and
// checks that the list holds exactly the live ones, each at its slot, that
// shut returns them all, and that the list gives its memory back when the
// crowd leaves.
func TestConnTracking(t *testing.T) {
	var s engineState
	s.init()
	const n = 5000
	live := make(map[*fakeConn]bool)
	all := make([]*fakeConn, n)
	for i := range all {
		all[i] = &fakeConn{}
		if !s.trackConn(all[i]) {
			t.Fatal("trackConn refused on an open engine")
		}
		live[all[i]] = true
	}
	check := func() {
		t.Helper()
		if len(s.conns) != len(live) {
			t.Fatalf("%d tracked, %d live", len(s.conns), len(live))
		}
		for i, c := range s.conns {
			fc := c.(*fakeConn)
			if !live[fc] {
				t.Fatalf("an ended connection is still tracked at %d", i)
			}
			if int(fc.slot) != i {
				t.Fatalf("connection at %d has slot %d", i, fc.slot)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for i, c := range all[:n-100] {
		s.connDone(c)
		s.connDone(c) // a second end is ignored by the list
		s.connWG.Add(1)
		delete(live, c)
		if i%500 == 0 {
			check()
		}
	}
	check()
	if c := cap(s.conns); c > 4*len(s.conns) && c > 1024 {
		t.Fatalf("the list keeps a capacity of %d for %d connections", c, len(s.conns))
	}
	_, conns, first := s.shut()
	if !first || len(conns) != len(live) {
		t.Fatalf("shut returned %d connections (first %v), %d live", len(conns), first, len(live))
	}
	for _, c := range conns {
		if !live[c.(*fakeConn)] {
			t.Fatal("shut returned an ended connection")
		}
	}
	if s.trackConn(&fakeConn{}) {
		t.Fatal("trackConn accepted a connection on a closed engine")
	}
}
