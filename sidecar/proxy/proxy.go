// Package proxy forwards HTTP requests to one upstream app and reports each
// exchange to observers (metrics, access log, capture, spans).
//
// The forwarding follows net/http/httputil.ReverseProxy's rules (hop-by-hop
// headers, X-Forwarded-*, trailers, protocol upgrades, flushing of streamed
// responses) but owns its hot path: exchanges and copy buffers are pooled,
// bodies are teed into bounded taps only when armed, and the observers see
// one Exchange instead of a chain of wrapped handlers.
package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/sidecar/exchange"
	"github.com/faultline-dev/faultline/sidecar/h1"
	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// Options configures a Handler. The zero value of every field but Upstream
// means the default.
type Options struct {
	// Upstream is the app's base URL (scheme and host; a path is prefixed).
	Upstream *url.URL
	// Transport carries requests to the upstream. Nil means
	// NewFastTransport(TransportOptions{}).
	Transport http.RoundTripper
	// Observer watches every exchange. Nil means none.
	Observer exchange.Observer
	// Route maps a request path to its route template. Nil labels every
	// request metricnames.RouteUnmatched.
	Route func(path string) string
	// Taps decides which bodies are recorded for the observers.
	Taps exchange.Taps
	// AuthCookies are cookie names that count as credentials, beside the
	// Authorization header.
	AuthCookies []string
	// Logger receives errors the client cannot be told about. Nil discards.
	Logger *slog.Logger
	// Decorate, if set, is called with the outbound request's header before
	// it is sent, after the observers' Begin (tracing injects traceparent
	// here). Values it sets replace the client's.
	Decorate func(x *exchange.Exchange, h http.Header)
	// TraceUpstream fills each Exchange's Upstream timing (for tracing).
	TraceUpstream bool
	// TraceIDHeader names the response header that carries the exchange's
	// TraceID to the client; empty means "X-Trace-Id".
	TraceIDHeader string
	// WriteTimeout bounds each write to the client (nginx's send_timeout):
	// a client that stops reading is cut off after it, and its upstream
	// connection released. Zero means no bound.
	WriteTimeout time.Duration
}

// Handler is the reverse proxy. It is safe for concurrent use.
type Handler struct {
	opts      Options
	transport http.RoundTripper
	// fast is transport as a FastTransport, for the forward path; nil
	// with any other transport.
	fast    *FastTransport
	target  *url.URL
	log     *slog.Logger
	states  sync.Pool
	buffers sync.Pool
}

// state is the pooled per-request memory. The request body wrapper is not
// pooled with it: the transport may still hold it after the exchange ended.
type state struct {
	x   exchange.Exchange
	tap *bodyTap
	// writeDeadline is the client connection's write deadline as armWrite
	// last set it; zero until then.
	writeDeadline time.Time

	// The forward path's memory (see forward.go): the fields Decorate
	// sets, the upstream's response and the reader of its body.
	extra    http.Header
	resp     rawResponse
	body     rawBody
	scratch  [20]byte
	traceVal [1]string
}

// emptyValue is a shared header value of one empty string; never appended to.
var emptyValue = []string{""}

// copyBufferSize is the size of the pooled body copy buffers: one per
// request in flight, so it bounds memory at many connections (nginx uses
// 4-8 KiB proxy buffers too).
const copyBufferSize = 8 << 10

