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
		tracing   func(b *testing.B) tracing.Exporter // nil: off
		accessLog string
	}{
		{"default", nil, "off"},
		{"tracing-10pct", otlpExporter(0.1), "off"},
		{"tracing-100pct", otlpExporter(1), "off"},
		{"tracing-10pct-sdk", sdkExporter(0.1), "off"},
		{"tracing-100pct-sdk", sdkExporter(1), "off"},
		{"access-log", nil, "json"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			deps := Deps{AccessLog: io.Discard}
			if bc.tracing != nil {
				deps.Tracing = bc.tracing(b)
			}
			loopback(b, deps, "--access-log", bc.accessLog)
		})
	}
}

// sdkExporter is the same pipeline on the OpenTelemetry SDK (sampler, id
// generator, edge processor), as faultline ran it before otlpwire, with an
// exporter that keeps nothing: the cost of the SDK's spans alone.
func sdkExporter(ratio float64) func(b *testing.B) tracing.Exporter {
	return func(b *testing.B) tracing.Exporter {
		tp := sdktrace.NewTracerProvider(
			sdktrace.WithSampler(otelsetup.RecordAll(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)))),
			sdktrace.WithIDGenerator(tracing.IDGenerator()),
			sdktrace.WithSpanProcessor(otelsetup.NewEdgeProcessor(tracetest.NewNoopExporter(), otelsetup.ProcessorOptions{})))
		b.Cleanup(func() { tp.Shutdown(context.Background()) })
		return tracing.Provider(tp)
	}
}

// otlpExporter is the exporter faultline run builds from the environment,
// exporting OTLP/HTTP to a collector that discards: the spans, their
// encoding and sending.
func otlpExporter(ratio float64) func(b *testing.B) tracing.Exporter {
	return func(b *testing.B) tracing.Exporter {
		sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
		}))
		b.Cleanup(sink.Close)
		env := map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": strconv.FormatFloat(ratio, 'g', -1, 64),
		}
		exp, shutdown, err := otelsetup.FromEnv(context.Background(), func(k string) string { return env[k] }, otelsetup.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { shutdown(context.Background()) })
		return exp
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
