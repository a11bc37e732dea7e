package h1

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// response is the connection's http.ResponseWriter, reset per request. It
// implements http.Flusher, http.Hijacker and the deadline setters that
// http.ResponseController finds.
type response struct {
	c   *conn
	req *http.Request
	hdr http.Header

	// mu orders a "100 Continue" written from a body read on another
	// goroutine against the response head; only taken while one is due.
	mu            sync.Mutex
	expect        bool
	wroteContinue bool

	wroteHeader bool
	status      int
	// contentLength is the declared body length, -1 when unknown.
	contentLength int64
	written       int64
	chunked       bool
	bodyAllowed   bool
	headRequest   bool
	closeAfter    bool
	err           error
	scratch       [20]byte
}

func (w *response) reset(r *http.Request) {
	w.req = r
	w.expect = w.c.body != nil && w.c.body.expectContinue
	w.wroteContinue, w.wroteHeader, w.status = false, false, 0
	w.contentLength, w.written = -1, 0
	w.chunked, w.bodyAllowed, w.closeAfter, w.err = false, false, false, nil
	w.headRequest = r.Method == http.MethodHead
}

// Header is the response header map, reused by the connection.
func (w *response) Header() http.Header { return w.hdr }

// WriteHeader sends the response head. Informational codes (but 101) are
// sent at once and leave the final one to come.
func (w *response) WriteHeader(code int) {
	if w.wroteHeader || w.c.state.Load() == stateHijacked {
		return
	}
	if code < 100 || code > 999 {
		panic("h1: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if w.expect {
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeStatusLine(code)
		w.writeFields()
		w.c.bw.WriteString("\r\n")
		if err := w.c.bw.Flush(); err != nil {
			w.err = err
		}
		return
	}
	w.wroteHeader, w.status = true, code
	w.writeHead(false)
}

// writeContinue answers "Expect: 100-continue" when the handler first
// reads the body, unless the final answer went out already.
func (w *response) writeContinue() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wroteHeader || w.wroteContinue {
		return
	}
	w.wroteContinue = true
	w.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	if err := w.c.bw.Flush(); err != nil {
		w.err = err
	}
}

// writeHead writes the status line and fields and decides the framing:
// the handler's Content-Length, else chunked (HTTP/1.1) or a close
// (HTTP/1.0). done says the handler returned without writing a body, so
// its length is known to be zero.
func (w *response) writeHead(done bool) {
	h, code := w.hdr, w.status
	w.bodyAllowed = bodyAllowedForStatus(code)
	// The framing is the server's to choose.
	delete(h, "Transfer-Encoding")
	declared := -1
	if v := h["Content-Length"]; len(v) == 1 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
			declared = int(n)
		}
	}
	if !w.bodyAllowed && code != http.StatusNotModified {
		delete(h, "Content-Length")
		declared = -1
	}
	_, trailers := h["Trailer"]
	switch {
	case !w.bodyAllowed:
		w.contentLength = 0
	case w.headRequest:
		// A HEAD answer has no body; its Content-Length, if any, is GET's.
		w.contentLength = 0
	case declared >= 0 && !trailers:
		w.contentLength = int64(declared)
	case done && !trailers:
		w.contentLength = 0
		h["Content-Length"] = zeroLength
	case w.req.ProtoMinor >= 1:
		delete(h, "Content-Length")
		w.chunked = true
	default:
		delete(h, "Content-Length")
		w.closeAfter = true
	}
	if w.req.Close || w.c.srv.shutdown.Load() || HasToken(h["Connection"], "close") {
		w.closeAfter = true
	}
	w.writeStatusLine(code)
	w.writeFields()
	bw := w.c.bw
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if _, ok := h["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.Write(httpDate())
		bw.WriteString("\r\n")
	}
	if _, ok := h["Connection"]; !ok {
		if w.closeAfter {
			bw.WriteString("Connection: close\r\n")
		} else if w.req.ProtoMinor == 0 {
			bw.WriteString("Connection: keep-alive\r\n")
		}
	}
	bw.WriteString("\r\n")
}

var zeroLength = []string{"0"}

func (w *response) writeStatusLine(code int) {
	bw := w.c.bw
	if code < len(statusLines) && statusLines[code] != "" {
		bw.WriteString(statusLines[code])
		return
	}
	bw.WriteString("HTTP/1.1 ")
	bw.Write(strconv.AppendInt(w.scratch[:0], int64(code), 10))
	bw.WriteString(" status code ")
	bw.Write(strconv.AppendInt(w.scratch[:0], int64(code), 10))
	bw.WriteString("\r\n")
}

