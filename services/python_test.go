package services_test

import (
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/conn"
)

// serveTCP serves svc on 127.0.0.1:0, each accepted connection with
// conn.ServeNetConn on a goroutine of its own, until the test ends. It
// returns the address.
func serveTCP(t testing.TB, svc conn.Service, opts ...conn.Option) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open[nc] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = conn.ServeNetConn(nc, svc, opts...)
				mu.Lock()
				delete(open, nc)
				mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for nc := range open {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func portOf(t testing.TB, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	_, err = strconv.Atoi(port)
	require.NoError(t, err)
	return port
}
