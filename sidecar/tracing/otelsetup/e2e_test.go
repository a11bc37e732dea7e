package otelsetup_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"

	"github.com/faultline-dev/faultline/internal/testkit"
	"github.com/faultline-dev/faultline/sidecar/proxy"
	"github.com/faultline-dev/faultline/sidecar/tracing"
	"github.com/faultline-dev/faultline/sidecar/tracing/otelsetup"
)

// receiver is an in-process OTLP trace receiver built on the collector's
// pdata types, served over gRPC and over HTTP (POST /v1/traces, protobuf).
type receiver struct {
	ptraceotlp.UnimplementedGRPCServer
	mu     sync.Mutex
	traces []ptrace.Traces
	gzip   atomic.Bool // an HTTP request came gzip-encoded
}

func (r *receiver) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	td := ptrace.NewTraces()
	req.Traces().CopyTo(td)
	r.mu.Lock()
	r.traces = append(r.traces, td)
	r.mu.Unlock()
	return ptraceotlp.NewExportResponse(), nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST /v1/traces application/x-protobuf", http.StatusBadRequest)
		return
	}
	er, gz, ok := testkit.ReadOTLP(w, req)
	if !ok {
		return
	}
	if gz {
		r.gzip.Store(true)
	}
	resp, _ := r.Export(req.Context(), er)
	out, _ := resp.MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// gotSpan is what the tests check of a received span.
type gotSpan struct {
	name, service, version, env string
	kind                        ptrace.SpanKind
	traceID                     string
	status                      int64
	keep                        bool
	parent                      string
	spanID                      string
}

func (r *receiver) spans() []gotSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []gotSpan
	for _, td := range r.traces {
		for _, rs := range td.ResourceSpans().All() {
			res := rs.Resource().Attributes()
			str := func(k string) string {
				if v, ok := res.Get(k); ok {
					return v.Str()
				}
				return ""
			}
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					g := gotSpan{name: s.Name(), kind: s.Kind(), traceID: s.TraceID().String(),
						service: str("service.name"), version: str("service.version"), env: str("deployment.environment.name"),
						parent: s.ParentSpanID().String(), spanID: s.SpanID().String()}
					if v, ok := s.Attributes().Get("http.response.status_code"); ok {
						g.status = v.Int()
					}
					if v, ok := s.Attributes().Get(string(tracing.KeepKey)); ok {
						g.keep = v.Bool()
					}
					out = append(out, g)
				}
			}
		}
	}
	return out
}

func startGRPC(t testing.TB, r *receiver) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, r)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// app answers /status/{code} with code, anything else with 200.
func app() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := 200
		if c, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
			code, _ = strconv.Atoi(c)
		}
		w.WriteHeader(code)
		io.WriteString(w, `{"ok":true}`)
	})
}

func route(p string) string {
	if strings.HasPrefix(p, "/status/") {
		return "/status/{code}"
	}
	return "/items/{item_id}"
}

// sidecar is the proxy with the tracing observer of tp in front of up.
func sidecar(t testing.TB, up string, exp tracing.Exporter) *httptest.Server {
	u, _ := url.Parse(up)
	obs := tracing.New(exp, propagator(), tracing.Options{Keep: func(s int) bool { return s == 422 }, Upstream: u})
	tr := proxy.NewFastTransport(proxy.TransportOptions{}) // as NewUpstreamTransport picks for http
	srv := httptest.NewServer(proxy.New(proxy.Options{
		Upstream: u, Transport: tr, Observer: obs, Decorate: obs.Decorate, TraceUpstream: true, Route: route}))
	t.Cleanup(func() { srv.Close(); tr.CloseIdleConnections() })
	return srv
}

