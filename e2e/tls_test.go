package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/faultline-dev/faultline/sidecar/tlsconf/tlstest"
)

// pki is the certificates of one TLS test: a CA, the sidecar's pair in a
// directory laid out like a mounted Kubernetes secret, and a client CA.
type pki struct {
	ca     *tlstest.CA
	secret *tlstest.SecretDir
	leaf   *tlstest.Leaf
	dir    string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca, err := tlstest.NewCA("faultline e2e CA")
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{ca: ca, dir: t.TempDir()}
	secretDir := filepath.Join(p.dir, "secret")
	if err := os.Mkdir(secretDir, 0o700); err != nil {
		t.Fatal(err)
	}
	p.secret = tlstest.NewSecretDir(secretDir)
	p.leaf = p.issue(t, tlstest.Options{})
	if err := p.secret.UpdatePair(p.leaf); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pki) issue(t *testing.T, o tlstest.Options) *tlstest.Leaf {
	t.Helper()
	l, err := p.ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// file writes data to a file in the test's directory and returns its path.
func (p *pki) file(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsArgs are the flags serving p's pair.
func (p *pki) tlsArgs() []string {
	return []string{"--tls-cert", p.secret.Path("tls.crt"), "--tls-key", p.secret.Path("tls.key")}
}

// client returns an HTTPS client trusting p's CA, speaking HTTP/2 when
// h2, else only HTTP/1.1.
func (p *pki) client(h2 bool, certs ...tls.Certificate) *http.Client {
	return &http.Client{Transport: p.transport(h2, certs...), Timeout: 10 * time.Second}
}

func (p *pki) transport(h2 bool, certs ...tls.Certificate) *http.Transport {
	var protos http.Protocols
	protos.SetHTTP1(!h2)
	protos.SetHTTP2(h2)
	tc := &tls.Config{RootCAs: p.ca.Pool(), Certificates: certs}
	if !h2 {
		// Offer HTTP/1.1 by ALPN, as browsers and curl do; Go's client
		// offers nothing when HTTP/2 is off.
		tc.NextProtos = []string{"http/1.1"}
	}
	return &http.Transport{TLSClientConfig: tc, Protocols: &protos}
}

// httpsURL is the sidecar's proxy URL over TLS.
func (s *sidecar) httpsURL() string { return "https://" + strings.TrimPrefix(s.URL, "http://") }

// servingField returns a field of the sidecar's "faultline serving" line.
func (s *sidecar) servingField(t *testing.T, field string) string {
	t.Helper()
	for _, line := range s.Stderr.Lines() {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == "faultline serving" {
			v, _ := l[field].(string)
			return v
		}
	}
	t.Fatalf("no serving line:\n%s", s.Stderr.String())
	return ""
}

func get(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("GET %s: body: %v", url, err)
	}
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp
}

func body(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestTLSTermination: HTTPS through to the FastAPI app, HTTP/2 by ALPN and
// HTTP/1.1, the forwarded scheme, and the TLS metrics.
func TestTLSTermination(t *testing.T) {
	a := startApp(t, "")
	p := newPKI(t)
	s := startSidecar(t, append(p.tlsArgs(), "--upstream", a.URL)...)
	if got := s.servingField(t, "scheme"); got != "https" {
		t.Errorf("serving line scheme %q", got)
	}
	base := s.httpsURL()

	for _, h2 := range []bool{true, false} {
		resp := get(t, p.client(h2), base+"/items/7")
		wantProto := map[bool]string{true: "HTTP/2.0", false: "HTTP/1.1"}[h2]
		if resp.StatusCode != 200 || resp.Proto != wantProto {
			t.Errorf("h2=%v: %d %s, want 200 %s", h2, resp.StatusCode, resp.Proto, wantProto)
		}
		if want := map[bool]string{true: "h2", false: "http/1.1"}[h2]; resp.TLS.NegotiatedProtocol != want {
			t.Errorf("ALPN %q, want %q", resp.TLS.NegotiatedProtocol, want)
		}
		if resp.TLS.Version < tls.VersionTLS12 {
			t.Errorf("TLS version %x", resp.TLS.Version)
		}
		if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Cmp(p.leaf.Cert.SerialNumber) != 0 {
			t.Errorf("served serial %s, want %s", got, p.leaf.Cert.SerialNumber)
		}
	}

	// The app learns that the client used https.
	resp := get(t, p.client(true), base+"/echo")
	var echo struct{ Headers map[string]string }
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
		t.Fatal(err)
	}
	if echo.Headers["x-forwarded-proto"] != "https" {
		t.Errorf("X-Forwarded-Proto %q, want https", echo.Headers["x-forwarded-proto"])
	}

	// A 422 over HTTP/2 is observed like any other.
	req, _ := http.NewRequest("POST", base+"/items", strings.NewReader(`{"name": "x"}`))
	req.Header.Set("Content-Type", "application/json")
	r2, err := p.client(true).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r2.Body)
	r2.Body.Close()
	if r2.StatusCode != 422 {
		t.Errorf("POST /items: %d", r2.StatusCode)
	}

	// Plain HTTP on the HTTPS port gets a 400 and is counted.
	code, text := do(t, "GET", s.URL+"/items/1", nil, nil)
	if code != 400 || !strings.Contains(text, "HTTPS server") {
		t.Errorf("plain HTTP to the HTTPS port: %d %q", code, text)
	}
	// The failed handshake is counted when its connection ends, which may
	// be a moment after the client read the 400.
	m := scrape(t, s.MetricsURL)
	for deadline := time.Now().Add(5 * time.Second); m[`faultline_tls_handshake_errors_total{reason="not_tls"}`] == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		m = scrape(t, s.MetricsURL)
	}
	if got, want := m["faultline_tls_cert_expiry_timestamp_seconds"], float64(p.leaf.Cert.NotAfter.Unix()); got != want {
		t.Errorf("expiry gauge %v, want %v", got, want)
	}
	if m[`faultline_tls_handshake_errors_total{reason="not_tls"}`] != 1 {
		t.Errorf("not_tls not counted: %v", m.Distinct("faultline_tls_handshake_errors_total", "reason"))
	}
	n := 0.0
	for k, v := range m {
		if strings.HasPrefix(k, "faultline_validation_errors_total{") && strings.Contains(k, `location="body.price"`) {
			n += v
		}
	}
	if n != 1 {
		t.Errorf("422 over HTTP/2 counted %v times in faultline_validation_errors_total, want 1", n)
	}
	s.stop(t)
}