// New returns a Handler forwarding to opts.Upstream.
func New(opts Options) *Handler {
	h := &Handler{opts: opts, target: opts.Upstream, transport: opts.Transport, log: opts.Logger}
	if h.transport == nil {
		h.transport = NewFastTransport(TransportOptions{})
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.opts.Route == nil {
		h.opts.Route = func(string) string { return metricnames.RouteUnmatched }
	}
	if h.opts.TraceIDHeader == "" {
		h.opts.TraceIDHeader = "X-Trace-Id"
	}
	if h.opts.Observer == nil {
		h.opts.Observer = exchange.Observers(nil)
	}
	h.fast, _ = h.transport.(*FastTransport)
	h.states.New = func() any {
		return &state{extra: make(http.Header, 4), resp: rawResponse{hdr: make(http.Header, 16)}}
	}
	h.buffers.New = func() any { b := make([]byte, copyBufferSize); return &b }
	return h
}

// ServeHTTP forwards r to the upstream and copies the response back.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := h.states.Get().(*state)
	x := &st.x
	x.Start = time.Now()
	x.Request = r
	x.Context = r.Context()
	x.Route = h.opts.Route(r.URL.Path)
	x.Credentials = h.hasCredentials(r)
	x.RequestBody.Armed = h.opts.Taps.Request && h.opts.Taps.Limit > 0
	h.opts.Observer.Begin(x)
	// A previous request on this keep-alive connection left its write
	// deadline (net/http resets it only with Server.WriteTimeout); a
	// "100 Continue" may be written before the response. h1 says what it
	// is, so that it moves only when less than half is left.
	if wd, ok := w.(interface{ WriteDeadline() time.Time }); ok {
		st.writeDeadline = wd.WriteDeadline()
	}
	h.armWriteAt(w, st, x.Start)
	if len(r.TransferEncoding) > 0 {
		// Content-Length may have come with Transfer-Encoding (net/http
		// drops it before the handler sees it): RFC 9112 section 6.1 asks
		// to close the connection after answering such a request, so that
		// no bytes after its body can be read as another request.
		w.Header().Set("Connection", "close")
	}
	defer func() {
		// Runs on an abort (http.ErrAbortHandler) too.
		if st.tap != nil {
			st.tap.seal()
		}
		x.Duration = time.Now().Sub(x.Start)
		h.opts.Observer.End(x)
		h.flush(w, x)
		x.Reset()
		st.tap = nil
		st.writeDeadline = time.Time{}
		h.states.Put(st)
	}()

	if h.forwardable(r) {
		h.forward(w, r, st)
		return
	}
	out := h.outbound(r, st)
	if h.opts.Decorate != nil {
		h.opts.Decorate(x, out.Header)
	}
	if h.opts.TraceUpstream {
		var ut *upstreamTrace
		out, ut = traceUpstream(out, time.Now())
		defer ut.copyTo(&x.Upstream)
	}
	resp, err := h.transport.RoundTrip(out)
	if err != nil {
		if st.tap != nil {
			if cerr := st.tap.clientErr(); cerr != nil {
				h.badBody(w, r, st, cerr)
				return
			}
		}
		h.fail(w, r, st, err)
		return
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		h.upgrade(w, r, x, resp)
		return
	}
	h.respond(w, r, st, resp)
}

// outbound builds the upstream request from the inbound one. Like
// httputil.ReverseProxy it shallow-copies r and replaces the parts that
// differ, so the inbound request stays untouched for the observers.
func (h *Handler) outbound(r *http.Request, st *state) *http.Request {
	out := r.WithContext(st.x.Context)
	u := new(url.URL)
	*u = *r.URL
	u.Scheme = h.target.Scheme
	u.Host = h.target.Host
	if h.target.Path != "" && h.target.Path != "/" {
		u.Path = strings.TrimSuffix(h.target.Path, "/") + r.URL.Path
		if r.URL.RawPath != "" {
			u.RawPath = strings.TrimSuffix(h.target.Path, "/") + r.URL.RawPath
		}
	}
	out.URL = u
	out.RequestURI = ""
	out.Close = false
	out.Header = cloneHeader(r.Header)
	removeHopHeaders(out.Header)
	if _, ok := out.Header["User-Agent"]; !ok {
		// Present but empty: the transport then adds no Go user agent of
		// its own, so the app sees exactly what the client sent.
		out.Header["User-Agent"] = emptyValue
	}
	if isUpgrade(r.Header) {
		out.Header.Set("Connection", "Upgrade")
		out.Header.Set("Upgrade", r.Header.Get("Upgrade"))
	}
	// Trailers are end-to-end; "TE: trailers" must reach gRPC-style apps.
	if h1.HasToken(r.Header["Te"], "trailers") {
		out.Header.Set("Te", "trailers")
	}
	setForwarded(out.Header, r)
	if r.ContentLength == 0 {
		// A non-nil empty body would make the transport send a chunked body.
		out.Body = nil
	} else if r.Body != nil {
		st.tap = &bodyTap{rc: r.Body, x: &st.x, limit: h.opts.Taps.Limit}
		out.Body = st.tap
	}
	return out
}

// hasCredentials reports whether r carries an Authorization header or one
// of the configured auth cookies.
func (h *Handler) hasCredentials(r *http.Request) bool {
	// Indexed, not Get: the keys are canonical, and Get canonicalizes.
	if a := r.Header["Authorization"]; len(a) > 0 && a[0] != "" {
		return true
	}
	if len(h.opts.AuthCookies) == 0 || len(r.Header["Cookie"]) == 0 {
		return false
	}
	for _, name := range h.opts.AuthCookies {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return true
		}
	}
	return false
}

