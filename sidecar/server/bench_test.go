package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline-dev/faultline/internal/testkit"
	"github.com/faultline-dev/faultline/sidecar/config"
	"github.com/faultline-dev/faultline/sidecar/tracing"
	"github.com/faultline-dev/faultline/sidecar/tracing/otelsetup"
)

// BenchmarkLoopback is the whole sidecar as production runs it (metrics,
// route templates, capture armed) between a loopback client and a
// loopback upstream: the figure the load script measures, in a form pprof
// can profile (-cpuprofile, -memprofile). The client and the upstream
// allocate nothing per request, so allocs/op is the sidecar's.
func BenchmarkLoopback(b *testing.B) {
	for _, bc := range []struct {
		name      string
		tracing   func(b *testing.B) trace.TracerProvider // nil: off
		accessLog string
	}{
		{"default", nil, "off"},
		{"tracing-10pct", sdkProvider(0.1), "off"},
		{"tracing-10pct-otlp", otlpProvider(0.1), "off"},
		{"tracing-100pct", sdkProvider(1), "off"},
		{"access-log", nil, "json"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			deps := Deps{AccessLog: io.Discard}
			if bc.tracing != nil {
				deps.TracerProvider = bc.tracing(b)
			}
			loopback(b, deps, "--access-log", bc.accessLog)
		})
	}
}

// sdkProvider is the production pipeline (sampler, id generator, edge
// processor) with an exporter that keeps nothing: the cost of the spans.
func sdkProvider(ratio float64) func(b *testing.B) trace.TracerProvider {
	return func(b *testing.B) trace.TracerProvider {
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithSampler(otelsetup.RecordAll(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)))),
			sdktrace.WithIDGenerator(tracing.IDGenerator()),
			sdktrace.WithSpanProcessor(otelsetup.NewEdgeProcessor(tracetest.NewNoopExporter(), otelsetup.ProcessorOptions{})))
		b.Cleanup(func() { tp.Shutdown(context.Background()) })
		return tp
	}
}

// otlpProvider is the provider faultline run builds from the environment,
// exporting OTLP/HTTP to a collector that discards: the spans and their
// encoding and sending.
func otlpProvider(ratio float64) func(b *testing.B) trace.TracerProvider {
	return func(b *testing.B) trace.TracerProvider {
		sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
		}))
		b.Cleanup(sink.Close)
		env := map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": strconv.FormatFloat(ratio, 'g', -1, 64),
		}
		tp, shutdown, err := otelsetup.FromEnv(context.Background(), func(k string) string { return env[k] }, otelsetup.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { shutdown(context.Background()) })
		return tp
	}
}

func loopback(b *testing.B, deps Deps, args ...string) {
	up := testkit.RawUpstream(b, "application/json", `{"item_id":42,"name":"item 42","price":9.5,"tags":["a","b"],"owner":"bench"}`)
	routes := filepath.Join(b.TempDir(), "routes.txt")
	if err := os.WriteFile(routes, []byte("/items/{item_id}\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(append([]string{"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--upstream", "http://" + up, "--routes", routes, "--data-dir", b.TempDir()}, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := Start(cfg, deps)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- sc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	req := "GET /items/42?q=x HTTP/1.1\r\nHost: sidecar\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
	b.ReportAllocs()
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := testkit.DialRaw(sc.Addr(), req)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		for pb.Next() {
			if code, err := c.Do(); err != nil || code != 200 {
				b.Errorf("%d %v", code, err)
				return
			}
		}
	})
}

// parallelism is goroutines per GOMAXPROCS in BenchmarkLoopback.
var parallelism = 1
