package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/sidecar/config"
	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
	"github.com/faultline-dev/faultline/sidecar/tlsconf/tlstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logBuffer is a slog destination safe for the poller to write while the
// test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func mustCA(t *testing.T, name string) *tlstest.CA {
	t.Helper()
	ca, err := tlstest.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustIssue(t *testing.T, ca *tlstest.CA, o tlstest.Options) *tlstest.Leaf {
	t.Helper()
	l, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNewBadInput(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, "test CA")
	a, b := mustIssue(t, ca, tlstest.Options{}), mustIssue(t, ca, tlstest.Options{})
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certA, keyA, keyB := write("a.crt", a.CertPEM()), write("a.key", a.KeyPEM()), write("b.key", b.KeyPEM())
	garbage := write("garbage.pem", []byte("not PEM\n"))
	unreadable := write("unreadable.pem", ca.PEM())
	os.Chmod(unreadable, 0)
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"missing cert", Options{CertFile: missing, KeyFile: keyA}, "--tls-cert: cannot read " + missing + ": no such file"},
		{"missing key", Options{CertFile: certA, KeyFile: missing}, "--tls-key: cannot read " + missing},
		{"key of another certificate", Options{CertFile: certA, KeyFile: keyB}, "--tls-key: " + keyB + " does not match the certificate in " + certA},
		{"cert not PEM", Options{CertFile: garbage, KeyFile: keyA}, "--tls-cert: " + garbage + ": failed to find any PEM data"},
		{"key is a certificate", Options{CertFile: certA, KeyFile: certA}, "--tls-key: " + certA},
		{"client CA missing", Options{CertFile: certA, KeyFile: keyA, ClientCAFile: missing}, "--tls-client-ca: cannot read " + missing},
		{"client CA not PEM", Options{CertFile: certA, KeyFile: keyA, ClientCAFile: garbage}, "--tls-client-ca: " + garbage + " holds no PEM certificate"},
	}
	if os.Geteuid() != 0 { // root reads any file
		tests = append(tests, struct {
			name string
			opts Options
			want string
		}{"client CA unreadable", Options{CertFile: certA, KeyFile: keyA, ClientCAFile: unreadable}, "--tls-client-ca: cannot read " + unreadable + ": permission denied"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want *config.Error", err, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q\nwant prefix %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	_, err := Upstream(garbage, "")
	if err == nil || !strings.HasPrefix(err.Error(), "--upstream-ca: ") {
		t.Errorf("Upstream with a bad CA: %v", err)
	}
}

func TestExpiredCertificateIsServedWithAWarning(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, "test CA")
	old := mustIssue(t, ca, tlstest.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := old.Write(cert, key); err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	s, err := New(Options{CertFile: cert, KeyFile: key, Logger: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	if s.Leaf().SerialNumber.Cmp(old.Cert.SerialNumber) != 0 {
		t.Error("the expired certificate is not served")
	}
	if !strings.Contains(log.String(), "has expired") || !strings.Contains(log.String(), "--tls-cert") {
		t.Errorf("no warning naming --tls-cert:\n%s", log.String())
	}
}

// serial does one handshake with l and returns the serial number of the
// certificate served.
func serial(t *testing.T, addr string, roots *tlstest.CA) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots.Pool(), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// serve accepts on l until it is closed, keeping each connection open
// until the client closes it.
func serve(l net.Listener) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				io.Copy(io.Discard, c)
				c.Close()
			})
		}
	})
	return &wg
}

