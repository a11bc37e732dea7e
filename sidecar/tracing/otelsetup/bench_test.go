package otelsetup_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sidecar/proxy"
	"github.com/faultline-dev/faultline/sidecar/tracing"
	"github.com/faultline-dev/faultline/sidecar/tracing/otelsetup"
)

type cannedTransport struct{ body string }

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: r,
	}, nil
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkCollector is the per-request cost, every span sampled, with the
// collector up (an in-process gRPC receiver), refusing connections, and
// accepting them but never answering: a collector that is down adds no
// latency, its spans are dropped.
func BenchmarkCollector(b *testing.B) {
	for _, bc := range []struct {
		name     string
		endpoint func(b *testing.B) string
	}{
		{"up", func(b *testing.B) string { return startGRPC(b, &receiver{}) }},
		{"refused", func(b *testing.B) string { return refused(b) }},
		{"black-hole", func(b *testing.B) string { return blackHole(b) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			kv := map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + bc.endpoint(b),
				"OTEL_EXPORTER_OTLP_TIMEOUT":  "1000",
				"OTEL_TRACES_SAMPLER":         "always_on",
			}
			tp, shutdown, err := otelsetup.FromEnv(context.Background(), func(k string) string { return kv[k] }, otelsetup.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				shutdown(ctx)
			}()
			obs := tracing.New(tp, propagator(), tracing.Options{})
			u, _ := url.Parse("http://127.0.0.1:8000")
			h := proxy.New(proxy.Options{Upstream: u, Transport: cannedTransport{`{"item_id":1}`},
				Observer: obs, Decorate: obs.Decorate, Route: func(string) string { return "/items/{item_id}" }})
			req, _ := http.NewRequest("GET", "http://sidecar/items/1", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
}
