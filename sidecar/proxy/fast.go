package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/sidecar/netraw"
)

// FastTransport sends requests without a body or with a small body of
// known length to a plain-HTTP upstream over its own keep-alive HTTP/1.1
// connections, writing and reading on the caller's goroutine. Everything
// else (streamed or large uploads, upgrades, https) goes to Fallback.
//
// http.Transport runs two goroutines per connection and hands every request
// and response between them over channels; on a 2-core sidecar those
// handoffs cost more than the proxying itself. A small request fits in the
// socket buffers, so writing it before reading cannot deadlock against an
// app that answers early, and none of that machinery is needed.
//
// It also owns connection reuse, which matters in front of uvicorn: after
// an unhandled exception uvicorn answers 500 and then closes the
// connection without saying so, a millisecond later. http.Transport pools
// that connection, and a POST sent on it in that millisecond is reset,
// which a proxy must not retry. FastTransport never reuses a connection
// after a 5xx, and checks a pooled connection for a pending close before
// using it. Only idempotent bodiless requests are retried, once, on a
// fresh connection.
//
// FastTransport is safe for concurrent use.
type FastTransport struct {
	// Fallback carries every request the fast path does not. It must not be nil.
	Fallback *http.Transport
	// DialTimeout, ResponseHeaderTimeout, MaxIdleConns and IdleConnTimeout
	// mean what they mean on http.Transport; zero values take the defaults
	// of TransportOptions.
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
	MaxIdleConns          int
	IdleConnTimeout       time.Duration

	mu   sync.Mutex
	idle []*fastConn // most recently used last
}

// NewFastTransport returns a FastTransport with the given options, whose
// fallback is NewTransport(o).
func NewFastTransport(o TransportOptions) *FastTransport {
	o = o.withDefaults()
	return &FastTransport{
		Fallback:              NewTransport(o),
		DialTimeout:           o.DialTimeout,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		MaxIdleConns:          o.MaxIdleConns,
		IdleConnTimeout:       o.IdleConnTimeout,
	}
}

type fastConn struct {
	nc       net.Conn
	raw      syscall.RawConn // for closedByPeer; nil if nc has none
	lim      headLimit       // under br: bounds a response head
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
	// body is the response body wrapper, reused: a connection carries one
	// exchange at a time.
	body fastBody
	// stopWatch ends the context.AfterFunc of the forward path's request
	// when the h1 server's Interrupt could not be used; nil otherwise.
	stopWatch func() bool
	// headDeadline is the read deadline the forward path set for the
	// response head; the body's deadline moves on from it.
	headDeadline time.Time
}

// peekAfter is how long a connection must have been idle before it is
// checked for a close by the app.
const peekAfter = 250 * time.Millisecond

// maxFastBody is the largest request body sent on the fast path: well
// within a loopback socket's buffers.
const maxFastBody = 64 << 10

// fastEligible reports whether r can take the fast path.
func fastEligible(r *http.Request) bool {
	if r.URL.Scheme != "http" || r.Close {
		return false
	}
	if r.Body != nil && (r.ContentLength <= 0 || r.ContentLength > maxFastBody) {
		return false
	}
	if _, upgrade := r.Header["Upgrade"]; upgrade {
		return false
	}
	_, expect := r.Header["Expect"]
	return !expect
}

// retryable reports whether r may be sent again after its connection
// failed before any answer: it has no body to replay and its method is
// idempotent (RFC 9110 section 9.2.2).
func retryable(r *http.Request) bool { return r.Body == nil && idempotent(r.Method) }

