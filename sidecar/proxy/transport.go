package proxy

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
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
	// TLSClientConfig is used for an https upstream; nil means the
	// system's roots and the URL's host as the server name. Over https,
	// HTTP/2 is used when the upstream offers it by ALPN.
	TLSClientConfig *tls.Config
	// H2C speaks HTTP/2 without TLS, with prior knowledge, to an http
	// upstream (gRPC servers and others that serve h2c). Protocol
	// upgrades (WebSocket) need HTTP/1.1 and fail on such an upstream.
	H2C bool
}

// NewUpstreamTransport returns the transport for upstream u: a
// FastTransport for a plain-HTTP/1.1 upstream, and NewTransport(o) for an
// https or h2c one, which the fast path would never carry.
func NewUpstreamTransport(u *url.URL, o TransportOptions) http.RoundTripper {
	if u.Scheme == "https" || o.H2C {
		return NewTransport(o)
	}
	return NewFastTransport(o)
}

// NewTransport returns a transport for one upstream host: HTTP/1.1 to an
// http upstream (HTTP/2 with o.H2C), HTTP/1.1 or HTTP/2 by ALPN to an
// https one. It ignores proxy environment variables: the upstream is on
// the same host or pod, and an HTTP_PROXY meant for the app's outbound
// calls must not apply.
func NewTransport(o TransportOptions) *http.Transport {
	o = o.withDefaults()
	d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	var protocols http.Protocols
	if o.H2C {
		protocols.SetUnencryptedHTTP2(true)
	} else {
		protocols.SetHTTP1(true)
		protocols.SetHTTP2(true)
	}
	return &http.Transport{
		Protocols:              &protocols,
		TLSClientConfig:        o.TLSClientConfig,
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
