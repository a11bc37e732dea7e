package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// FastTransport sends the commonest requests (bodiless GET, HEAD and
// OPTIONS to a plain-HTTP upstream) over its own keep-alive HTTP/1.1
// connections, writing and reading on the caller's goroutine. Everything
// else (bodies, upgrades, other methods, https) goes to Fallback.
//
// http.Transport runs two goroutines per connection and hands every request
// and response between them over channels; on a 2-core sidecar those
// handoffs cost more than the proxying itself. A bodiless idempotent
// request needs none of that machinery: it can be written, and retried on a
// fresh connection if a pooled one turns out to be closed, without any risk
// of sending something twice that must not be.
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
	br       *bufio.Reader
	bw       *bufio.Writer
	lastUsed time.Time
}

// fastEligible reports whether r can take the fast path.
func fastEligible(r *http.Request) bool {
	if r.Body != nil || r.URL.Scheme != "http" || r.Close {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		return false
	}
	_, upgrade := r.Header["Upgrade"]
	return !upgrade
}

// RoundTrip implements http.RoundTripper.
func (t *FastTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !fastEligible(r) {
		return t.Fallback.RoundTrip(r)
	}
	ctx := r.Context()
	for attempt := 0; ; attempt++ {
		c, reused := t.getIdle()
		if c == nil {
			var err error
			if c, err = t.dial(ctx, r.URL.Host); err != nil {
				return nil, err
			}
		}
		resp, err := t.exchange(ctx, c, r)
		if err == nil {
			return resp, nil
		}
		c.nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A pooled connection the app closed while idle (gunicorn's
		// keep-alive is 2s) fails on first use: retry once on a new one.
		if reused && attempt == 0 && !isTimeout(err) {
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

func (t *FastTransport) getIdle() (*fastConn, bool) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for n := len(t.idle); n > 0; n = len(t.idle) {
		c := t.idle[n-1]
		t.idle = t.idle[:n-1]
		if now.Sub(c.lastUsed) < t.IdleConnTimeout {
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
	return &fastConn{nc: nc, br: bufio.NewReaderSize(nc, 16<<10), bw: bufio.NewWriterSize(nc, 8<<10)}, nil
}

// aLongTimeAgo is a deadline that has passed: setting it unblocks any
// pending read or write at once.
var aLongTimeAgo = time.Unix(1, 0)

// exchange writes r on c and reads the response head. The returned body
// puts c back in the pool once read to the end.
func (t *FastTransport) exchange(ctx context.Context, c *fastConn, r *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(aLongTimeAgo) })
	if err := c.nc.SetReadDeadline(time.Now().Add(t.ResponseHeaderTimeout)); err != nil {
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
	var resp *http.Response
	var err error
	for {
		resp, err = http.ReadResponse(c.br, r)
		if err != nil {
			stop()
			return nil, err
		}
		// Skip informational answers (103 Early Hints); a 101 cannot come
		// here since upgrades take the fallback.
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		stop()
		return nil, errors.New("proxy: upstream switched protocols unasked")
	}
	if err := c.nc.SetReadDeadline(time.Time{}); err != nil {
		stop()
		return nil, err
	}
	resp.Body = &fastBody{rc: resp.Body, c: c, t: t, stop: stop, reusable: !resp.Close}
	return resp, nil
}

// fastBody returns its connection to the pool when the body was read to
// the end and the response allows keep-alive; otherwise Close closes it.
type fastBody struct {
	rc       io.ReadCloser
	c        *fastConn
	t        *FastTransport
	stop     func() bool
	reusable bool
	done     bool
}

func (b *fastBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	}
	return n, err
}

func (b *fastBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

// finish releases the connection: back to the pool after a complete body,
// closed otherwise.
func (b *fastBody) finish(complete bool) {
	b.done = true
	// stop reports false when the context was already cancelled and the
	// deadline set: such a connection is not reusable.
	if !b.stop() || !complete || !b.reusable {
		b.c.nc.Close()
		return
	}
	b.t.putIdle(b.c)
}