// TestTLSRotation replaces the key pair the way the kubelet updates a
// secret while clients keep sending requests: new handshakes get the new
// certificate, a connection opened before keeps working, nothing fails.
func TestTLSRotation(t *testing.T) {
	a := startApp(t, "")
	p := newPKI(t)
	s := startSidecar(t, append(p.tlsArgs(), "--upstream", a.URL)...)
	base := s.httpsURL()
	oldSerial, next := p.leaf.Cert.SerialNumber.String(), p.issue(t, tlstest.Options{})
	newSerial := next.Cert.SerialNumber.String()

	// One long-lived HTTP/2 connection, and clients that handshake anew
	// for every request.
	kept := p.client(true)
	if resp := get(t, kept, base+"/items/1"); resp.TLS.PeerCertificates[0].SerialNumber.String() != oldSerial {
		t.Fatal("first request not served with the first certificate")
	}
	var ok, failed atomic.Int64
	var sawNew atomic.Bool
	var mu sync.Mutex
	var failures []string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			tr := p.transport(w%2 == 0)
			tr.DisableKeepAlives = true
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for ctx.Err() == nil {
				resp, err := c.Get(fmt.Sprintf("%s/items/%d", base, w))
				if err != nil {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				ok.Add(1)
				if resp.TLS.PeerCertificates[0].SerialNumber.String() == newSerial {
					sawNew.Store(true)
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	before := ok.Load()
	if err := p.secret.UpdatePair(next); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !sawNew.Load() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // and a little more traffic on the new one
	cancel()
	wg.Wait()
	if !sawNew.Load() {
		t.Errorf("new serial %s never served:\n%s", newSerial, s.Stderr.String())
	}
	if failed.Load() != 0 {
		t.Errorf("%d requests failed during the rotation: %v", failed.Load(), failures)
	}
	t.Logf("%d requests (%d before the swap), none failed", ok.Load(), before)
	if before == 0 || ok.Load() == before {
		t.Errorf("no traffic around the swap (%d before, %d in all)", before, ok.Load())
	}

	// The connection opened before the swap still works, on its old
	// certificate.
	resp := get(t, kept, base+"/items/2")
	if resp.StatusCode != 200 || resp.TLS.PeerCertificates[0].SerialNumber.String() != oldSerial {
		t.Errorf("kept connection: %d, serial %s", resp.StatusCode, resp.TLS.PeerCertificates[0].SerialNumber)
	}
	if got := scrape(t, s.MetricsURL)["faultline_tls_cert_expiry_timestamp_seconds"]; got != float64(next.Cert.NotAfter.Unix()) {
		t.Errorf("expiry gauge %v after the rotation, want the new certificate's %d", got, next.Cert.NotAfter.Unix())
	}

	// A broken pair is refused and the current one kept.
	other := p.issue(t, tlstest.Options{})
	if err := p.secret.Update(map[string][]byte{"tls.crt": other.CertPEM(), "tls.key": next.KeyPEM()}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(s.Stderr.String(), "not loaded") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(s.Stderr.String(), "does not match") {
		t.Errorf("mismatched pair not logged:\n%s", s.Stderr.String())
	}
	tr := p.transport(true)
	tr.DisableKeepAlives = true
	if resp := get(t, &http.Client{Transport: tr}, base+"/items/3"); resp.TLS.PeerCertificates[0].SerialNumber.String() != newSerial {
		t.Errorf("after a bad update, serving %s, want %s kept", resp.TLS.PeerCertificates[0].SerialNumber, newSerial)
	}
	s.stop(t)
}

// TestMTLS: with --tls-client-ca, a client certificate from that CA is
// required; others are refused and counted by reason.
func TestMTLS(t *testing.T) {
	a := startApp(t, "")
	p := newPKI(t)
	caFile := p.file(t, "mesh-ca.pem", p.ca.PEM())
	s := startSidecar(t, append(p.tlsArgs(), "--upstream", a.URL, "--tls-client-ca", caFile)...)
	base := s.httpsURL()

	mesh := p.issue(t, tlstest.Options{Client: true, CN: "mesh-proxy"}).TLS()
	resp := get(t, p.client(true, mesh), base+"/items/1")
	if resp.StatusCode != 200 {
		t.Errorf("with a client certificate: %d", resp.StatusCode)
	}

	other, err := tlstest.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	strangerLeaf, err := other.Issue(tlstest.Options{Client: true, CN: "stranger"})
	if err != nil {
		t.Fatal(err)
	}
	stranger := strangerLeaf.TLS()
	for name, c := range map[string]*http.Client{
		"no certificate": p.client(true),
		"another CA": {Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ca.Pool(),
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stranger, nil }}}},
	} {
		resp, err := c.Get(base + "/items/1")
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: answered %d, want the handshake refused", name, resp.StatusCode)
		}
	}
	m := scrape(t, s.MetricsURL)
	for _, reason := range []string{"no_certificate", "unknown_ca"} {
		if m[`faultline_tls_handshake_errors_total{reason="`+reason+`"}`] < 1 {
			t.Errorf("reason %s not counted: %v", reason, m)
		}
	}
	s.stop(t)
}

