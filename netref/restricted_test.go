package netref_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rpycgo/rpycgo/services/pypeer"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/codec"
	"github.com/rpycgo/rpycgo/conn"
	"github.com/rpycgo/rpycgo/netref"
	"github.com/rpycgo/rpycgo/services"
)

type account struct {
	Owner   string
	Balance int64
	Secret  string
}

func (a *account) Deposit(n int64) int64 { a.Balance += n; return a.Balance }
func (a *account) Wipe()                 { a.Balance = 0 }
func (a *account) Len() int              { return 3 }

type bankService struct{ acct *account }

func (s *bankService) Account() netref.Object {
	return netref.Restricted(s.acct,
		[]string{"owner", "balance", "deposit", "__len__"},
		[]string{"balance"})
}

// serveOne serves svc to one connection on 127.0.0.1:0 and returns the
// address and a channel closed when that connection has ended.
func serveOne(t *testing.T, svc conn.Service, opts ...conn.Option) (string, <-chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		_ = conn.ServeNetConn(nc, svc, opts...)
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String(), done
}

func TestRestrictedFromPython(t *testing.T) {
	acct := &account{Owner: "ann", Balance: 10, Secret: "s3cr3t"}
	addr, done := serveOne(t, services.New(&bankService{acct: acct}), conn.WithSetattr(true))
	out := pypeer.Run(t, 30*time.Second, "restricted_client.py", portOf(t, addr))
	require.Contains(t, out, "denied get secret")
	require.Contains(t, out, "denied get wipe")
	require.Contains(t, out, "denied __self__")
	require.Contains(t, out, "denied set owner")
	require.Contains(t, out, "denied del balance")
	require.Contains(t, out, "not callable")
	require.Contains(t, out, "dir ['__len__', 'balance', 'deposit', 'owner']")
	require.Contains(t, out, "repr <restricted account object>")
	require.Contains(t, out, "ok")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("connection did not end")
	}
	require.Equal(t, &account{Owner: "ann", Balance: 100, Secret: "s3cr3t"}, acct)
}

func TestRestrictedLocal(t *testing.T) {
	ctx := context.Background()
	acct := &account{Owner: "bob", Balance: 1}
	r := netref.Restricted(acct, []string{"owner", "deposit", "__len__"}, nil)
	require.Equal(t, "rpycgo.Restricted", r.TypeName())
	require.Equal(t, []string{"__len__"}, r.Inspect())

	v, err := r.GetAttr(ctx, "owner")
	require.NoError(t, err)
	require.Equal(t, "bob", v)
	v, err = r.CallAttr(ctx, "deposit", codec.Tuple{int64(2)}, nil)
	require.NoError(t, err)
	require.EqualValues(t, 3, v)
	m, err := r.GetAttr(ctx, "deposit")
	require.NoError(t, err)
	_, err = m.(netref.Object).GetAttr(ctx, "__self__")
	require.Error(t, err, "a method's __self__ is not reachable")

	var pe *codec.PyError
	_, err = r.GetAttr(ctx, "secret")
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "AttributeError", pe.Class)
	_, err = r.CallAttr(ctx, "wipe", nil, nil)
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "AttributeError", pe.Class)
	require.ErrorAs(t, r.SetAttr(ctx, "owner", "x"), &pe)
	require.Equal(t, "AttributeError", pe.Class)
	require.ErrorAs(t, r.DelAttr(ctx, "owner"), &pe)
	_, err = r.Call(ctx, nil, nil)
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "TypeError", pe.Class)

	// A writable field is set with conversion; a bad type is a TypeError.
	w := netref.Restricted(acct, []string{"balance"}, []string{"balance"})
	require.NoError(t, w.SetAttr(ctx, "balance", int64(42)))
	require.EqualValues(t, 42, acct.Balance)
	require.ErrorAs(t, w.SetAttr(ctx, "balance", "nope"), &pe)
	require.Equal(t, "TypeError", pe.Class)
	require.Equal(t, "bob", acct.Owner)

	d, err := w.Dir(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"balance"}, d)
}
