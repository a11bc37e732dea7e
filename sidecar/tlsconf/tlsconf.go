// Package tlsconf terminates TLS for the sidecar: it loads the serving key
// pair (and re-reads it when its files change), builds the server and
// upstream tls.Configs, completes handshakes in a listener that counts
// failures by reason, generates a self-signed certificate for local use,
// and redirects plain HTTP to HTTPS.
//
// Nothing here runs when the sidecar serves plain HTTP: the proxy's hot
// path never sees this package.
package tlsconf

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/faultline-dev/faultline/sidecar/config"
)

// DefaultInterval is how often the certificate files are checked for a
// change when Options.Interval is zero.
const DefaultInterval = 2 * time.Second

// Options configures a Server. Exactly one of CertFile+KeyFile or
// SelfSigned must be set.
type Options struct {
	// CertFile and KeyFile are PEM files: the certificate chain, leaf
	// first, and its private key.
	CertFile, KeyFile string
	// SelfSigned generates a certificate for localhost at start-up.
	SelfSigned bool
	// ClientCAFile, when set, is a PEM bundle of CAs; clients must then
	// present a certificate one of them signed.
	ClientCAFile string
	// Interval between two checks of the files (default DefaultInterval).
	Interval time.Duration
	// Logger receives reloads and refused pairs; nil discards.
	Logger *slog.Logger
	// Now is the clock for expiry checks; nil means time.Now.
	Now func() time.Time
}

// Server holds the serving certificate and the server-side tls.Config. It
// is safe for concurrent use: handshakes read the current generation with
// one atomic load, and Run swaps in a new one when the files change.
type Server struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	base *tls.Config
	cur  atomic.Pointer[generation]

	// Only Run's goroutine touches these after New.
	loaded, failed filesID
	failedMsg      string
}

// generation is one loaded key pair (and client CA pool) and the config
// that serves it.
type generation struct {
	cfg  *tls.Config
	leaf *x509.Certificate
}

// cipherSuites are the TLS 1.2 suites offered: ECDHE with an AEAD, as in
// Mozilla's "intermediate" profile and as HTTP/2 requires (RFC 9113
// section 9.2.2). TLS 1.3 suites are not configurable and all good.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// NextProtos are the ALPN protocols offered, HTTP/2 first.
var NextProtos = []string{"h2", "http/1.1"}

// New loads the key pair (or generates one) and the client CA bundle.
// Errors are *config.Error values naming the flag at fault: a missing or
// unreadable file, a key that does not match the certificate, a CA bundle
// without a certificate. An expired certificate is only logged: its
// replacement will be picked up without a restart.
func New(opts Options) (*Server, error) {
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.opts.Interval <= 0 {
		s.opts.Interval = DefaultInterval
	}
	s.base = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: cipherSuites,
		NextProtos:   NextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load().cfg, nil
		},
	}
	var gen *generation
	var err error
	if opts.SelfSigned {
		var pair tls.Certificate
		if pair, err = SelfSigned(s.now(), nil); err != nil {
			return nil, fmt.Errorf("tls: self-signed certificate: %w", err)
		}
		var pool *x509.CertPool
		if opts.ClientCAFile != "" {
			if pool, err = LoadCAs("--tls-client-ca", opts.ClientCAFile); err != nil {
				return nil, err
			}
		}
		gen, err = s.build(pair, pool)
	} else {
		if s.loaded, err = statFiles(opts); err != nil {
			return nil, err
		}
		gen, err = s.load()
	}
	if err != nil {
		return nil, err
	}
	s.cur.Store(gen)
	if s.now().After(gen.leaf.NotAfter) {
		s.log.Warn("tls: the certificate has expired; serving it until its files are replaced",
			"setting", "--tls-cert", "not_after", gen.leaf.NotAfter, "subject", gen.leaf.Subject.String())
	}
	return s, nil
}

// Config returns the server-side configuration: TLS 1.2 at least, HTTP/2
// and HTTP/1.1 by ALPN, and the current certificate for every handshake.
func (s *Server) Config() *tls.Config { return s.base }

// Leaf returns the certificate being served now.
func (s *Server) Leaf() *x509.Certificate { return s.cur.Load().leaf }

// Fingerprint returns the SHA-256 fingerprint of the certificate being
// served, in the colon-separated hex openssl prints.
func (s *Server) Fingerprint() string { return Fingerprint(s.Leaf()) }

// Fingerprint returns the SHA-256 digest of c's DER bytes as AA:BB:...
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