// TestTLSStreams: a WebSocket echo (HTTP/1.1 over TLS) and server-sent
// events over HTTP/2 pass through and are counted, and neither is captured.
func TestTLSStreams(t *testing.T) {
	a := startApp(t, "")
	p := newPKI(t)

	// uvicorn here has no WebSocket library, so the WebSocket upstream is
	// a Go server; SSE comes from the FastAPI app.
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ws" {
			http.NotFound(w, r)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	}))
	defer ws.Close()
	wsSidecar := startSidecar(t, append(p.tlsArgs(), "--upstream", ws.URL, "--routes", p.file(t, "routes.txt", []byte("/ws\n")))...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "wss://"+strings.TrimPrefix(wsSidecar.URL, "http://")+"/ws",
		&websocket.DialOptions{HTTPClient: p.client(true)})
	if err != nil {
		t.Fatalf("WebSocket dial through the sidecar: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("upgrade answered %d", resp.StatusCode)
	}
	for i := range 3 {
		msg := fmt.Sprintf("hello %d", i)
		if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := conn.Read(ctx)
		if err != nil || string(got) != msg {
			t.Fatalf("echo %q, %v; want %q", got, err, msg)
		}
	}
	conn.Close(websocket.StatusNormalClosure, "done")
	// The exchange ends, and is counted, when the upgraded connection closes.
	deadline := time.Now().Add(5 * time.Second)
	for scrape(t, wsSidecar.MetricsURL)[`faultline_http_requests_total{code="101",method="GET",route="/ws"}`] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("WebSocket not counted as code 101:\n%v", scrape(t, wsSidecar.MetricsURL))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// SSE over HTTP/2: each event arrives when the app sends it.
	s := startSidecar(t, append(p.tlsArgs(), "--upstream", a.URL)...)
	start := time.Now()
	r, err := p.client(true).Get(s.httpsURL() + "/events?count=3&gap=0.7")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.ProtoMajor != 2 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%s %s", r.Proto, r.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(r.Body)
	var arrivals []time.Duration
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			arrivals = append(arrivals, time.Since(start))
		}
	}
	if len(arrivals) != 3 {
		t.Fatalf("%d events, want 3", len(arrivals))
	}
	if arrivals[0] > 600*time.Millisecond || arrivals[2]-arrivals[0] < time.Second {
		t.Errorf("events arrived at %v: not streamed as sent (0, 0.7s, 1.4s)", arrivals)
	}
	wsSidecar.stop(t)
	s.stop(t)
}

