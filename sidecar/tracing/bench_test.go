package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/faultline-dev/faultline/internal/testkit"
	"github.com/faultline-dev/faultline/sidecar/exchange"
	"github.com/faultline-dev/faultline/sidecar/proxy"
	"github.com/faultline-dev/faultline/sidecar/tracing"
	"github.com/faultline-dev/faultline/sidecar/tracing/otelsetup"
	"github.com/faultline-dev/faultline/sidecar/tracing/otlpwire"
)

// discardExporter accepts and forgets every span.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

var benchUpstream, _ = url.Parse("http://127.0.0.1:8000")

// discardSender accepts and forgets every request.
type discardSender struct{}

func (discardSender) Send(context.Context, []byte) (int64, string, error) { return 0, "", nil }
func (discardSender) Close() error                                        { return nil }

// observer returns the tracing observer of a pipeline, nil for tracing
// off: "otlp" is the exporter otelsetup.FromEnv builds, "sdk" the same
// decisions through the OpenTelemetry SDK (tracing.Provider, as faultline
// ran before otlpwire), both sending to a collector that discards.
func observer(b *testing.B, pipeline string, ratio float64) *tracing.Observer {
	var exp tracing.Exporter
	switch pipeline {
	case "off":
		return nil
	case "noop-provider":
		return tracing.New(tracing.Provider(noop.NewTracerProvider()), propagator(), tracing.Options{})
	case "otlp":
		e := otelsetup.NewExporter(otelsetup.NewSampler(true, ratio), otlpwire.NewEnvelope(nil, "bench"), discardSender{}, otelsetup.ProcessorOptions{})
		b.Cleanup(func() { e.Shutdown(context.Background()) })
		exp = e
	case "sdk":
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithSampler(otelsetup.RecordAll(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)))),
			sdktrace.WithIDGenerator(tracing.IDGenerator()),
			sdktrace.WithSpanProcessor(otelsetup.NewEdgeProcessor(discardExporter{}, otelsetup.ProcessorOptions{})))
		b.Cleanup(func() { tp.Shutdown(context.Background()) })
		exp = tracing.Provider(tp)
	default:
		b.Fatalf("pipeline %q", pipeline)
	}
	return tracing.New(exp, propagator(), tracing.Options{Keep: func(s int) bool { return s == 422 }, Upstream: benchUpstream})
}

// BenchmarkObserver is the observer's own cost per exchange (Begin,
// Decorate, End, as the engine calls them), through each pipeline: a
// success that is not sampled (0 allocs/op), one under an unsampled
// client traceparent, successes at ratios 10 % and 100 %, and a 500 at
// ratio 0 (kept, so recorded and exported).
func BenchmarkObserver(b *testing.B) {
	for _, pipeline := range []string{"otlp", "sdk"} {
		benchmarkObserver(b, pipeline)
	}
}

func benchmarkObserver(b *testing.B, pipeline string) {
	for _, bc := range []struct {
		name        string
		ratio       float64
		traceparent string
		status      int
	}{
		{"unsampled-success", 0, "", 200},
		{"unsampled-parent", 1, "00-" + clientTraceID + "-" + clientSpanID + "-00", 200},
		{"ratio-0.1", 0.1, "", 200},
		{"ratio-1", 1, "", 200},
		{"ratio-0-kept-500", 0, "", 500},
	} {
		b.Run(pipeline+"/"+bc.name, func(b *testing.B) {
			obs := observer(b, pipeline, bc.ratio)
			req := engineRequest("GET", "http://sidecar/items/1", map[string]string{"User-Agent": "wrk"})
			if bc.traceparent != "" {
				req.Header.Set("Traceparent", bc.traceparent)
			}
			out := req.Header.Clone()
			respHeader := http.Header{"Content-Type": {"application/json"}}
			var x exchange.Exchange
			b.ReportAllocs()
			for b.Loop() {
				x.Reset()
				x.Request, x.Context, x.Route, x.Start = req, req.Context(), "/items/{item_id}", time.Now()
				obs.Begin(&x)
				obs.Decorate(&x, out)
				x.Upstream = exchange.UpstreamTiming{Sent: x.Start, Conn: time.Microsecond, Wrote: 2 * time.Microsecond, FirstByte: 50 * time.Microsecond}
				x.Status, x.ResponseHeader, x.Duration, x.BytesOut = bc.status, respHeader, 100*time.Microsecond, 40
				obs.End(&x)
			}
		})
	}
}

var cases = []struct {
	name, pipeline string
	ratio          float64
}{
	{"off", "off", 0}, {"noop-provider", "noop-provider", 0},
	{"ratio-0", "otlp", 0}, {"ratio-0.1", "otlp", 0.1}, {"ratio-1", "otlp", 1},
	{"sdk-ratio-0.1", "sdk", 0.1}, {"sdk-ratio-1", "sdk", 1},
}

// options wires the observer of a case into the engine as server.Start
// does.
func options(b *testing.B, opts proxy.Options, pipeline string, ratio float64) proxy.Options {
	if obs := observer(b, pipeline, ratio); obs != nil {
		opts.Observer, opts.Decorate, opts.TraceUpstream = obs, obs.Decorate, true
	}
	return opts
}

// BenchmarkServeHTTP is the per-request cost of the proxy with tracing off
// (no observer), a noop provider, the OTLP pipeline at ratios 0, 10 % and
// 100 % and the SDK one at 10 % and 100 % (spans sent to a collector that
// discards), with a canned
// upstream. The engine's own upstream timing (TraceUpstream) is part of
// the cost with tracing on.
func BenchmarkServeHTTP(b *testing.B) {
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			h := proxy.New(options(b, proxy.Options{Upstream: benchUpstream,
				Transport: testkit.CannedTransport{Body: `{"item_id":1,"name":"item 1","price":9.5}`},
				Route:     func(string) string { return "/items/{item_id}" }}, bc.pipeline, bc.ratio))
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
// that the engine times a real upstream call. Allocations include the
// upstream server's, which parses the traceparent.
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
			h := proxy.New(options(b, proxy.Options{Upstream: u, Transport: tr,
				Route: func(string) string { return "/items/{item_id}" }}, bc.pipeline, bc.ratio))
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
