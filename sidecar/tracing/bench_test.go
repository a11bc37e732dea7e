package tracing_test

import (
	"context"
	"github.com/faultline-dev/faultline/internal/testkit"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/faultline-dev/faultline/sidecar/exchange"
	"github.com/faultline-dev/faultline/sidecar/proxy"
	"github.com/faultline-dev/faultline/sidecar/tracing"
	"github.com/faultline-dev/faultline/sidecar/tracing/otelsetup"
)

// discardExporter accepts and forgets every span.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// observer returns the tracing observer of a case, nil for tracing off.
func observer(b *testing.B, name string, ratio float64) *tracing.Observer {
	switch name {
	case "off":
		return nil
	case "noop-provider":
		return tracing.New(noop.NewTracerProvider(), propagator(), tracing.Options{})
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(otelsetup.RecordAll(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)))),
		sdktrace.WithSpanProcessor(otelsetup.NewEdgeProcessor(discardExporter{}, otelsetup.ProcessorOptions{})))
	b.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tracing.New(tp, propagator(), tracing.Options{Keep: func(s int) bool { return s == 422 }})
}

var cases = []struct {
	name  string
	ratio float64
}{{"off", 0}, {"noop-provider", 0}, {"ratio-0", 0}, {"ratio-0.1", 0.1}, {"ratio-1", 1}}

// BenchmarkServeHTTP is the per-request cost of the proxy with tracing off
// (no observer), a noop provider, and the SDK pipeline at ratios 0, 10 %
// and 100 % (spans exported to a discarding exporter), with a canned
// upstream.
func BenchmarkServeHTTP(b *testing.B) {
	u, _ := url.Parse("http://127.0.0.1:8000")
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			opts := proxy.Options{Upstream: u, Transport: testkit.CannedTransport{Body: `{"item_id":1,"name":"item 1","price":9.5}`},
				Route: func(string) string { return "/items/{item_id}" }}
			if obs := observer(b, bc.name, bc.ratio); obs != nil {
				opts.Observer, opts.Decorate = obs, obs.Decorate
			}
			h := proxy.New(opts)
			req, _ := http.NewRequest("GET", "http://sidecar/items/1?q=x", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("User-Agent", "wrk")
			req.Header.Set("Accept", "*/*")
			w := &testkit.DiscardWriter{H: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.H)
				h.ServeHTTP(w, req)
			}
		})
	}
}

// BenchmarkLoopback is the same through a real upstream on loopback, so
// that the httptrace hooks of the client span run too.
func BenchmarkLoopback(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"item_id":1}`)
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			tr := proxy.NewTransport(proxy.TransportOptions{})
			defer tr.CloseIdleConnections()
			opts := proxy.Options{Upstream: u, Transport: tr, Route: func(string) string { return "/items/{item_id}" }}
			if obs := observer(b, bc.name, bc.ratio); obs != nil {
				opts.Observer, opts.Decorate = obs, obs.Decorate
			}
			h := proxy.New(opts)
			req, _ := http.NewRequest("GET", "http://sidecar/items/1", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			w := &testkit.DiscardWriter{H: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.H)
				h.ServeHTTP(w, req)
			}
		})
	}
}

var _ exchange.Observer = (*tracing.Observer)(nil)