func TestReloadOnSymlinkSwap(t *testing.T) {
	ca := mustCA(t, "test CA")
	first, second, third := mustIssue(t, ca, tlstest.Options{}), mustIssue(t, ca, tlstest.Options{}), mustIssue(t, ca, tlstest.Options{})
	expired := mustIssue(t, ca, tlstest.Options{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	sd := tlstest.NewSecretDir(t.TempDir())
	if err := sd.UpdatePair(first); err != nil {
		t.Fatal(err)
	}
	var log logBuffer
	s, err := New(Options{CertFile: sd.Path("tls.crt"), KeyFile: sd.Path("tls.key"), Interval: 10 * time.Millisecond, Logger: log.logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var runs sync.WaitGroup
	runs.Go(func() { s.Run(ctx) })
	defer runs.Wait()
	defer cancel()

	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, s.Config(), ListenerOptions{})
	conns := serve(l)
	defer conns.Wait()
	defer l.Close()
	addr := l.Addr().String()

	// A connection opened before the swap lives through it.
	kept, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()

	waitSerial := func(want *tlstest.Leaf) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for serial(t, addr, ca) != want.Cert.SerialNumber.String() {
			if time.Now().After(deadline) {
				t.Fatalf("serial %s never served; log:\n%s", want.Cert.SerialNumber, log.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitSerial(first)
	if err := sd.UpdatePair(second); err != nil {
		t.Fatal(err)
	}
	waitSerial(second)
	if !strings.Contains(log.String(), "certificate reloaded") {
		t.Errorf("reload not logged:\n%s", log.String())
	}
	if _, err := kept.Write([]byte("still here")); err != nil {
		t.Errorf("connection opened before the reload: %v", err)
	}

	// A pair that does not match is refused, logged once, and the
	// current certificate kept; so is an expired replacement.
	for _, bad := range []map[string][]byte{
		{"tls.crt": third.CertPEM(), "tls.key": first.KeyPEM()},
		{"tls.crt": expired.CertPEM(), "tls.key": expired.KeyPEM()},
	} {
		if err := sd.Update(bad); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // ten polls
		if got := serial(t, addr, ca); got != second.Cert.SerialNumber.String() {
			t.Fatalf("serving %s after a bad update, want %s kept", got, second.Cert.SerialNumber)
		}
	}
	if n := strings.Count(log.String(), "not loaded"); n != 2 {
		t.Errorf("%d refusals logged, want one per bad update:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), "does not match") || !strings.Contains(log.String(), "the current one is still valid") {
		t.Errorf("refusals do not say why:\n%s", log.String())
	}

	// Files rewritten in place (not through a symlink) are picked up too.
	if err := os.Remove(sd.Path("tls.crt")); err != nil {
		t.Fatal(err)
	}
	os.Remove(sd.Path("tls.key"))
	if err := third.Write(sd.Path("tls.crt"), sd.Path("tls.key")); err != nil {
		t.Fatal(err)
	}
	waitSerial(third)
}

// dialer is one way a client handshakes (or fails to).
type dialer func(addr string) error

func tlsClient(cfg *tls.Config) dialer {
	return func(addr string) error {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		// With TLS 1.3 the client finishes first; the server's verdict on
		// its certificate arrives with the first read.
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Read(make([]byte, 1))
		return err
	}
}

func TestListenerCountsFailuresByReason(t *testing.T) {
	ca, other := mustCA(t, "test CA"), mustCA(t, "other CA")
	server := mustIssue(t, ca, tlstest.Options{})
	dir := t.TempDir()
	cert, key, clientCA := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.pem")
	if err := server.Write(cert, key); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(clientCA, ca.PEM(), 0o600)
	s, err := New(Options{CertFile: cert, KeyFile: key, ClientCAFile: clientCA})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var log logBuffer
	m, err := NewMetrics(reg, s, log.logger())
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reasons := make(chan string, 1)
	l := NewListener(inner, s.Config(), ListenerOptions{HandshakeTimeout: 300 * time.Millisecond, OnError: func(remote net.Addr, err error) {
		m.HandshakeError(remote, err)
		reasons <- Reason(err)
	}})
	conns := serve(l)
	defer conns.Wait()
	defer l.Close()

	good := mustIssue(t, ca, tlstest.Options{Client: true, CN: "mesh"}).TLS()
	stranger := mustIssue(t, other, tlstest.Options{Client: true, CN: "stranger"}).TLS()
	stale := mustIssue(t, ca, tlstest.Options{Client: true, CN: "stale", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}).TLS()
	base := func() *tls.Config { return &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"} }
	with := func(f func(*tls.Config)) *tls.Config { c := base(); f(c); return c }

	tests := []struct {
		name string
		dial dialer
		want string // "" for a handshake that succeeds
	}{
		{"client certificate from the CA", tlsClient(with(func(c *tls.Config) { c.Certificates = []tls.Certificate{good} })), ""},
		{"no client certificate", tlsClient(base()), mn.TLSReasonNoCertificate},
		{"client certificate from another CA", tlsClient(with(func(c *tls.Config) {
			// Sent whatever CAs the server asks for: Go's client would
			// otherwise send none, as most clients do.
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stranger, nil }
		})), mn.TLSReasonUnknownCA},
		{"expired client certificate", tlsClient(with(func(c *tls.Config) { c.Certificates = []tls.Certificate{stale} })), mn.TLSReasonBadCertificate},
		{"client does not trust the server", tlsClient(&tls.Config{ServerName: "localhost", RootCAs: other.Pool()}), mn.TLSReasonBadCertificate},
		{"TLS 1.1", tlsClient(with(func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 })), mn.TLSReasonProtocolVersion},
		{"CBC only", tlsClient(with(func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
		})), mn.TLSReasonNoSharedCipher},
		{"plain HTTP", func(addr string) error {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer c.Close()
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			b, _ := io.ReadAll(c)
			if !strings.HasPrefix(string(b), "HTTP/1.0 400 Bad Request") {
				t.Errorf("plain HTTP client got %q", b)
			}
			return nil
		}, mn.TLSReasonNotTLS},
		{"hang up", func(addr string) error {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err
		}, mn.TLSReasonEOF},
		{"silent", func(addr string) error {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = io.ReadAll(c) // until the server gives up
			return err
		}, mn.TLSReasonTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.dial(l.Addr().String())
			if tc.want == "" {
				if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("handshake failed: %v", err)
				}
				select {
				case r := <-reasons:
					t.Fatalf("a good handshake counted as %s", r)
				case <-time.After(50 * time.Millisecond):
				}
				return
			}
			select {
			case got := <-reasons:
				if got != tc.want {
					t.Errorf("reason %s, want %s", got, tc.want)
				}
			case <-time.After(3 * time.Second):
				t.Fatalf("no failure reported (client: %v)", err)
			}
		})
	}
	if got := testutil.ToFloat64(m.errors[mn.TLSReasonBadCertificate]); got != 2 {
		t.Errorf("bad_certificate counted %v times, want 2", got)
	}
	n, err := testutil.GatherAndCount(reg, mn.TLSHandshakeErrorsTotal)
	if err != nil || n != len(mn.TLSHandshakeReasons) {
		t.Errorf("%d handshake error series (%v), want one per reason", n, err)
	}
}

func TestReasonOfPeerAlerts(t *testing.T) {
	for code, want := range map[uint8]string{
		48:  mn.TLSReasonUnknownCA, // OpenSSL clients: the server's CA is unknown
		42:  mn.TLSReasonBadCertificate,
		45:  mn.TLSReasonBadCertificate,
		70:  mn.TLSReasonProtocolVersion,
		116: mn.TLSReasonNoCertificate,
		0:   mn.TLSReasonEOF,
		80:  mn.TLSReasonOther, // internal_error
	} {
		err := &net.OpError{Op: "remote error", Err: tls.AlertError(code)}
		if got := Reason(err); got != want {
			t.Errorf("alert %d (%v): reason %s, want %s", code, err, got, want)
		}
	}
	if got := Reason(errors.New("something new in crypto/tls")); got != mn.TLSReasonOther {
		t.Errorf("unknown error: %s", got)
	}
}

func TestHandshakeErrorLogsAreRateLimited(t *testing.T) {
	s := selfSigned(t)
	var log logBuffer
	m, err := NewMetrics(prometheus.NewRegistry(), s, log.logger())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	m.now = func() time.Time { return now }
	for range 100 {
		m.HandshakeError(nil, io.EOF)
		m.HandshakeError(nil, tls.RecordHeaderError{Msg: "not TLS"})
	}
	if n := strings.Count(log.String(), "handshake failed"); n != 2 {
		t.Errorf("%d lines for 200 failures of two reasons, want 2:\n%s", n, log.String())
	}
	now = now.Add(LogEvery)
	m.HandshakeError(nil, io.EOF)
	if !strings.Contains(log.String(), "not_logged_since_last=99") {
		t.Errorf("the next line does not count the lines left out:\n%s", log.String())
	}
	if got := testutil.ToFloat64(m.errors[mn.TLSReasonEOF]); got != 101 {
		t.Errorf("eof counted %v, want 101", got)
	}
}

func selfSigned(t *testing.T) *Server {
	t.Helper()
	s, err := New(Options{SelfSigned: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSelfSignedWithClientCA(t *testing.T) {
	ca := mustCA(t, "mesh CA")
	file := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(file, ca.PEM(), 0o600)
	s, err := New(Options{SelfSigned: true, ClientCAFile: file})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := s.Config().GetConfigForClient(nil)
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.ClientCAs == nil || !cfg.ClientCAs.Equal(ca.Pool()) {
		t.Errorf("client auth %v with CAs %v", cfg.ClientAuth, cfg.ClientCAs)
	}
}

func TestSelfSigned(t *testing.T) {
	s := selfSigned(t)
	leaf := s.Leaf()
	if err := leaf.VerifyHostname("localhost"); err != nil {
		t.Error(err)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	if d := time.Until(leaf.NotAfter); d < SelfSignedValidity-time.Hour {
		t.Errorf("valid for %s only", d)
	}
	fp := s.Fingerprint()
	if len(fp) != 32*3-1 || strings.Count(fp, ":") != 31 {
		t.Errorf("fingerprint %q", fp)
	}
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg, s, nil); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == mn.TLSCertExpiry {
			if got := f.Metric[0].GetGauge().GetValue(); got != float64(leaf.NotAfter.Unix()) {
				t.Errorf("expiry gauge %v, want %d", got, leaf.NotAfter.Unix())
			}
			return
		}
	}
	t.Errorf("%s not registered", mn.TLSCertExpiry)
}

func TestListenerNegotiatesHTTP2(t *testing.T) {
	s := selfSigned(t)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewListener(inner, s.Config(), ListenerOptions{})
	defer l.Close()
	for _, proto := range []string{"h2", "http/1.1"} {
		errc := make(chan error, 1)
		go func() {
			c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{proto}})
			if err == nil {
				c.Close()
			}
			errc <- err
		}()
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		tc, ok := c.(*tls.Conn)
		if !ok {
			t.Fatalf("Accept returned a %T, want *tls.Conn", c)
		}
		st := tc.ConnectionState()
		if !st.HandshakeComplete || st.NegotiatedProtocol != proto || st.Version < tls.VersionTLS12 {
			t.Errorf("state %+v, want %s", st, proto)
		}
		c.Close()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
}
