package server

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/faultline-dev/faultline/sidecar/config"
	"github.com/faultline-dev/faultline/sidecar/proxy"
	"github.com/faultline-dev/faultline/sidecar/tlsconf"
)

// startTLS loads the serving certificate and registers the TLS metrics
// when Listen serves HTTPS. Without TLS it does nothing, and nothing of
// package tlsconf is on the request path.
func (s *Sidecar) startTLS() error {
	cfg := s.cfg
	if !cfg.TLS() {
		return nil
	}
	srv, err := tlsconf.New(tlsconf.Options{
		CertFile:     cfg.TLSCert,
		KeyFile:      cfg.TLSKey,
		SelfSigned:   cfg.TLSSelfSigned,
		ClientCAFile: cfg.TLSClientCA,
		Logger:       s.log,
	})
	if err != nil {
		return err
	}
	m, err := tlsconf.NewMetrics(s.reg, srv, s.log)
	if err != nil {
		return fmt.Errorf("register TLS metrics: %w", err)
	}
	s.tls, s.tlsMetrics = srv, m
	leaf := srv.Leaf()
	if cfg.TLSSelfSigned {
		names := append([]string(nil), leaf.DNSNames...)
		for _, ip := range leaf.IPAddresses {
			names = append(names, ip.String())
		}
		s.log.Info("tls: serving a self-signed certificate generated now; clients must trust it explicitly (curl -k, or compare the fingerprint)",
			"sha256", tlsconf.Fingerprint(leaf), "names", names, "not_after", leaf.NotAfter)
		return nil
	}
	s.log.Info("tls: serving certificate", "subject", leaf.Subject.String(), "serial", leaf.SerialNumber.String(),
		"not_after", leaf.NotAfter, "sha256", tlsconf.Fingerprint(leaf), "client_certificates", cfg.TLSClientCA != "")
	return nil
}

// serveTLS returns ln as it is for plain HTTP, or wrapped to complete TLS
// handshakes (and count their failures) for HTTPS.
func (s *Sidecar) serveTLS(ln net.Listener) net.Listener {
	if s.tls == nil {
		return ln
	}
	return tlsconf.NewListener(ln, s.tls.Config(), tlsconf.ListenerOptions{OnError: s.tlsMetrics.HandshakeError})
}

// listenRedirect binds --redirect-http, whose server sends every request to
// the HTTPS listener's port.
func (s *Sidecar) listenRedirect() error {
	if s.cfg.RedirectHTTP == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.RedirectHTTP)
	if err != nil {
		return &config.Error{Setting: "--redirect-http", Msg: err.Error()}
	}
	_, port, _ := net.SplitHostPort(s.mainLn.Addr().String())
	s.redirectLn = ln
	s.redirect = &http.Server{
		Handler:           tlsconf.Redirect(port),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          s.errorLog(),
	}
	return nil
}

// RedirectAddr is the redirect listener's bound address, or "" when none.
func (s *Sidecar) RedirectAddr() string {
	if s.redirectLn == nil {
		return ""
	}
	return s.redirectLn.Addr().String()
}

// upstreamTransport returns the options of every connection to the
// upstream (the proxy's, the readiness probe's, the route learner's).
func upstreamTransport(cfg *config.Config) (proxy.TransportOptions, error) {
	o := proxy.TransportOptions{
		DialTimeout:           cfg.DialTimeout,
		ResponseHeaderTimeout: cfg.UpstreamTimeout,
		H2C:                   cfg.UpstreamH2C,
	}
	if cfg.Upstream.Scheme == "https" {
		tc, err := tlsconf.Upstream(cfg.UpstreamCA, cfg.UpstreamServerName)
		if err != nil {
			return o, err
		}
		o.TLSClientConfig = tc
	}
	return o, nil
}

// upstreamClients returns the HTTP clients of the readiness probe (no
// keep-alive: each probe connects like a new client) and of the route
// learner for an upstream that needs TLS settings or h2c; nil, nil (their
// defaults) for a plain HTTP/1.1 upstream.
func upstreamClients(o proxy.TransportOptions) (probe, learn *http.Client) {
	if o.TLSClientConfig == nil && !o.H2C {
		return nil, nil
	}
	pt := proxy.NewTransport(o)
	pt.DisableKeepAlives = true
	return &http.Client{Transport: pt}, &http.Client{Transport: proxy.NewTransport(o), Timeout: 10 * time.Second}
}