// respond copies resp's head and body to w.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, st *state, resp *http.Response) {
	x := &st.x
	defer resp.Body.Close()
	x.Status = resp.StatusCode
	if x.Status >= 500 {
		x.Source = metricnames.SourceApp
	}
	dst := w.Header()
	removeHopHeaders(resp.Header)
	copyHeader(dst, resp.Header)
	if x.TraceID != "" {
		dst.Set(h.opts.TraceIDHeader, x.TraceID)
	}
	announceTrailers(dst, resp.Trailer)
	x.ResponseHeader = dst
	x.ResponseBody.Armed = h.opts.Taps.Limit > 0 && h.opts.Taps.Response != nil && h.opts.Taps.Response(x.Status)

	h.armWrite(w, st)
	w.WriteHeader(resp.StatusCode)
	flush := streaming(resp)
	if flush {
		// Send the head now: an SSE client must see it before the first event.
		_ = http.NewResponseController(w).Flush()
	}
	if h.relayBody(w, r, st, resp.Body, flush) {
		copyTrailers(dst, resp.Trailer)
	}
}

// flush sends what the server still buffers of the response, after the
// observers' End (so that a client that has its answer finds it counted)
// and before the exchange is reset. net/http writes a small response's
// head only after the handler returned, and its values (X-Trace-Id, the
// forward path's headers) are views of x and of the pooled state, valid
// until the reset. A client that went away, or a protocol switch, gets
// nothing more; a failed flush is the server's to notice.
func (h *Handler) flush(w http.ResponseWriter, x *exchange.Exchange) {
	if x.Upgraded || x.Status == exchange.StatusClientClosed {
		return
	}
	// Asserted rather than through http.ResponseController, which would
	// allocate here on every request.
	switch f := w.(type) {
	case interface{ FlushError() error }:
		_ = f.FlushError()
	case http.Flusher:
		f.Flush()
	}
}

// relayBody copies the response body to the client and reports whether
// it all went. When it did not, it has set the exchange's outcome, and
// aborts the client connection (a panic of http.ErrAbortHandler) unless
// the client is gone already: a response cut short must not look whole.
func (h *Handler) relayBody(w http.ResponseWriter, r *http.Request, st *state, body io.Reader, flush bool) bool {
	x := &st.x
	err := h.copyBody(w, body, st, flush)
	if err == nil {
		return true
	}
	x.Err = err
	var we *clientWriteError
	if r.Context().Err() != nil || errors.As(err, &we) {
		// The client went away, or stopped reading past WriteTimeout:
		// cut its connection (a no-op once it is gone).
		x.Status = exchange.StatusClientClosed
		if r.Context().Err() == nil {
			panic(http.ErrAbortHandler)
		}
		return false
	}
	// The upstream broke the body mid-way. Abort the client connection
	// so it sees a truncated response, not a complete-looking one.
	h.log.Warn("upstream response body broke", "route", x.Route, "err", err)
	panic(http.ErrAbortHandler)
}

