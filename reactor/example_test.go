//go:build linux

package reactor_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"

	"github.com/rpycgo/rpycgo/reactor"
)

// maxFrame bounds the frames the example accepts.
const maxFrame = 16 << 20

var errFrameTooLarge = errors.New("frame too large")

// frames splits a byte stream into frames of a 4-byte big-endian length
// and a body. It is resumable: it keeps an incomplete frame until the rest
// arrives. Whole frames inside p are passed on without copying.
type frames struct{ partial []byte }

// feed passes every whole frame (length prefix included) to emit. A frame
// is valid only during emit.
func (f *frames) feed(p []byte, emit func(frame []byte) error) error {
	for len(f.partial) > 0 { // complete the kept frame first
		need := 4
		if len(f.partial) >= 4 {
			n := binary.BigEndian.Uint32(f.partial)
			if n > maxFrame {
				return errFrameTooLarge
			}
			need += int(n)
		}
		if len(f.partial) == need {
			if err := emit(f.partial); err != nil {
				return err
			}
			f.partial = f.partial[:0]
			break
		}
		if len(p) == 0 {
			return nil
		}
		take := min(need-len(f.partial), len(p))
		f.partial = append(f.partial, p[:take]...)
		p = p[take:]
	}
	for len(p) >= 4 {
		n := binary.BigEndian.Uint32(p)
		if n > maxFrame {
			return errFrameTooLarge
		}
		if len(p) < 4+int(n) {
			break
		}
		if err := emit(p[:4+n]); err != nil {
			return err
		}
		p = p[4+n:]
	}
	f.partial = append(f.partial, p...)
	return nil
}

// appendFrame appends body with its length prefix.
func appendFrame(dst, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}

// echo is a server handler that sends every frame back.
type echo struct{}

func (echo) OnOpen(c reactor.Conn) error {
	c.SetContext(&frames{})
	return nil
}

func (echo) OnData(c reactor.Conn, p []byte) error {
	return c.Context().(*frames).feed(p, c.Write) // Write copies the frame
}

func (echo) OnClose(reactor.Conn, error) {}

// client is a handler that hands each frame it gets to a channel.
type client struct{ got chan string }

func (cl client) OnOpen(c reactor.Conn) error {
	c.SetContext(&frames{})
	return nil
}

func (cl client) OnData(c reactor.Conn, p []byte) error {
	return c.Context().(*frames).feed(p, func(frame []byte) error {
		cl.got <- string(frame[4:]) // copy: the frame is not ours to keep
		return nil
	})
}

func (cl client) OnClose(reactor.Conn, error) {}

// Example_lengthPrefixedEcho embeds the reactor in a server of its own for
// a protocol of length-prefixed frames, and talks to it with a client
// connection driven by the same engine.
func Example_lengthPrefixedEcho() {
	eng, err := reactor.New("gnet", reactor.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()

	ln, err := eng.Listen("tcp", "127.0.0.1:0", echo{})
	if err != nil {
		log.Fatal(err)
	}

	cl := client{got: make(chan string, 2)}
	conn, err := eng.Dial(context.Background(), "tcp", ln.Addr().String(), cl)
	if err != nil {
		log.Fatal(err)
	}
	// Two frames, one system call: they are queued together.
	_ = conn.Write(appendFrame(nil, []byte("hello")))
	_ = conn.Write(appendFrame(nil, []byte("reactor")))
	fmt.Println(<-cl.got, <-cl.got)
	// Output: hello reactor
}