// TestH2CUpstreamTrailers: a gRPC-style exchange (HTTP/2, streamed body,
// trailers announced or not) from an HTTPS client to an h2c upstream.
func TestH2CUpstreamTrailers(t *testing.T) {
	needE2E(t)
	p := newPKI(t)
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	var sawProto, sawTE atomic.Value
	up := &http.Server{Protocols: &protos, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawProto.Store(r.Proto)
		sawTE.Store(r.Header.Get("Te"))
		in, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		w.WriteHeader(200)
		fmt.Fprintf(w, "got %d bytes;", len(in))
		http.NewResponseController(w).Flush()
		io.WriteString(w, "second frame")
		w.Header().Set("Grpc-Status", "0")
		// Not announced, as gRPC servers do.
		w.Header().Set(http.TrailerPrefix+"Grpc-Message", "all good")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go up.Serve(ln)
	defer up.Close()
	s := startSidecar(t, append(p.tlsArgs(), "--upstream", "http://"+ln.Addr().String(), "--upstream-h2c", "--routes", p.file(t, "routes.txt", []byte("/pkg.Service/Method\n")))...)
	s.waitReady(t, 200)

	for _, h2 := range []bool{true, false} {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte("\x00\x00\x00\x00\x05hello"))
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", s.httpsURL()+"/pkg.Service/Method", pr)
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Te", "trailers")
		resp, err := p.client(h2).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "got 10 bytes;second frame" {
			t.Errorf("h2=%v: body %q", h2, b)
		}
		if resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("Grpc-Message") != "all good" {
			t.Errorf("h2=%v: trailers %v, want Grpc-Status and Grpc-Message", h2, resp.Trailer)
		}
		if sawProto.Load() != "HTTP/2.0" || sawTE.Load() != "trailers" {
			t.Errorf("upstream saw %v with TE %q, want HTTP/2.0 and trailers", sawProto.Load(), sawTE.Load())
		}
	}
	s.stop(t)
}

// TestHTTPSUpstream: the sidecar talks TLS to an upstream whose CA and
// name are given by flags; probes and route learning use the same
// settings.
func TestHTTPSUpstream(t *testing.T) {
	needE2E(t)
	p := newPKI(t)
	upLeaf := p.issue(t, tlstest.Options{Hosts: []string{"app.internal"}})
	var sawProto atomic.Value
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/openapi.json" {
			io.WriteString(w, `{"openapi": "3.1.0", "info": {"title": "app", "version": "1"},
				"paths": {"/items/{item_id}": {"get": {"responses": {"200": {"description": "ok"}}}}}}`)
			return
		}
		sawProto.Store(r.Proto)
		io.WriteString(w, `{"ok": true}`)
	}))
	up.EnableHTTP2 = true
	up.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below
	up.TLS = &tls.Config{Certificates: []tls.Certificate{upLeaf.TLS()}}
	up.StartTLS()
	defer up.Close()
	caFile := p.file(t, "app-ca.pem", p.ca.PEM())
	s := startSidecar(t, "--upstream", up.URL, "--upstream-ca", caFile, "--upstream-server-name", "app.internal")
	s.waitReady(t, 200)
	s.waitRoutes(t)
	code, text := do(t, "GET", s.URL+"/items/5", nil, nil)
	if code != 200 || !strings.Contains(text, "ok") {
		t.Errorf("through an https upstream: %d %q", code, text)
	}
	if sawProto.Load() != "HTTP/2.0" {
		t.Errorf("upstream saw %v, want HTTP/2.0 negotiated", sawProto.Load())
	}
	s.stop(t)

	// Without the CA, the upstream's certificate is refused: 502.
	s = startSidecar(t, "--upstream", up.URL, "--upstream-server-name", "app.internal")
	if code, _ := do(t, "GET", s.URL+"/items/5", nil, nil); code != 502 {
		t.Errorf("untrusted upstream: %d, want 502", code)
	}
}