// TestExportOTLP: spans from FromEnv's provider reach an OTLP receiver over
// each protocol; with a ratio of 0 the 422 and the 500 are exported, with
// both their spans, and the 200 is not.
func TestExportOTLP(t *testing.T) {
	up := httptest.NewServer(app())
	defer up.Close()
	for _, tc := range []struct {
		name string
		env  func(r *receiver) map[string]string
	}{
		{"grpc", func(r *receiver) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + startGRPC(t, r)}
		}},
		{"grpc host:port", func(r *receiver) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": startGRPC(t, r),
				"OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}
		}},
		{"http/protobuf", func(r *receiver) map[string]string {
			srv := httptest.NewServer(r)
			t.Cleanup(srv.Close)
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
		}},
		{"http/protobuf gzip", func(r *receiver) map[string]string {
			srv := httptest.NewServer(r)
			t.Cleanup(srv.Close)
			return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL + "/v1/traces",
				"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &receiver{}
			kv := tc.env(r)
			kv["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
			kv["OTEL_TRACES_SAMPLER_ARG"] = "0"
			kv["OTEL_SERVICE_NAME"] = "shop-sidecar"
			kv["OTEL_RESOURCE_ATTRIBUTES"] = "deployment.environment.name=test"
			ctx := context.Background()
			tp, shutdown, err := otelsetup.FromEnv(ctx, func(k string) string { return kv[k] }, otelsetup.Options{ServiceVersion: "v1.2.3"})
			if err != nil || tp == nil {
				t.Fatalf("FromEnv = %v, %v", tp, err)
			}
			srv := sidecar(t, up.URL, tp)
			ids := map[int]string{}
			for _, path := range []string{"/items/1", "/status/422", "/status/500"} {
				resp, err := srv.Client().Get(srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				ids[resp.StatusCode] = resp.Header.Get("X-Trace-Id")
			}
			srv.Close() // waits for the handlers, so every span has ended
			if err := tp.ForceFlush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := shutdown(ctx); err != nil {
				t.Fatal(err)
			}

			got := r.spans()
			var statuses []int
			for _, s := range got {
				if s.service != "shop-sidecar" || s.version != "v1.2.3" || s.env != "test" {
					t.Errorf("resource service %q version %q env %q", s.service, s.version, s.env)
				}
				if s.traceID != ids[int(s.status)] {
					t.Errorf("span of a %d has trace id %s, the response said %s", s.status, s.traceID, ids[int(s.status)])
				}
				if !s.keep {
					t.Errorf("exported %s span of a %d without %s", s.kind, s.status, tracing.KeepKey)
				}
				if s.kind == ptrace.SpanKindServer {
					statuses = append(statuses, int(s.status))
				}
			}
			slices.Sort(statuses)
			if !slices.Equal(statuses, []int{422, 500}) || len(got) != 4 {
				t.Errorf("received %d spans, server spans of %v; want 4 spans, of [422 500]", len(got), statuses)
			}
			if strings.Contains(tc.name, "gzip") && strings.HasPrefix(tc.name, "http") && !r.gzip.Load() {
				t.Errorf("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION=gzip not applied")
			}
		})
	}
}

// TestCollectorDown: with the collector down or hanging and a tiny queue,
// every request completes, and every span that could not be sent is
// counted as dropped. No timing is asserted.
func TestCollectorDown(t *testing.T) {
	up := httptest.NewServer(app())
	defer up.Close()
	for _, tc := range []struct {
		name, protocol string
		addr           func(testing.TB) string
	}{
		{"grpc refused", "grpc", refused},
		{"grpc black hole", "grpc", blackHole},
		{"http refused", "http/protobuf", refused},
		{"http black hole", "http/protobuf", blackHole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":    "http://" + tc.addr(t),
				"OTEL_EXPORTER_OTLP_PROTOCOL":    tc.protocol,
				"OTEL_EXPORTER_OTLP_TIMEOUT":     "100",
				"OTEL_TRACES_SAMPLER":            "always_on",
				"OTEL_BSP_MAX_QUEUE_SIZE":        "4",
				"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2",
				"OTEL_BSP_SCHEDULE_DELAY":        "5",
				"OTEL_BSP_EXPORT_TIMEOUT":        "200",
			}
			var queueFull, failed atomic.Int64
			tp, shutdown, err := otelsetup.FromEnv(context.Background(), func(k string) string { return kv[k] }, otelsetup.Options{
				OnDropped: func(reason string, n int) {
					switch reason {
					case otelsetup.DropQueueFull:
						queueFull.Add(int64(n))
					case otelsetup.DropExportFailed:
						failed.Add(int64(n))
					default:
						t.Errorf("reason %q", reason)
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := sidecar(t, up.URL, tp)
			client := srv.Client()
			client.Timeout = 10 * time.Second // a hang fails the test instead of the run
			const n = 200
			for i := range n {
				resp, err := client.Get(srv.URL + "/items/" + strconv.Itoa(i))
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("request %d: status %d", i, resp.StatusCode)
				}
			}
			srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			shutdown(ctx) // may report the export in flight; must return
			// Every span is accounted for: a refused connection fails
			// each export at once, a black hole fills the queue.
			if got := queueFull.Load() + failed.Load(); got != 2*n {
				t.Errorf("%d spans dropped, want all %d", got, 2*n)
			}
			t.Logf("of %d spans: %d dropped for a full queue, %d in failed exports", 2*n, queueFull.Load(), failed.Load())
		})
	}
}

// refused is an address where nothing listens: a collector that is down.
func refused(t testing.TB) string { return testkit.FreeAddr(t) }

// blackHole accepts connections and never answers: a collector that hangs.
func blackHole(t testing.TB) string {
	addr, _ := testkit.BlackHole(t)
	return addr
}
