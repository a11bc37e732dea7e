package tlsconf

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// DefaultHandshakeTimeout bounds a handshake when
// ListenerOptions.HandshakeTimeout is zero.
const DefaultHandshakeTimeout = 10 * time.Second

// ListenerOptions configures NewListener. The zero value means the defaults.
type ListenerOptions struct {
	// HandshakeTimeout bounds each handshake (default DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// OnError, if set, is called with each failed handshake, on the
	// goroutine that ran it. It must be safe for concurrent use. Failures
	// caused by Close are not reported.
	OnError func(remote net.Addr, err error)
}

// Listener is a net.Listener that completes each connection's TLS
// handshake before Accept returns it, as a *tls.Conn. Handing
// http.Server a connection whose handshake is done keeps everything it
// does for TLS (r.TLS, HTTP/2 by ALPN) while letting the listener see the
// handshake's error as a value; http.Server would only print it.
//
// Each handshake runs on its own goroutine, as it would in http.Server,
// so a slow client never delays the others. Listener is safe for
// concurrent use.
type Listener struct {
	inner   net.Listener
	cfg     *tls.Config
	opts    ListenerOptions
	conns   chan *tls.Conn
	ctx     context.Context // cancelled by Close: ends pending handshakes
	cancel  context.CancelFunc
	failed  chan struct{} // closed when accepting failed for good; err is then set
	err     error
	closing sync.Once
}

// NewListener returns a Listener serving cfg on inner and starts
// accepting. Close stops it and closes inner.
func NewListener(inner net.Listener, cfg *tls.Config, opts ListenerOptions) *Listener {
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = DefaultHandshakeTimeout
	}
	l := &Listener{inner: inner, cfg: cfg, opts: opts, conns: make(chan *tls.Conn), failed: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	go l.acceptLoop()
	return l
}

// Accept returns the next connection whose handshake succeeded.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	case <-l.failed:
		return nil, l.err
	}
}

// Close stops accepting, aborts handshakes in progress and closes the
// underlying listener. Connections already returned by Accept stay open.
func (l *Listener) Close() error {
	err := net.ErrClosed
	l.closing.Do(func() {
		l.cancel()
		err = l.inner.Close()
	})
	return err
}

// Addr is the underlying listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

func (l *Listener) acceptLoop() {
	var delay time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			if temporary(err) {
				// Out of file descriptors and the like: wait, as
				// http.Server does, instead of spinning.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
				case <-l.ctx.Done():
					return
				}
				continue
			}
			l.err = err
			close(l.failed)
			return
		}
		delay = 0
		go l.handshake(c)
	}
}

func temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)
}

func (l *Listener) handshake(raw net.Conn) {
	tc := tls.Server(raw, l.cfg)
	_ = raw.SetDeadline(time.Now().Add(l.opts.HandshakeTimeout))
	if err := tc.HandshakeContext(l.ctx); err != nil {
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && rh.Conn != nil && looksLikeHTTP(rh.RecordHeader) {
			// As http.Server does: tell a plain-HTTP client what went wrong.
			_, _ = io.WriteString(rh.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		raw.Close()
		if l.ctx.Err() == nil && l.opts.OnError != nil {
			l.opts.OnError(raw.RemoteAddr(), err)
		}
		return
	}
	// From here on http.Server sets the deadlines.
	_ = raw.SetDeadline(time.Time{})
	select {
	case l.conns <- tc:
	case <-l.ctx.Done():
		tc.Close()
	}
}

// looksLikeHTTP reports whether a record header that is not TLS is the
// start of a plain HTTP request (net/http's test, same five bytes).
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}
