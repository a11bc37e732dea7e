package testkit

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
)

// RawUpstream serves every request on its listener with one canned
// HTTP/1.1 response, without allocating per request, so that a benchmark's
// allocation count is the proxy's alone. It closes with the test.
func RawUpstream(tb testing.TB, contentType, body string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: " + contentType + "\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nDate: Fri, 27 Nov 2026 10:00:00 GMT\r\nServer: raw\r\n\r\n" + body)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveRaw(c, resp)
		}
	}()
	return ln.Addr().String()
}

func serveRaw(c net.Conn, resp []byte) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4<<10)
	for {
		if err := skipHead(br); err != nil {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// skipHead reads one message head (bodies are not expected).
func skipHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
			return nil
		}
	}
}

// RawClient sends one request head again and again on a keep-alive
// connection and reads each response, without allocating per request.
type RawClient struct {
	c   net.Conn
	br  *bufio.Reader
	req []byte
	buf [8 << 10]byte
}

// DialRaw connects a RawClient that sends req (a whole request head).
func DialRaw(addr, req string) (*RawClient, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &RawClient{c: c, br: bufio.NewReaderSize(c, 8<<10), req: []byte(req)}, nil
}

var errNoLength = errors.New("testkit: response without Content-Length")

// Do sends the request and reads the response; it returns the status code.
func (rc *RawClient) Do() (int, error) {
	if _, err := rc.c.Write(rc.req); err != nil {
		return 0, err
	}
	code, length := 0, -1
	for first := true; ; first = false {
		line, err := rc.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if first {
			if len(line) < 12 {
				return 0, errors.New("testkit: short status line")
			}
			code = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
			continue
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte{':'}); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			n := 0
			for _, d := range bytes.TrimSpace(v) {
				n = n*10 + int(d-'0')
			}
			length = n
		}
	}
	if length < 0 {
		return code, errNoLength
	}
	for length > 0 {
		n, err := rc.br.Read(rc.buf[:min(length, len(rc.buf))])
		length -= n
		if err != nil && length > 0 {
			return code, err
		}
	}
	return code, nil
}

// Close closes the connection.
func (rc *RawClient) Close() error { return rc.c.Close() }

var _ io.Closer = (*RawClient)(nil)
