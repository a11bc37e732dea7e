package proxy

import (
	"net"
	"net/http"
	"time"
)

// TransportOptions tunes the upstream connection pool. Zero values mean
// the defaults noted on each field.
type TransportOptions struct {
	// DialTimeout bounds connecting to the upstream (default 5s); past it
	// the request fails with 502.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response head once the
	// request is sent (default 60s); past it the request fails with 504.
	ResponseHeaderTimeout time.Duration
	// MaxIdleConns is the number of idle keep-alive connections kept to the
	// upstream (default 256). A sidecar talks to one host, so this is also
	// the per-host limit.
	MaxIdleConns int
	// IdleConnTimeout closes idle connections (default 90s; gunicorn's
	// keep-alive is shorter, and a connection closed by the app is retried
	// by the transport for idempotent requests).
	IdleConnTimeout time.Duration
}

// NewTransport returns an HTTP/1.1 transport for one upstream host. It
// ignores proxy environment variables: the upstream is on the same host or
// pod, and an HTTP_PROXY meant for the app's outbound calls must not apply.
func NewTransport(o TransportOptions) *http.Transport {
	o = o.withDefaults()
	d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		MaxIdleConns:           o.MaxIdleConns,
		MaxIdleConnsPerHost:    o.MaxIdleConns,
		IdleConnTimeout:        o.IdleConnTimeout,
		ResponseHeaderTimeout:  o.ResponseHeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
		WriteBufferSize:        32 << 10,
		ReadBufferSize:         32 << 10,
	}
}

func (o TransportOptions) withDefaults() TransportOptions {
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.ResponseHeaderTimeout == 0 {
		o.ResponseHeaderTimeout = 60 * time.Second
	}
	if o.MaxIdleConns == 0 {
		o.MaxIdleConns = 256
	}
	if o.IdleConnTimeout == 0 {
		o.IdleConnTimeout = 90 * time.Second
	}
	return o
}