// copyBody copies the response body, teeing into the response tap when it
// is armed and flushing after each read when the response streams.
func (h *Handler) copyBody(w http.ResponseWriter, body io.Reader, st *state, flush bool) error {
	x := &st.x
	bp := h.buffers.Get().(*[]byte)
	defer h.buffers.Put(bp)
	buf := *bp
	rc := http.NewResponseController(w)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if x.ResponseBody.Armed {
				tapAppend(&x.ResponseBody, buf[:n], h.opts.Taps.Limit)
			}
			h.armWrite(w, st)
			m, werr := w.Write(buf[:n])
			x.BytesOut += int64(m)
			if werr != nil {
				return &clientWriteError{werr}
			}
			if flush {
				if err := rc.Flush(); err != nil {
					return &clientWriteError{err}
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// clientWriteError is a failed write to the client, as opposed to a
// failed read of the upstream's body: both can be timeouts.
type clientWriteError struct{ err error }

func (e *clientWriteError) Error() string { return "write to client: " + e.err.Error() }
func (e *clientWriteError) Unwrap() error { return e.err }

// armWrite gives the writes to the client at least WriteTimeout/2 from
// now: it moves the deadline on to WriteTimeout from now only when less
// than half of it is left, so most requests set it once.
func (h *Handler) armWrite(w http.ResponseWriter, st *state) {
	if h.opts.WriteTimeout > 0 {
		h.armWriteAt(w, st, time.Now())
	}
}

func (h *Handler) armWriteAt(w http.ResponseWriter, st *state, now time.Time) {
	d := h.opts.WriteTimeout
	if d <= 0 {
		return
	}
	if !st.writeDeadline.IsZero() && st.writeDeadline.Sub(now) >= d/2 {
		return
	}
	st.writeDeadline = now.Add(d)
	_ = http.NewResponseController(w).SetWriteDeadline(st.writeDeadline)
}

// badBody answers a request whose body the client broke: 499 (logged
// only) when it went away, 413 past a size limit, 400 for a malformed
// body. None of them is an upstream failure.
func (h *Handler) badBody(w http.ResponseWriter, r *http.Request, st *state, err error) {
	x := &st.x
	x.Err = err
	var ne net.Error
	var mbe *http.MaxBytesError
	switch {
	case r.Context().Err() != nil || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne):
		x.Status = exchange.StatusClientClosed
		return
	case errors.As(err, &mbe):
		x.Status = http.StatusRequestEntityTooLarge
	default:
		x.Status = http.StatusBadRequest
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Connection", "close")
	x.ResponseHeader = hdr
	h.armWrite(w, st)
	w.WriteHeader(x.Status)
	n, _ := io.WriteString(w, "faultline: bad request body\n")
	x.BytesOut = int64(n)
}

// fail answers a request the upstream did not answer: 504 for a timeout,
// 502 otherwise, 499 (logged only) when the client went away first.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, st *state, err error) {
	x := &st.x
	x.Err = err
	if r.Context().Err() != nil {
		x.Status = exchange.StatusClientClosed
		return
	}
	status, source, msg := http.StatusBadGateway, metricnames.SourceUpstreamUnreachable, "upstream unreachable"
	if isTimeout(err) {
		status, source, msg = http.StatusGatewayTimeout, metricnames.SourceUpstreamTimeout, "upstream timed out"
	}
	x.Status, x.Source = status, source
	h.log.Warn("upstream request failed", "route", x.Route, "status", status, "err", err)
	hdr := w.Header()
	if x.TraceID != "" {
		hdr.Set(h.opts.TraceIDHeader, x.TraceID)
	}
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	x.ResponseHeader = hdr
	h.armWrite(w, st)
	w.WriteHeader(status)
	n, _ := io.WriteString(w, "faultline: "+msg+"\n")
	x.BytesOut = int64(n)
	x.ResponseBody.Armed = h.opts.Taps.Limit > 0 && h.opts.Taps.Response != nil && h.opts.Taps.Response(status)
	if x.ResponseBody.Armed {
		tapAppend(&x.ResponseBody, []byte("faultline: "+msg+"\n"), h.opts.Taps.Limit)
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// streaming reports whether the response should be flushed as it arrives:
// server-sent events, and bodies of unknown length (chunked).
func streaming(resp *http.Response) bool {
	return resp.ContentLength == -1 || isEventStream(resp.Header)
}

// isEventStream reports whether h is the head of server-sent events.
func isEventStream(h http.Header) bool {
	ct := h["Content-Type"]
	return len(ct) > 0 && strings.HasPrefix(ct[0], "text/event-stream")
}

// bodyTap counts the request body as the transport reads it and records its
// start when the tap is armed. The transport may read and close it on its own
// goroutine, even after RoundTrip returned (an app may answer 401 before
// reading an upload), so every access holds mu, and seal ends all writes to
// the exchange before the observers read it.
type bodyTap struct {
	mu     sync.Mutex
	rc     io.ReadCloser
	x      *exchange.Exchange
	limit  int
	sealed bool
	err    error // the client's body failed (not io.EOF)
}

// Read does not hold mu while it waits for the client: seal must never wait
// for a slow upload.
func (b *bodyTap) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 || (err != nil && err != io.EOF) {
		b.mu.Lock()
		if !b.sealed {
			b.x.BytesIn += int64(n)
			if b.x.RequestBody.Armed {
				tapAppend(&b.x.RequestBody, p[:n], b.limit)
			}
			if err != nil && err != io.EOF {
				b.err = err
			}
		}
		b.mu.Unlock()
	}
	return n, err
}

// clientErr is the error the client's body failed with, if any.
func (b *bodyTap) clientErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *bodyTap) Close() error { return b.rc.Close() }

// seal stops the tap from touching the exchange again.
func (b *bodyTap) seal() {
	b.mu.Lock()
	b.sealed = true
	b.mu.Unlock()
}

// tapAppend appends p to the tap up to limit bytes.
func tapAppend(t *exchange.Tap, p []byte, limit int) {
	room := limit - len(t.Data)
	if room <= 0 {
		t.Truncated = true
		return
	}
	if len(p) > room {
		p = p[:room]
		t.Truncated = true
	}
	t.Data = append(t.Data, p...)
}
