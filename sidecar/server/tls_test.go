package server

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/faultline-dev/faultline/sidecar/config"
	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

// TestHTTPSAssembly starts the sidecar in-process with a self-signed
// certificate and a redirect listener in front of an httptest upstream:
// HTTP/2 by ALPN, the forwarded scheme, the redirect, the TLS families.
func TestHTTPSAssembly(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Forwarded-Proto"))
	}))
	defer up.Close()
	cfg := config.Default()
	cfg.Listen, cfg.MetricsListen, cfg.RedirectHTTP = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Capture = config.CodeSet{}
	cfg.Routes = ""
	cfg.Upstream, _ = url.Parse(up.URL)
	cfg.TLSSelfSigned = true
	cfg.DrainTimeout = 5 * time.Second
	reg := prometheus.NewRegistry()
	s, err := Start(cfg, Deps{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	c := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + s.Addr() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(b) != "https" {
		t.Errorf("%s %q, want HTTP/2 and X-Forwarded-Proto https", resp.Proto, b)
	}

	resp, err = c.Get("http://" + s.RedirectAddr() + "/x?y=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://127.0.0.1:" + s.Addr()[strings.LastIndex(s.Addr(), ":")+1:] + "/x?y=1"; resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Errorf("redirect %d %q, want 301 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	if n, err := testutil.GatherAndCount(reg, mn.TLSHandshakeErrorsTotal, mn.TLSCertExpiry); err != nil || n != len(mn.TLSHandshakeReasons)+1 {
		t.Errorf("%d TLS series (%v)", n, err)
	}
}

// TestPlainHTTPHasNoTLSFamilies: without TLS nothing of it is registered.
func TestPlainHTTPHasNoTLSFamilies(t *testing.T) {
	cfg := config.Default()
	cfg.Listen, cfg.MetricsListen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Capture = config.CodeSet{}
	reg := prometheus.NewRegistry()
	s, err := Start(cfg, Deps{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.mainLn.Close()
	defer s.metricsLn.Close()
	if n, _ := testutil.GatherAndCount(reg, mn.TLSHandshakeErrorsTotal, mn.TLSCertExpiry); n != 0 {
		t.Errorf("%d TLS series on a plain-HTTP sidecar", n)
	}
	if s.tls != nil || s.RedirectAddr() != "" {
		t.Error("TLS parts built for plain HTTP")
	}
}
