package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/sidecar/h1"
	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// The forward path carries an exchange to a plain-HTTP upstream over a
// FastTransport connection without building an outbound http.Request or
// reading an http.Response: the request head is written from the inbound
// request's fields, and the response head is parsed into the pooled
// state's header map, whose strings view the state's own buffer. It takes
// the requests FastTransport.RoundTrip would (no body, or a small one of
// known length; no upgrade, no Expect), and costs no allocation.

// rawResponse is the upstream's answer as the forward path read it. It
// lives in the pooled state: its strings are valid until the exchange ends.
type rawResponse struct {
	head []byte
	vals []string
	hdr  http.Header
	code int
	// length is the body's Content-Length; -1 for chunked or until close.
	length  int64
	chunked bool
	// keepAlive is false when the upstream asked to close, answered with
	// HTTP/1.0 without keep-alive, or framed its body by closing.
	keepAlive bool
	trailer   http.Header
}

// rawBody reads a response body off the connection, framed as its head
// said, moving the read deadline on as fastBody does.
type rawBody struct {
	c        *fastConn
	t        *FastTransport
	resp     *rawResponse
	left     int64
	chunks   io.Reader
	eof      bool
	deadline time.Time
}

func (b *rawBody) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	var n int
	var err error
	switch {
	case b.chunks != nil:
		b.keepDeadline()
		n, err = b.chunks.Read(p)
		if err == io.EOF {
			b.resp.trailer, err = h1.ReadTrailer(b.c.br, maxResponseHead)
			if err == nil {
				err = io.EOF
			}
		}
	case b.left == 0:
		err = io.EOF
	case b.left > 0:
		b.keepDeadline()
		n, err = h1.ReadLength(b.c.br, p, &b.left)
	default:
		b.keepDeadline()
		n, err = b.c.br.Read(p)
	}
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// keepDeadline moves the read deadline on before a read, once half of it
// has passed (to spare the timer): a body that stalls fails after
// ResponseHeaderTimeout without progress.
func (b *rawBody) keepDeadline() {
	if b.c.br.Buffered() > 0 {
		// The read will not wait.
		return
	}
	if d := b.t.ResponseHeaderTimeout; time.Until(b.deadline) < d/2 {
		b.deadline = time.Now().Add(d)
		b.c.nc.SetReadDeadline(b.deadline)
	}
}

// forwardable reports whether r takes the forward path.
func (h *Handler) forwardable(r *http.Request) bool {
	if h.fast == nil || h.target.Scheme != "http" || r.TransferEncoding != nil ||
		r.ContentLength < 0 || r.ContentLength > maxFastBody {
		return false
	}
	if _, ok := r.Header["Upgrade"]; ok {
		return false
	}
	_, expect := r.Header["Expect"]
	return !expect
}

// clientBodyError is the client's request body failing while the forward
// path read it: the client's fault, not the upstream's.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "read request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

// forward carries the exchange on the forward path.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, st *state) {
	x := &st.x
	t := h.fast
	ctx := x.Context
	if len(st.extra) > 0 {
		clear(st.extra)
	}
	if h.opts.Decorate != nil {
		h.opts.Decorate(x, st.extra)
	}
	var c *fastConn
	for attempt := 0; ; attempt++ {
		var reused bool
		var err error
		now := time.Now()
		c, reused = t.getIdle(now)
		if h.opts.TraceUpstream && attempt == 0 {
			x.Upstream.Sent = now
		}
		if c == nil {
			if c, err = t.dial(ctx, h.target.Host); err != nil {
				h.fail(w, r, st, err)
				return
			}
			now = time.Now()
		}
		// now is when the connection was in hand: a pooled one costs no
		// time worth a second clock read.
		if h.opts.TraceUpstream {
			x.Upstream.Conn, x.Upstream.Reused = now.Sub(x.Upstream.Sent), reused
		}
		watch(ctx, c)
		if err = h.exchangeHead(c, r, st, now); err == nil {
			break
		}
		unwatch(ctx, c)
		c.nc.Close()
		var cbe *clientBodyError
		if errors.As(err, &cbe) {
			h.badBody(w, r, st, cbe.err)
			return
		}
		if ctx.Err() == nil && reused && attempt == 0 && !isTimeout(err) && r.ContentLength == 0 && idempotent(r.Method) {
			// A pooled connection the app closed while idle: once more
			// on a new one.
			continue
		}
		h.fail(w, r, st, err)
		return
	}
	reusable := false
	// Deferred: relay aborts the client connection with a panic when the
	// body breaks, and the upstream connection must not leak then.
	defer func() {
		unwatch(ctx, c)
		// The head's read deadline stays: the next exchange on c sets its
		// own before reading, and closedByPeer takes a passed one for a
		// dead connection, which costs a dial at worst.
		if reusable && ctx.Err() == nil {
			t.putIdle(c)
		} else {
			c.nc.Close()
		}
	}()
	reusable = h.relay(w, r, st, c)
}

