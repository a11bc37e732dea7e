//go:build linux

package netraw_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sidecar/netraw"
)

// pair returns a wrapped client connection and the server side of a real
// loopback TCP connection.
func pair(t *testing.T) (client net.Conn, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	client = netraw.Wrap(nc)
	if _, ok := client.(*netraw.Conn); !ok {
		t.Fatalf("Wrap(%T) = %T, want a *netraw.Conn", nc, client)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestRoundTrip: bytes written either way arrive whole, and a read takes
// what is there.
func TestRoundTrip(t *testing.T) {
	c, s := pair(t)
	if n, err := c.Write([]byte("ping")); n != 4 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	buf := make([]byte, 16)
	if n, err := io.ReadFull(s, buf[:4]); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("server read %q, %v", buf[:n], err)
	}
	s.Write([]byte("pong"))
	if n, err := io.ReadFull(c, buf[:4]); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("client read %q, %v", buf[:n], err)
	}
	if n, err := c.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v", n, err)
	}
}

// TestLargeWrite: a write larger than the socket buffers waits for the
// reader (EAGAIN, then the poller) and delivers every byte in order.
func TestLargeWrite(t *testing.T) {
	c, s := pair(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(s)
		got <- b
	}()
	if n, err := c.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	c.(*netraw.Conn).Conn.(*net.TCPConn).CloseWrite()
	if b := <-got; !bytes.Equal(b, data) {
		t.Errorf("read %d bytes, not the %d written", len(b), len(data))
	}
}

// TestEOFAndErrors: the peer's close is io.EOF; a read or write after
// Close fails; a reset is a *net.OpError.
func TestEOFAndErrors(t *testing.T) {
	c, s := pair(t)
	s.Close()
	if _, err := c.Read(make([]byte, 8)); err != io.EOF {
		t.Errorf("read after the peer closed: %v, want io.EOF", err)
	}
	c.Close()
	if _, err := c.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after Close: %v, want net.ErrClosed", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after Close: %v, want net.ErrClosed", err)
	}

	c, s = pair(t)
	s.(*net.TCPConn).SetLinger(0)
	s.Close() // RST
	var err error
	for range 100 { // until the reset has arrived
		if _, err = c.Write([]byte("x")); err != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "write" {
		t.Errorf("write to a reset connection: %v (%T), want a *net.OpError", err, err)
	}
}

// TestDeadlines: a read deadline ends a read that waits, with a timeout
// error, as net.Conn's does; so does one already past.
func TestDeadlines(t *testing.T) {
	c, _ := pair(t)
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Read(make([]byte, 8))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past the deadline: %v, want a timeout", err)
	}
	if op := new(net.OpError); !errors.As(err, &op) || op.Op != "read" {
		t.Errorf("read past the deadline: %v, want a *net.OpError of read", err)
	}
	c.SetReadDeadline(time.Unix(1, 0))
	if _, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read with a passed deadline: %v", err)
	}
}

// TestConcurrentReadWrite: one reader and one writer at a time, as
// net.Conn allows (run with -race).
func TestConcurrentReadWrite(t *testing.T) {
	c, s := pair(t)
	go io.Copy(s, s) // echo
	const n = 1000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range n {
			c.Write([]byte("abcd"))
		}
	}()
	got, err := io.ReadAll(io.LimitReader(c, 4*n))
	wg.Wait()
	if err != nil || len(got) != 4*n {
		t.Errorf("echoed %d bytes, %v", len(got), err)
	}
}

// TestWrapOther: what is not a TCP connection is returned as it is.
func TestWrapOther(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := netraw.Wrap(a); got != a {
		t.Errorf("Wrap(pipe) = %T", got)
	}
}

// TestNoAllocations: a read and a write cost no allocation.
func TestNoAllocations(t *testing.T) {
	c, s := pair(t)
	msg, buf, sbuf := []byte("hello"), make([]byte, 8), make([]byte, 8)
	if n := testing.AllocsPerRun(200, func() {
		c.Write(msg)
		io.ReadFull(s, sbuf[:5])
		s.Write(msg)
		io.ReadFull(c, buf[:5])
	}); n != 0 {
		t.Errorf("%v allocations per round trip", n)
	}
}

// BenchmarkRoundTrip compares a small write and read on a raw Conn with
// the same on a net.Conn.
func BenchmarkRoundTrip(b *testing.B) {
	for _, raw := range []bool{true, false} {
		name := "net"
		if raw {
			name = "netraw"
		}
		b.Run(name, func(b *testing.B) {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			defer ln.Close()
			go func() {
				s, _ := ln.Accept()
				io.Copy(s, s)
			}()
			nc, _ := net.Dial("tcp", ln.Addr().String())
			defer nc.Close()
			c := nc
			if raw {
				c = netraw.Wrap(nc)
			}
			msg, buf := []byte("hello"), make([]byte, 5)
			b.ReportAllocs()
			for b.Loop() {
				c.Write(msg)
				io.ReadFull(c, buf)
			}
		})
	}
}