// Run checks the files every Interval until ctx ends and serves a changed
// pair to new handshakes; connections already open keep theirs. A pair
// that fails to load (a key that does not match, a half-written file, an
// expired replacement of a valid certificate) is logged once and the
// current one kept. With a self-signed certificate there are no files to
// watch (a client CA bundle included) and Run returns at once.
func (s *Server) Run(ctx context.Context) {
	if s.opts.SelfSigned {
		return
	}
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.check()
		}
	}
}

// check reloads the pair if the files changed since the last attempt.
func (s *Server) check() {
	ids, err := statFiles(s.opts)
	if err != nil {
		s.refuse(ids, err)
		return
	}
	if ids == s.loaded || ids == s.failed {
		return
	}
	gen, err := s.load()
	if err == nil {
		old := s.cur.Load().leaf
		if now := s.now(); now.After(gen.leaf.NotAfter) && !now.After(old.NotAfter) {
			err = fmt.Errorf("the new certificate expired on %s, the current one is still valid", gen.leaf.NotAfter.Format(time.RFC3339))
		}
	}
	if err != nil {
		s.refuse(ids, err)
		return
	}
	s.cur.Store(gen)
	s.loaded, s.failed, s.failedMsg = ids, filesID{}, ""
	s.log.Info("tls: certificate reloaded", "subject", gen.leaf.Subject.String(),
		"serial", gen.leaf.SerialNumber.String(), "not_after", gen.leaf.NotAfter, "sha256", Fingerprint(gen.leaf))
}

// refuse logs a pair that cannot be served, once per state of the files.
func (s *Server) refuse(ids filesID, err error) {
	msg := err.Error()
	if ids == s.failed && msg == s.failedMsg {
		return
	}
	s.failed, s.failedMsg = ids, msg
	s.log.Error("tls: changed certificate files not loaded; still serving the previous certificate",
		"err", msg, "serial", s.Leaf().SerialNumber.String())
}

// load reads the files named by the options and builds a generation.
func (s *Server) load() (*generation, error) {
	certPEM, err := os.ReadFile(s.opts.CertFile)
	if err != nil {
		return nil, fileError("--tls-cert", err)
	}
	keyPEM, err := os.ReadFile(s.opts.KeyFile)
	if err != nil {
		return nil, fileError("--tls-key", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, pairError(s.opts.CertFile, s.opts.KeyFile, err)
	}
	var pool *x509.CertPool
	if s.opts.ClientCAFile != "" {
		if pool, err = LoadCAs("--tls-client-ca", s.opts.ClientCAFile); err != nil {
			return nil, err
		}
	}
	return s.build(pair, pool)
}

// build makes the per-generation config: the base settings, the pair, and
// client authentication when a CA pool is given.
func (s *Server) build(pair tls.Certificate, clientCAs *x509.CertPool) (*generation, error) {
	leaf := pair.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, &config.Error{Setting: "--tls-cert", Msg: "cannot parse the certificate: " + err.Error()}
		}
		pair.Leaf = leaf
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: cipherSuites,
		NextProtos:   NextProtos,
		Certificates: []tls.Certificate{pair},
	}
	if clientCAs != nil || s.opts.ClientCAFile != "" {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = clientCAs
	}
	return &generation{cfg: cfg, leaf: leaf}, nil
}

// LoadCAs reads a PEM bundle of CA certificates; setting names the flag
// in errors.
func LoadCAs(setting, file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fileError(setting, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, &config.Error{Setting: setting, Msg: fmt.Sprintf("%s holds no PEM certificate", file)}
	}
	return pool, nil
}

// fileError describes a file that cannot be read, without the Go error's
// repetition of the path.
func fileError(setting string, err error) *config.Error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &config.Error{Setting: setting, Msg: fmt.Sprintf("cannot read %s: %v", pe.Path, pe.Err)}
	}
	return &config.Error{Setting: setting, Msg: err.Error()}
}

// pairError names the flag that is probably wrong for a tls.X509KeyPair
// error: the certificate when its file holds no usable certificate, the
// key otherwise.
func pairError(certFile, keyFile string, err error) *config.Error {
	msg := strings.TrimPrefix(err.Error(), "tls: ")
	switch {
	case strings.Contains(msg, "does not match"):
		return &config.Error{Setting: "--tls-key", Msg: fmt.Sprintf("%s does not match the certificate in %s", keyFile, certFile)}
	case strings.Contains(msg, "certificate input"), strings.HasPrefix(msg, "x509:"):
		return &config.Error{Setting: "--tls-cert", Msg: fmt.Sprintf("%s: %s", certFile, msg)}
	default:
		return &config.Error{Setting: "--tls-key", Msg: fmt.Sprintf("%s: %s", keyFile, msg)}
	}
}