// writeFields writes the header fields but the trailers set after the
// body. A value cannot break the head: CR and LF become spaces.
func (w *response) writeFields() {
	bw := w.c.bw
	for k, vv := range w.hdr {
		if strings.HasPrefix(k, http.TrailerPrefix) || !validToken(k) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			if strings.IndexByte(v, '\r') >= 0 || strings.IndexByte(v, '\n') >= 0 {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
}

// Write sends body bytes, framed as the head declared.
func (w *response) Write(p []byte) (int, error) {
	if n, err := w.begin(len(p)); n >= 0 || err != nil {
		return n, err
	}
	n, err := w.c.bw.Write(p)
	return w.end(n, err)
}

// WriteString is Write without the conversion io.WriteString would make.
func (w *response) WriteString(s string) (int, error) {
	if n, err := w.begin(len(s)); n >= 0 || err != nil {
		return n, err
	}
	n, err := w.c.bw.WriteString(s)
	return w.end(n, err)
}

// begin checks a write of n bytes and writes its chunk header. It returns
// -1 and nil when the bytes are to be written, or the write's result.
func (w *response) begin(n int) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	switch {
	case w.c.state.Load() == stateHijacked:
		return 0, http.ErrHijacked
	case !w.bodyAllowed:
		return 0, http.ErrBodyNotAllowed
	case w.err != nil:
		return 0, w.err
	case w.headRequest:
		return n, nil
	case w.contentLength >= 0 && w.written+int64(n) > w.contentLength:
		return 0, http.ErrContentLength
	case n == 0:
		return 0, nil
	}
	if w.chunked {
		w.c.bw.Write(strconv.AppendInt(w.scratch[:0], int64(n), 16))
		w.c.bw.WriteString("\r\n")
	}
	return -1, nil
}

// end closes the chunk and accounts for a write.
func (w *response) end(n int, err error) (int, error) {
	if w.chunked && err == nil {
		_, err = w.c.bw.WriteString("\r\n")
	}
	w.written += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

// FlushError sends what is buffered (the head, if nothing else).
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	if err := w.c.bw.Flush(); err != nil {
		w.err = err
	}
	return w.err
}

// Flush implements http.Flusher.
func (w *response) Flush() { _ = w.FlushError() }

// SetWriteDeadline bounds the writes to the client.
func (w *response) SetWriteDeadline(t time.Time) error {
	w.c.writeDeadline = t
	return w.c.nc.SetWriteDeadline(t)
}

// WriteDeadline is the connection's write deadline as last set, zero for
// none. It outlives the request: a handler that keeps a deadline far
// enough ahead (the proxy's armWrite) need not set it on every request of
// a keep-alive connection.
func (w *response) WriteDeadline() time.Time { return w.c.writeDeadline }

// SetReadDeadline bounds the reads of the request body.
func (w *response) SetReadDeadline(t time.Time) error {
	w.c.readDeadline = t
	return w.c.nc.SetReadDeadline(t)
}

var errHijackedTwice = errors.New("h1: connection already hijacked")

// Hijack hands the connection to the handler (a protocol switch), with
// the bytes the client sent after the request head still in the reader.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c := w.c
	if c.state.Load() == stateHijacked {
		return nil, nil, errHijackedTwice
	}
	c.stopWatch()
	if err := c.bw.Flush(); err != nil {
		return nil, nil, err
	}
	c.state.Store(stateHijacked)
	return c.nc, bufio.NewReadWriter(c.br, c.bw), nil
}

// finish completes the response after the handler returned and reports
// whether the connection can carry another request.
func (w *response) finish() bool {
	if !w.wroteHeader {
		w.wroteHeader, w.status = true, http.StatusOK
		w.writeHead(true)
	}
	bw := w.c.bw
	if w.chunked && w.err == nil {
		bw.WriteString("0\r\n")
		w.writeTrailers()
		bw.WriteString("\r\n")
	}
	if w.bodyAllowed && !w.headRequest && w.contentLength >= 0 && w.written < w.contentLength {
		// The client would wait for the rest of a body that never comes.
		w.closeAfter = true
	}
	if err := bw.Flush(); err != nil || w.err != nil {
		return false
	}
	return !w.closeAfter
}

// writeTrailers writes the trailers the handler declared in "Trailer"
// and set after the body, and those set with http.TrailerPrefix.
func (w *response) writeTrailers() {
	bw := w.c.bw
	write := func(k string, vv []string) {
		for _, v := range vv {
			if strings.IndexByte(v, '\r') >= 0 || strings.IndexByte(v, '\n') >= 0 {
				continue
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	for _, decl := range w.hdr["Trailer"] {
		for k := range strings.SplitSeq(decl, ",") {
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			if vv, ok := w.hdr[k]; ok && validToken(k) {
				write(k, vv)
			}
		}
	}
	for k, vv := range w.hdr {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && validToken(name) {
			write(name, vv)
		}
	}
}

func bodyAllowedForStatus(code int) bool {
	return !(code >= 100 && code <= 199 || code == http.StatusNoContent || code == http.StatusNotModified)
}

// statusLines are the status lines of the registered codes, made once.
var statusLines = func() []string {
	lines := make([]string, 600)
	for code := range lines {
		if text := http.StatusText(code); text != "" {
			lines[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n"
		}
	}
	return lines
}()

// dateCache holds the Date field of the current second.
var dateCache atomic.Pointer[dateEntry]

type dateEntry struct {
	sec int64
	b   []byte
}

func httpDate() []byte {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.b
	}
	d := &dateEntry{sec: now.Unix(), b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	dateCache.Store(d)
	return d.b
}
