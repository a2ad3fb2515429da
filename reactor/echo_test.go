//go:build linux

package reactor_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rpycgo/rpycgo/reactor"
)

// TestEcho runs a length-prefixed echo server on each engine and network
// and drives it with 200 concurrent clients of 200 frames each, written in
// chunks cut at random points.
func TestEcho(t *testing.T) {
	const clients, framesPerClient = 200, 200
	for _, name := range engineNames {
		for _, tr := range transports {
			t.Run(name+"/"+tr.name, func(t *testing.T) {
				e := newEngine(t, name, reactor.Config{})
				rec := newRecorder()
				ln, err := e.Listen(tr.network, tr.addr(t), rec)
				require.NoError(t, err)
				addr := ln.Addr()

				var wg sync.WaitGroup
				errs := make(chan error, clients)
				for i := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						rng := rand.New(rand.NewPCG(uint64(i), 7))
						nc, err := net.Dial(addr.Network(), addr.String())
						if err != nil {
							errs <- err
							return
						}
						defer nc.Close()
						if err := echoRoundTrip(nc, rng, randomFrames(rng, framesPerClient)); err != nil {
							errs <- fmt.Errorf("client %d: %w", i, err)
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					require.NoError(t, err)
				}
				rec.requireClosedOnce(t)
				opens, _ := rec.counts()
				require.Equal(t, clients, opens)
			})
		}
	}
}

// TestDialAcrossEngines dials with Engine.Dial from each engine to a
// listener of each engine (the same one included) and echoes frames.
func TestDialAcrossEngines(t *testing.T) {
	const conns, framesPerConn = 8, 50
	for _, tr := range transports {
		for _, srvName := range engineNames {
			for _, cliName := range engineNames {
				t.Run(tr.name+"/"+srvName+"<-"+cliName, func(t *testing.T) {
					srv := newEngine(t, srvName, reactor.Config{})
					cli := srv
					if cliName != srvName {
						cli = newEngine(t, cliName, reactor.Config{})
					}
					rec := newRecorder()
					ln, err := srv.Listen(tr.network, tr.addr(t), rec)
					require.NoError(t, err)

					var wg sync.WaitGroup
					for i := range conns {
						wg.Add(1)
						go func() {
							defer wg.Done()
							rng := rand.New(rand.NewPCG(uint64(i), 11))
							stream := randomFrames(rng, framesPerConn)
							col := newCollector(len(stream))
							c, err := cli.Dial(context.Background(), tr.network, ln.Addr().String(), col)
							if !assertNoError(t, err) {
								return
							}
							defer c.Close()
							if c.Engine() != cliName {
								t.Errorf("engine %q, want %q", c.Engine(), cliName)
							}
							// Frames go out one Write each.
							for rest := stream; len(rest) > 0; {
								n := 4 + frameLen(rest)
								for {
									err := c.Write(rest[:n])
									if err != reactor.ErrQueueFull {
										assertNoError(t, err)
										break
									}
									ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
									assertNoError(t, c.WaitWritable(ctx))
									cancel()
								}
								rest = rest[n:]
							}
							select {
							case <-col.done:
							case <-time.After(30 * time.Second):
								t.Errorf("conn %d: echo not complete", i)
								return
							}
							if !bytes.Equal(col.bytes(), stream) {
								t.Errorf("conn %d: echo differs", i)
							}
						}()
					}
					wg.Wait()
					require.NoError(t, cli.Close())
					require.NoError(t, srv.Close())
					rec.requireClosedOnce(t)
				})
			}
		}
	}
}

// TestWritesFromOtherGoroutines has the server push numbered frames from a
// goroutine of its own (not a handler): they must arrive whole and in
// order.
func TestWritesFromOtherGoroutines(t *testing.T) {
	const n = 20000
	for _, name := range engineNames {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, name, reactor.Config{MaxQueued: 64 << 10})
			rec := newRecorder()
			var pushers sync.WaitGroup
			rec.onOpen = func(c reactor.Conn) {
				pushers.Add(1)
				go func() {
					defer pushers.Done()
					var frame []byte
					for i := 0; i < n; i++ {
						frame = appendFrame(frame[:0], []byte(fmt.Sprintf("frame %08d %s", i, bytes.Repeat([]byte{'x'}, i%300))))
						for {
							err := c.Write(frame)
							if err != reactor.ErrQueueFull {
								if err != nil {
									t.Errorf("write %d: %v", i, err)
									return
								}
								break
							}
							ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
							err = c.WaitWritable(ctx)
							cancel()
							if err != nil {
								t.Errorf("wait %d: %v", i, err)
								return
							}
						}
					}
				}()
			}
			ln, err := e.Listen("tcp4", "127.0.0.1:0", rec)
			require.NoError(t, err)
			nc, err := net.Dial("tcp4", ln.Addr().String())
			require.NoError(t, err)
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(60 * time.Second))

			var f frames
			next := 0
			buf := make([]byte, 64<<10)
			for next < n {
				m, err := nc.Read(buf)
				require.NoError(t, err)
				require.NoError(t, f.feed(buf[:m], func(frame []byte) error {
					want := fmt.Sprintf("frame %08d ", next)
					if !bytes.HasPrefix(frame[4:], []byte(want)) {
						return fmt.Errorf("got %.20q, want %q", frame[4:], want)
					}
					next++
					return nil
				}))
			}
			pushers.Wait()
		})
	}
}

// assertNoError reports err without stopping a goroutine's caller.
func assertNoError(t testing.TB, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}