// idempotent reports whether a request with method may be repeated.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// RoundTrip implements http.RoundTripper.
func (t *FastTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !fastEligible(r) {
		return t.roundTripFallback(r)
	}
	ctx := r.Context()
	for attempt := 0; ; attempt++ {
		c, reused := t.getIdle(time.Now())
		if c == nil {
			var err error
			if c, err = t.dial(ctx, r.URL.Host); err != nil {
				return nil, err
			}
		}
		resp, err := t.exchange(ctx, c, r, reused)
		if err == nil {
			return resp, nil
		}
		c.nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A pooled connection the app closed while idle (gunicorn's
		// keep-alive is 2s) fails on first use: retry once on a new one.
		if reused && attempt == 0 && !isTimeout(err) && retryable(r) {
			continue
		}
		return nil, err
	}
}

// CloseIdleConnections closes the pooled connections of both paths.
func (t *FastTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, c := range idle {
		c.nc.Close()
	}
	t.Fallback.CloseIdleConnections()
}

// getIdle takes the most recently used idle connection that is still
// good at now, closing the stale ones it meets.
func (t *FastTransport) getIdle(now time.Time) (*fastConn, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for n := len(t.idle); n > 0; n = len(t.idle) {
		c := t.idle[n-1]
		t.idle = t.idle[:n-1]
		idle := now.Sub(c.lastUsed)
		// A connection idle for less than peekAfter cannot have met the
		// app's keep-alive timeout (gunicorn's is 2s): skip the system call.
		if idle < t.IdleConnTimeout && (idle < peekAfter || !closedByPeer(c.raw)) {
			return c, true
		}
		c.nc.Close()
	}
	return nil, false
}

func (t *FastTransport) putIdle(c *fastConn) {
	c.lastUsed = time.Now()
	t.mu.Lock()
	if len(t.idle) < t.MaxIdleConns {
		t.idle = append(t.idle, c)
		c = nil
	}
	t.mu.Unlock()
	if c != nil {
		c.nc.Close()
	}
}

func (t *FastTransport) dial(ctx context.Context, host string) (*fastConn, error) {
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "80")
	}
	d := net.Dialer{Timeout: t.DialTimeout, KeepAlive: 30 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	rw := netraw.Wrap(nc)
	c := &fastConn{nc: nc, bw: bufio.NewWriterSize(rw, 4<<10)}
	c.lim = headLimit{r: rw, n: -1}
	c.br = bufio.NewReaderSize(&c.lim, 4<<10)
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	return c, nil
}

// aLongTimeAgo is a deadline that has passed: setting it unblocks any
// pending read or write at once.
var aLongTimeAgo = time.Unix(1, 0)

// exchange writes r on c and reads the response head. The returned body
// puts c back in the pool once read to the end.
func (t *FastTransport) exchange(ctx context.Context, c *fastConn, r *http.Request, reused bool) (*http.Response, error) {
	trace := httptrace.ContextClientTrace(ctx)
	if trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{Conn: c.nc, Reused: reused})
	}
	c.body.cancelled.Store(false)
	stop := context.AfterFunc(ctx, func() {
		c.body.cancelled.Store(true)
		c.nc.SetDeadline(aLongTimeAgo)
	})
	headDeadline := time.Now().Add(t.ResponseHeaderTimeout)
	if err := c.nc.SetReadDeadline(headDeadline); err != nil {
		stop()
		return nil, err
	}
	if err := r.Write(c.bw); err != nil {
		stop()
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		stop()
		return nil, err
	}
	if trace != nil && trace.WroteRequest != nil {
		trace.WroteRequest(httptrace.WroteRequestInfo{})
	}
	c.lim.n = maxResponseHead
	if trace != nil && trace.GotFirstResponseByte != nil {
		if _, err := c.br.Peek(1); err != nil {
			stop()
			return nil, headError(c, err, headDeadline)
		}
		trace.GotFirstResponseByte()
	}
	var resp *http.Response
	var err error
	for {
		resp, err = http.ReadResponse(c.br, r)
		if err != nil {
			stop()
			return nil, headError(c, err, headDeadline)
		}
		// Skip informational answers (103 Early Hints); a 101 cannot come
		// here since upgrades take the fallback.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		stop()
		return nil, errSwitched
	}
	c.lim.n = -1
	// From here the deadline bounds the time between two reads of the
	// body (fastBody.Read moves it), as nginx's proxy_read_timeout does.
	// An app that failed may close the connection right after its answer
	// without announcing it (uvicorn after an exception): never reuse it.
	reusable := !resp.Close && resp.StatusCode < 500
	c.body.rc, c.body.c, c.body.t, c.body.stop, c.body.reusable = resp.Body, c, t, stop, reusable
	c.body.eof, c.body.closed, c.body.deadline = false, false, headDeadline
	resp.Body = &c.body
	return resp, nil
}