// watch makes a client that goes away interrupt c's blocked reads: with
// no allocation under the h1 server, with context.AfterFunc otherwise.
func watch(ctx context.Context, c *fastConn) {
	if h1.Interrupt(ctx, c.nc) {
		return
	}
	nc := c.nc
	c.stopWatch = context.AfterFunc(ctx, func() { nc.SetDeadline(aLongTimeAgo) })
}

func unwatch(ctx context.Context, c *fastConn) {
	if c.stopWatch != nil {
		c.stopWatch()
		c.stopWatch = nil
		return
	}
	h1.Interrupt(ctx, nil)
}

// exchangeHead writes the request on c and reads the response head into
// st.resp, within the ResponseHeaderTimeout from now.
func (h *Handler) exchangeHead(c *fastConn, r *http.Request, st *state, now time.Time) error {
	x := &st.x
	deadline := now.Add(h.fast.ResponseHeaderTimeout)
	c.headDeadline = deadline
	if err := c.nc.SetReadDeadline(deadline); err != nil {
		return err
	}
	h.writeHead(c.bw, r, st)
	if r.ContentLength > 0 {
		if err := h.writeBody(c.bw, r, st); err != nil {
			return err
		}
	}
	if err := c.bw.Flush(); err != nil {
		return err
	}
	if h.opts.TraceUpstream {
		x.Upstream.Wrote = time.Now().Sub(x.Upstream.Sent)
	}
	c.lim.n = maxResponseHead
	err := h.readResponseHead(c, r, st)
	c.lim.n = -1
	if err != nil {
		return headError(c, err, deadline)
	}
	return nil
}

// writeHead writes the request head: the client's fields but the
// hop-by-hop ones, X-Forwarded-*, and what Decorate set.
func (h *Handler) writeHead(bw *bufio.Writer, r *http.Request, st *state) {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	if p := h.target.Path; p != "" && p != "/" {
		bw.WriteString(trimSlash(p))
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	bw.WriteString(path)
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		bw.WriteByte('?')
		bw.WriteString(r.URL.RawQuery)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	if r.Host != "" {
		bw.WriteString(r.Host)
	} else {
		bw.WriteString(h.target.Host)
	}
	bw.WriteString("\r\n")
	connection := r.Header["Connection"]
	for k, vv := range r.Header {
		if isHop(k) || st.extra[k] != nil || h1.HasToken(connection, k) {
			continue
		}
		switch k {
		case "Content-Length", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
			continue
		}
		writeField(bw, k, vv)
	}
	prior := r.Header["X-Forwarded-For"]
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		bw.WriteString("X-Forwarded-For: ")
		for _, v := range prior {
			bw.WriteString(v)
			bw.WriteString(", ")
		}
		bw.WriteString(ip)
		bw.WriteString("\r\n")
	} else if len(prior) > 0 {
		writeField(bw, "X-Forwarded-For", prior)
	}
	bw.WriteString("X-Forwarded-Host: ")
	bw.WriteString(r.Host)
	if r.TLS != nil {
		bw.WriteString("\r\nX-Forwarded-Proto: https\r\n")
	} else {
		bw.WriteString("\r\nX-Forwarded-Proto: http\r\n")
	}
	if h1.HasToken(r.Header["Te"], "trailers") {
		bw.WriteString("Te: trailers\r\n")
	}
	switch {
	case r.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(st.scratch[:0], r.ContentLength, 10))
		bw.WriteString("\r\n")
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		// Many servers want a length on these methods (as net/http sends).
		bw.WriteString("Content-Length: 0\r\n")
	}
	for k, vv := range st.extra {
		writeField(bw, k, vv)
	}
	bw.WriteString("\r\n")
}