// TestRedirectHTTP: --redirect-http sends plain-HTTP clients to HTTPS.
func TestRedirectHTTP(t *testing.T) {
	a := startApp(t, "")
	p := newPKI(t)
	s := startSidecar(t, append(p.tlsArgs(), "--upstream", a.URL, "--redirect-http", "127.0.0.1:0")...)
	redirect := s.servingField(t, "redirect")
	c := p.client(false)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Get("http://" + redirect + "/items/9?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := s.httpsURL() + "/items/9?x=1"
	if resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Errorf("%d Location %q, want 301 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	// Followed, it reaches the app.
	if resp := get(t, p.client(false), "http://"+redirect+"/items/9"); resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("redirect followed: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	s.stop(t)
}

// TestTLSSelfSigned: --tls-self-signed serves a certificate for localhost
// and prints its fingerprint.
func TestTLSSelfSigned(t *testing.T) {
	a := startApp(t, "")
	s := startSidecar(t, "--upstream", a.URL, "--tls-self-signed")
	var fp string
	for _, line := range s.Stderr.Lines() {
		var l struct{ Msg, Sha256 string }
		if json.Unmarshal([]byte(line), &l) == nil && strings.Contains(l.Msg, "self-signed") {
			fp = l.Sha256
		}
	}
	if fp == "" {
		t.Fatalf("no fingerprint printed:\n%s", s.Stderr.String())
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	resp := get(t, c, s.httpsURL()+"/items/1")
	leaf := resp.TLS.PeerCertificates[0]
	if resp.StatusCode != 200 || leaf.VerifyHostname("localhost") != nil {
		t.Errorf("%d, names %v", resp.StatusCode, leaf.DNSNames)
	}
	var got strings.Builder
	for i, b := range sha256.Sum256(leaf.Raw) {
		if i > 0 {
			got.WriteByte(':')
		}
		fmt.Fprintf(&got, "%02X", b)
	}
	if got.String() != fp {
		t.Errorf("printed fingerprint %s, served certificate's %s", fp, got.String())
	}
	s.stop(t)
}

// TestTLSBadInput: each bad TLS setting stops start-up with one line
// naming the flag, and exit code 2; an expired certificate only warns.
func TestTLSBadInput(t *testing.T) {
	needE2E(t)
	p := newPKI(t)
	other := p.issue(t, tlstest.Options{})
	otherKey := p.file(t, "other.key", other.KeyPEM())
	garbage := p.file(t, "garbage.pem", []byte("hello\n"))
	missing := filepath.Join(p.dir, "missing.pem")
	cert, key := p.secret.Path("tls.crt"), p.secret.Path("tls.key")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing certificate", []string{"--tls-cert", missing, "--tls-key", key}, "--tls-cert: cannot read " + missing},
		{"missing key", []string{"--tls-cert", cert, "--tls-key", missing}, "--tls-key: cannot read " + missing},
		{"key of another certificate", []string{"--tls-cert", cert, "--tls-key", otherKey}, "--tls-key: " + otherKey + " does not match the certificate in " + cert},
		{"client CA without a certificate", []string{"--tls-cert", cert, "--tls-key", key, "--tls-client-ca", garbage}, "--tls-client-ca: " + garbage + " holds no PEM certificate"},
		{"client CA missing", []string{"--tls-cert", cert, "--tls-key", key, "--tls-client-ca", missing}, "--tls-client-ca: cannot read"},
		{"upstream CA", []string{"--upstream", "https://127.0.0.1:1", "--upstream-ca", garbage}, "--upstream-ca: " + garbage + " holds no PEM certificate"},
		{"h2c over https", []string{"--upstream", "https://127.0.0.1:1", "--upstream-h2c"}, "--upstream-h2c: "},
		{"redirect without TLS", []string{"--redirect-http", "127.0.0.1:0"}, "--redirect-http: needs HTTPS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)
			out, err := exec.Command(binary, args...).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want 2:\n%s", err, out)
			}
			text := strings.TrimSpace(string(out))
			if strings.Count(text, "\n") != 0 || !strings.Contains(text, tc.want) {
				t.Errorf("output %q, want one line with %q", text, tc.want)
			}
		})
	}

	// An expired certificate is served, with a warning: its renewal will
	// be picked up without a restart.
	expired := p.issue(t, tlstest.Options{NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	ec, ek := p.file(t, "expired.crt", expired.CertPEM()), p.file(t, "expired.key", expired.KeyPEM())
	s := startSidecar(t, "--tls-cert", ec, "--tls-key", ek, "--upstream", "http://127.0.0.1:1")
	if !strings.Contains(s.Stderr.String(), "has expired") {
		t.Errorf("no warning for an expired certificate:\n%s", s.Stderr.String())
	}
	s.stop(t)
}