// fastBody returns its connection to the pool on Close when the body was
// read to the end and the response allows keep-alive; otherwise Close
// closes it. The connection is released in Close, never earlier, because
// the wrapper lives in the connection and is reused by its next exchange.
type fastBody struct {
	rc       io.ReadCloser
	c        *fastConn
	t        *FastTransport
	stop     func() bool
	reusable bool
	eof      bool
	closed   bool
	// deadline is the connection's read deadline; cancelled is set when
	// the request's context ended (and the deadline was moved to the past).
	deadline  time.Time
	cancelled atomic.Bool
}

func (b *fastBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("proxy: read on a closed body")
	}
	if b.eof {
		return 0, io.EOF
	}
	// Move the read deadline on (only once half of it has passed, to
	// spare the timer): a body that stalls fails after
	// ResponseHeaderTimeout without progress.
	if d := b.t.ResponseHeaderTimeout; time.Until(b.deadline) < d/2 && !b.cancelled.Load() {
		b.deadline = time.Now().Add(d)
		b.c.nc.SetReadDeadline(b.deadline)
		if b.cancelled.Load() {
			b.c.nc.SetReadDeadline(aLongTimeAgo)
		}
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// Close releases the connection: back to the pool after a complete body,
// closed otherwise.
func (b *fastBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	// stop reports false when the context was already cancelled and the
	// deadline set: such a connection is not reusable.
	if !b.stop() || !b.eof || !b.reusable {
		b.c.nc.Close()
		return nil
	}
	if err := b.c.nc.SetReadDeadline(time.Time{}); err != nil {
		b.c.nc.Close()
		return nil
	}
	b.t.putIdle(b.c)
	return nil
}

// maxResponseHead bounds a response head, as NewTransport's
// MaxResponseHeaderBytes does for the fallback.
const maxResponseHead = 1 << 20

var errHeadTooLarge = errors.New("proxy: upstream response head too large")

// headLimit passes reads through, at most n bytes while n >= 0.
type headLimit struct {
	r io.Reader
	n int64
}

func (l *headLimit) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if l.n == 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// headError names why reading a response head failed. bufio.Reader.ReadLine
// returns a line cut by the deadline as if it were whole, so a timeout
// can surface as a malformed head: a passed deadline makes it a timeout.
func headError(c *fastConn, err error, deadline time.Time) error {
	if c.lim.n == 0 {
		return errHeadTooLarge
	}
	if !isTimeout(err) && !time.Now().Before(deadline) {
		return fmt.Errorf("proxy: upstream response head: %w (%w)", os.ErrDeadlineExceeded, err)
	}
	return err
}

// closedByPeer reports whether the app closed (or reset) an idle
// connection, or sent bytes on it unasked: either way it must not be used.
// It peeks without blocking, one system call.
func closedByPeer(rc syscall.RawConn) bool {
	if rc == nil {
		return false
	}
	var buf [1]byte
	closed := false
	err := rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing pending, the connection is healthy. Anything
		// else (data, EOF, an error) disqualifies it.
		closed = rerr != syscall.EAGAIN && rerr != syscall.EWOULDBLOCK && rerr != syscall.EINTR
		return true
	})
	return closed || err != nil
}

// roundTripFallback sends r on the fallback transport, and cancels it when
// its response body makes no progress for ResponseHeaderTimeout.
func (t *FastTransport) roundTripFallback(r *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(r.Context())
	resp, err := t.Fallback.RoundTrip(r.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	if rwc, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		// An upgraded stream has no idle timeout; it ends with either side.
		resp.Body = upgradedBody{rwc, cancel}
		return resp, nil
	}
	timer := time.AfterFunc(t.ResponseHeaderTimeout, cancel)
	timer.Stop()
	resp.Body = &idleBody{rc: resp.Body, d: t.ResponseHeaderTimeout, timer: timer, cancel: cancel}
	return resp, nil
}

type upgradedBody struct {
	io.ReadWriteCloser
	cancel context.CancelFunc
}

func (b upgradedBody) Close() error {
	err := b.ReadWriteCloser.Close()
	b.cancel()
	return err
}

// idleBody cancels its request when one Read waits longer than d. Only
// the time spent waiting for the upstream counts, not the time the proxy
// spends writing to a slow client between two reads.
type idleBody struct {
	rc     io.ReadCloser
	d      time.Duration
	timer  *time.Timer
	cancel context.CancelFunc
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.d)
	n, err := b.rc.Read(p)
	b.timer.Stop()
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel()
	return err
}