func trimSlash(p string) string {
	if n := len(p); n > 0 && p[n-1] == '/' {
		return p[:n-1]
	}
	return p
}

func writeField(bw *bufio.Writer, k string, vv []string) {
	for _, v := range vv {
		bw.WriteString(k)
		bw.WriteString(": ")
		bw.WriteString(v)
		bw.WriteString("\r\n")
	}
}

// writeBody copies the request body (its length known and small) to bw,
// teeing it into the request tap.
func (h *Handler) writeBody(bw *bufio.Writer, r *http.Request, st *state) error {
	x := &st.x
	bp := h.buffers.Get().(*[]byte)
	defer h.buffers.Put(bp)
	buf := *bp
	left := r.ContentLength
	for left > 0 {
		n, err := r.Body.Read(buf[:min(int64(len(buf)), left)])
		if n > 0 {
			left -= int64(n)
			x.BytesIn += int64(n)
			if x.RequestBody.Armed {
				tapAppend(&x.RequestBody, buf[:n], h.opts.Taps.Limit)
			}
			if _, werr := bw.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF && left > 0 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil && err != io.EOF {
			return &clientBodyError{err}
		}
		if err == io.EOF {
			break
		}
	}
	return nil
}

var errSwitched = errors.New("proxy: upstream switched protocols unasked")

// readResponseHead reads the final response head (skipping 1xx) into
// st.resp and decides its body's framing.
func (h *Handler) readResponseHead(c *fastConn, r *http.Request, st *state) error {
	resp := &st.resp
	first := true
	for {
		var err error
		resp.head, err = h1.ReadHead(c.br, resp.head[:0], maxResponseHead)
		if first && h.opts.TraceUpstream && len(resp.head) > 0 {
			st.x.Upstream.FirstByte = time.Now().Sub(st.x.Upstream.Sent)
			first = false
		}
		if err != nil {
			if err == h1.ErrHeadTooLarge {
				return errHeadTooLarge
			}
			return err
		}
		line, _, _ := bytes.Cut(resp.head, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		code, keepAlive, err := parseStatusLine(line)
		if err != nil {
			return err
		}
		if code == http.StatusSwitchingProtocols {
			return errSwitched
		}
		if code >= 200 {
			resp.code, resp.keepAlive = code, keepAlive
			break
		}
	}
	clear(resp.hdr)
	clear(resp.vals)
	resp.vals = resp.vals[:0]
	resp.trailer = nil
	fields := resp.head[bytes.IndexByte(resp.head, '\n')+1:]
	var err error
	if resp.vals, err = h1.ParseFields(fields, resp.hdr, resp.vals); err != nil {
		return fmt.Errorf("proxy: upstream response head: %w", err)
	}
	hdr := resp.hdr
	if v := hdr["Connection"]; len(v) > 0 {
		if h1.HasToken(v, "close") {
			resp.keepAlive = false
		} else if h1.HasToken(v, "keep-alive") {
			resp.keepAlive = true
		}
	}
	resp.length, resp.chunked = -1, false
	switch te, cl := hdr["Transfer-Encoding"], hdr["Content-Length"]; {
	case r.Method == http.MethodHead || resp.code == http.StatusNoContent || resp.code == http.StatusNotModified:
		resp.length = 0
	case len(te) > 0:
		// Chunked last, or the body ends with the connection.
		resp.chunked = h1.HasToken(te[len(te)-1:], "chunked")
		delete(hdr, "Content-Length")
	case len(cl) > 0:
		for _, v := range cl[1:] {
			if v != cl[0] {
				return errors.New("proxy: upstream sent conflicting Content-Length")
			}
		}
		n, err := strconv.ParseUint(cl[0], 10, 63)
		if err != nil {
			return errors.New("proxy: upstream sent a bad Content-Length")
		}
		resp.length = int64(n)
	}
	if resp.length < 0 && !resp.chunked {
		resp.keepAlive = false
	}
	return nil
}

// parseStatusLine reads "HTTP/1.x NNN reason": the code, and whether the
// version keeps the connection alive by default.
func parseStatusLine(line []byte) (code int, keepAlive bool, err error) {
	proto, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok || len(rest) < 3 || len(rest) > 3 && rest[3] != ' ' {
		return 0, false, fmt.Errorf("proxy: malformed upstream status line %q", line)
	}
	switch string(proto) {
	case "HTTP/1.1":
		keepAlive = true
	case "HTTP/1.0":
	default:
		return 0, false, fmt.Errorf("proxy: malformed upstream status line %q", line)
	}
	for _, d := range rest[:3] {
		if d < '0' || d > '9' {
			return 0, false, fmt.Errorf("proxy: malformed upstream status code %q", rest[:3])
		}
		code = code*10 + int(d-'0')
	}
	if code < 100 {
		return 0, false, fmt.Errorf("proxy: malformed upstream status code %q", rest[:3])
	}
	return code, keepAlive, nil
}

// relay sends the response read into st.resp to the client and reports
// whether c can carry another request.
func (h *Handler) relay(w http.ResponseWriter, r *http.Request, st *state, c *fastConn) bool {
	x := &st.x
	resp := &st.resp
	x.Status = resp.code
	if x.Status >= 500 {
		x.Source = metricnames.SourceApp
	}
	dst := w.Header()
	connection := resp.hdr["Connection"]
	for k, vv := range resp.hdr {
		if isHop(k) || h1.HasToken(connection, k) {
			continue
		}
		if prior, ok := dst[k]; ok {
			dst[k] = append(prior, vv...)
		} else {
			dst[k] = vv
		}
	}
	if x.TraceID != "" {
		dst[h.opts.TraceIDHeader] = traceValue(st, x.TraceID)
	}
	if tr := resp.hdr["Trailer"]; len(tr) > 0 && resp.chunked {
		// Read again by the server after the handler returned (to write
		// the trailers), when this state may serve another exchange: a
		// copy of its own.
		dst["Trailer"] = cloneStrings(tr)
	}
	x.ResponseHeader = dst
	x.ResponseBody.Armed = h.opts.Taps.Limit > 0 && h.opts.Taps.Response != nil && h.opts.Taps.Response(x.Status)

	st.body = rawBody{c: c, t: h.fast, resp: resp, left: resp.length, deadline: c.headDeadline}
	if resp.chunked {
		st.body.chunks = httputil.NewChunkedReader(c.br)
	}
	h.armWrite(w, st)
	w.WriteHeader(resp.code)
	flush := resp.length < 0 || isEventStream(dst)
	if flush {
		_ = http.NewResponseController(w).Flush()
	}
	if !h.relayBody(w, r, st, &st.body, flush) {
		return false
	}
	for k, vv := range resp.trailer {
		dst[http.TrailerPrefix+k] = vv
	}
	return st.body.eof && resp.keepAlive && resp.code < 500
}

func cloneStrings(vv []string) []string {
	out := make([]string, len(vv))
	for i, v := range vv {
		out[i] = strings.Clone(v)
	}
	return out
}

// traceValue is the X-Trace-Id value: one string in a slice of the
// state's, not a new slice per request.
func traceValue(st *state, id string) []string {
	st.traceVal[0] = id
	return st.traceVal[:1:1]
}
