package tracing_test

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
	"testing"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/sidecar/exchange"
	"github.com/faultline-dev/faultline/sidecar/metricnames"
	"github.com/faultline-dev/faultline/sidecar/proxy"
	"github.com/faultline-dev/faultline/sidecar/tracing"
	"github.com/faultline-dev/faultline/sidecar/tracing/otelsetup"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID  = "00f067aa0ba902b7"
)

func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// pipeline is an SDK provider as otelsetup builds it, with a recorder that
// sees every ended span (only head-sampled and kept exchanges make spans)
// and an in-memory exporter behind the edge processor that sees the
// exported ones.
type pipeline struct {
	tp       *sdktrace.TracerProvider
	recorder *tracetest.SpanRecorder
	exported *tracetest.InMemoryExporter
	edge     *otelsetup.EdgeProcessor
}

func newPipeline(t *testing.T, sampler sdktrace.Sampler, slow time.Duration) *pipeline {
	p := &pipeline{recorder: tracetest.NewSpanRecorder(), exported: tracetest.NewInMemoryExporter()}
	p.edge = otelsetup.NewEdgeProcessor(p.exported, otelsetup.ProcessorOptions{SlowThreshold: slow})
	p.tp = sdktrace.NewTracerProvider(
		sdktrace.WithSampler(otelsetup.RecordAll(sampler)),
		sdktrace.WithIDGenerator(tracing.IDGenerator()),
		sdktrace.WithSpanProcessor(p.recorder),
		sdktrace.WithSpanProcessor(p.edge))
	t.Cleanup(func() { p.tp.Shutdown(context.Background()) })
	return p
}

// ended waits until n spans ended: the engine ends them after the client
// has its response.
func (p *pipeline) ended(t *testing.T, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := p.recorder.Ended()
		if len(s) >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spans ended, want %d", len(s), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// exportedSpans flushes the edge processor and returns what it exported.
func (p *pipeline) exportedSpans(t *testing.T) tracetest.SpanStubs {
	t.Helper()
	if err := p.tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p.exported.GetSpans()
}

// upstreamSeen records the propagation headers the app received: the
// last request's, and every traceparent.
type upstreamSeen struct {
	mu                             sync.Mutex
	traceparent, tracestate, bagge string
	all                            []string
}

func (u *upstreamSeen) traceparents() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.all)
}

func (u *upstreamSeen) get() (string, string, string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.traceparent, u.tracestate, u.bagge
}

// app is a FastAPI stand-in: /items/{id} answers 200, /status/{code}
// answers code, /slow/{ms} sleeps first.
func app(seen *upstreamSeen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			seen.mu.Lock()
			seen.traceparent, seen.tracestate, seen.bagge = r.Header.Get("Traceparent"), r.Header.Get("Tracestate"), r.Header.Get("Baggage")
			seen.all = append(seen.all, seen.traceparent)
			seen.mu.Unlock()
		}
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		code := 200
		switch parts[0] {
		case "status":
			code, _ = strconv.Atoi(parts[1])
		case "slow":
			ms, _ := strconv.Atoi(parts[1])
			time.Sleep(time.Duration(ms) * time.Millisecond)
		case "events":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			http.NewResponseController(w).Flush()
			ms, _ := strconv.Atoi(parts[1])
			time.Sleep(time.Duration(ms) * time.Millisecond)
			w.Write([]byte("data: done\n\n"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write([]byte(`{"ok":true}`))
	})
}

func route(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) == 2 {
		switch parts[0] {
		case "items":
			return "/items/{item_id}"
		case "status":
			return "/status/{code}"
		case "slow":
			return "/slow/{ms}"
		case "events":
			return "/events/{ms}"
		}
	}
	return metricnames.RouteUnmatched
}

// site is the sidecar under test; ended receives a value after each
// exchange's observers all ended (the engine ends them after the client
// has its response).
type site struct {
	*httptest.Server
	ended chan struct{}
}

// waitEnd waits for the next exchange to have ended.
func (s *site) waitEnd(t *testing.T) {
	t.Helper()
	select {
	case <-s.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the exchange did not end")
	}
}

// sidecar is the proxy with the tracing observer (and extra observers
// around it) in front of upstream, wired as server.Start does.
func sidecar(t *testing.T, upstream string, obs *tracing.Observer, mod func(*proxy.Options)) *site {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	opts := proxy.Options{
		Upstream:      u,
		Observer:      obs,
		Decorate:      obs.Decorate,
		TraceUpstream: true,
		Route:         route,
		Transport:     proxy.NewUpstreamTransport(u, proxy.TransportOptions{}),
	}
	if mod != nil {
		mod(&opts)
	}
	s := &site{ended: make(chan struct{}, 100)}
	opts.Observer = exchange.Observers{opts.Observer, probe{end: func(*exchange.Exchange) { s.ended <- struct{}{} }}}
	s.Server = httptest.NewServer(proxy.New(opts))
	t.Cleanup(func() {
		s.Close()
		if tr, ok := opts.Transport.(interface{ CloseIdleConnections() }); ok {
			tr.CloseIdleConnections()
		}
	})
	return s
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func get(t *testing.T, srv *site, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func byKind(t *testing.T, spans []sdktrace.ReadOnlySpan) (server, client sdktrace.ReadOnlySpan) {
	t.Helper()
	for _, s := range spans {
		switch s.SpanKind() {
		case trace.SpanKindServer:
			server = s
		case trace.SpanKindClient:
			client = s
		}
	}
	if server == nil || client == nil {
		t.Fatalf("want a server and a client span, got %d spans", len(spans))
	}
	return server, client
}

// TestSpansContinueTheClientTrace: the server span continues the client's
// traceparent, the client span is its child, the app receives the client
// span's context (and the tracestate and baggage), and the response
// carries the trace id.
//
// It runs on both of the engine's paths: the forward path of its own
// transport, whose Decorate header holds only what tracing sets, and
// net/http's, whose Decorate header is the client's copy.
func TestSpansContinueTheClientTrace(t *testing.T) {
	for _, transport := range []string{"fast", "net/http"} {
		t.Run(transport, func(t *testing.T) { testSpansContinueTheClientTrace(t, transport) })
	}
}

func testSpansContinueTheClientTrace(t *testing.T, transport string) {
	p := newPipeline(t, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0)), 0)
	seen := &upstreamSeen{}
	up := httptest.NewServer(app(seen))
	defer up.Close()
	obs := tracing.New(tracing.Provider(p.tp), propagator(), tracing.Options{Upstream: mustURL(t, up.URL)})
	srv := sidecar(t, up.URL, obs, func(o *proxy.Options) {
		if transport == "net/http" {
			o.Transport = proxy.NewTransport(proxy.TransportOptions{})
		}
	})

	resp := get(t, srv, "/items/42?token=secret", map[string]string{
		"Traceparent": "00-" + clientTraceID + "-" + clientSpanID + "-01",
		"Tracestate":  "congo=t61rcWkgMzE",
		"Baggage":     "tenant=acme",
		"User-Agent":  "test-agent/1",
	})
	if got := resp.Header.Get("X-Trace-Id"); got != clientTraceID {
		t.Errorf("X-Trace-Id = %q, want the client's %q", got, clientTraceID)
	}
	server, client := byKind(t, p.ended(t, 2))

	if server.Name() != "GET /items/{item_id}" || client.Name() != "GET /items/{item_id}" {
		t.Errorf("names %q, %q", server.Name(), client.Name())
	}
	if got := server.SpanContext().TraceID().String(); got != clientTraceID {
		t.Errorf("server trace id %s, want %s", got, clientTraceID)
	}
	if got := server.Parent().SpanID().String(); got != clientSpanID || !server.Parent().IsRemote() {
		t.Errorf("server parent %s (remote %v), want the client's %s", got, server.Parent().IsRemote(), clientSpanID)
	}
	if client.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("client span's parent is not the server span")
	}
	if !server.SpanContext().IsSampled() {
		t.Errorf("a sampled parent must make a sampled span, whatever the ratio")
	}

	tp, ts, bg := seen.get()
	want := "00-" + clientTraceID + "-" + client.SpanContext().SpanID().String() + "-01"
	if tp != want {
		t.Errorf("upstream traceparent %q, want %q (the client span)", tp, want)
	}
	if ts != "congo=t61rcWkgMzE" || bg != "tenant=acme" {
		t.Errorf("upstream tracestate %q baggage %q", ts, bg)
	}

	sa := attrs(server.Attributes())
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	for k, want := range map[attribute.Key]any{
		"http.request.method":       "GET",
		"http.route":                "/items/{item_id}",
		"http.response.status_code": int64(200),
		"url.scheme":                "http",
		"url.path":                  "/items/42",
		"server.address":            host,
		"server.port":               mustInt(port),
		"client.address":            "127.0.0.1",
		"user_agent.original":       "test-agent/1",
		"network.protocol.version":  "1.1",
		"http.request.body.size":    int64(0),
		"http.response.body.size":   int64(len(`{"ok":true}`)),
	} {
		if got, ok := sa[k]; !ok || got.AsInterface() != want {
			t.Errorf("server %s = %v, want %v", k, got.AsInterface(), want)
		}
	}
	for _, k := range []attribute.Key{"error.type", tracing.KeepKey, "url.query", "http.request.method_original"} {
		if _, ok := sa[k]; ok {
			t.Errorf("server span has %s on a success", k)
		}
	}
	if server.Status().Code != codes.Unset || client.Status().Code != codes.Unset {
		t.Errorf("status %v, %v on a success", server.Status(), client.Status())
	}

	ca := attrs(client.Attributes())
	upHost, upPort, _ := net.SplitHostPort(strings.TrimPrefix(up.URL, "http://"))
	for k, want := range map[attribute.Key]any{
		"http.request.method":       "GET",
		"http.response.status_code": int64(200),
		"server.address":            upHost,
		"server.port":               mustInt(upPort),
		"url.full":                  up.URL + "/items/42",
	} {
		if got, ok := ca[k]; !ok || got.AsInterface() != want {
			t.Errorf("client %s = %v, want %v", k, got.AsInterface(), want)
		}
	}
	conn, written, first := ca[tracing.UpstreamConnectionKey].AsFloat64(), ca[tracing.UpstreamWrittenKey].AsFloat64(), ca[tracing.UpstreamFirstByteKey].AsFloat64()
	if !(conn > 0 && conn <= written && written <= first) {
		t.Errorf("upstream timing connection %g written %g first byte %g: want 0 < connection <= written <= first byte", conn, written, first)
	}
	if reused, ok := ca[tracing.UpstreamReusedKey]; !ok || reused.AsBool() {
		t.Errorf("%s = %v on the first request", tracing.UpstreamReusedKey, reused.AsInterface())
	}
	if client.StartTime().Before(server.StartTime()) || client.EndTime().After(server.EndTime()) {
		t.Errorf("client span [%v, %v] outside the server span [%v, %v]", client.StartTime(), client.EndTime(), server.StartTime(), server.EndTime())
	}
}

func mustInt(s string) int64 {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return int64(n)
}

// TestNewTrace: without a traceparent the sidecar starts the trace, returns
// its id, and passes it on.
func TestNewTrace(t *testing.T) {
	p := newPipeline(t, sdktrace.AlwaysSample(), 0)
	seen := &upstreamSeen{}
	up := httptest.NewServer(app(seen))
	defer up.Close()
	srv := sidecar(t, up.URL, tracing.New(tracing.Provider(p.tp), propagator(), tracing.Options{}), nil)
	resp := get(t, srv, "/items/1", nil)
	server, client := byKind(t, p.ended(t, 2))
	id := server.SpanContext().TraceID().String()
	if server.Parent().IsValid() {
		t.Errorf("server span has a parent without a traceparent")
	}
	if resp.Header.Get("X-Trace-Id") != id {
		t.Errorf("X-Trace-Id %q, want %q", resp.Header.Get("X-Trace-Id"), id)
	}
	tp, _, _ := seen.get()
	if want := "00-" + id + "-" + client.SpanContext().SpanID().String() + "-01"; tp != want {
		t.Errorf("upstream traceparent %q, want %q", tp, want)
	}
}

// TestOutcomes: status code, error.type, span status and the keep mark for
// each way an exchange ends, on spans recorded because they were sampled;
// and, with nothing sampled, that exactly the kept exchanges make spans,
// are exported, and carry the ids the app was given.
func TestOutcomes(t *testing.T) {
	seen := &upstreamSeen{}
	up := httptest.NewServer(app(seen))
	defer up.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name, path, upstream string
		timeout              time.Duration
		wantStatus           int
		wantErrType          string
		wantError, wantKeep  bool
		clientCode           int // 0: none expected
	}{
		{name: "ok", path: "/items/1", wantStatus: 200, clientCode: 200},
		{name: "404 not kept", path: "/status/404", wantStatus: 404, clientCode: 404},
		{name: "422 kept", path: "/status/422", wantStatus: 422, wantErrType: "422", wantError: true, wantKeep: true, clientCode: 422},
		{name: "app 500", path: "/status/500", wantStatus: 500, wantErrType: "500", wantError: true, wantKeep: true, clientCode: 500},
		{name: "app 503", path: "/status/503", wantStatus: 503, wantErrType: "503", wantError: true, wantKeep: true, clientCode: 503},
		{name: "unreachable", path: "/items/1", upstream: closed.URL, wantStatus: 502,
			wantErrType: metricnames.SourceUpstreamUnreachable, wantError: true, wantKeep: true},
		{name: "timeout", path: "/slow/300", timeout: 50 * time.Millisecond, wantStatus: 504,
			wantErrType: metricnames.SourceUpstreamTimeout, wantError: true, wantKeep: true},
		{name: "slow", path: "/slow/120", wantStatus: 200, wantKeep: true, clientCode: 200},
		{name: "long event stream", path: "/events/120", wantStatus: 200, clientCode: 200},
	}
	for _, tc := range tests {
		for _, sampled := range []bool{true, false} {
			name := tc.name + "/unsampled"
			sampler := sdktrace.NeverSample()
			if sampled {
				name, sampler = tc.name+"/sampled", sdktrace.AlwaysSample()
			}
			t.Run(name, func(t *testing.T) {
				p := newPipeline(t, sampler, 100*time.Millisecond)
				target := up.URL
				if tc.upstream != "" {
					target = tc.upstream
				}
				obs := tracing.New(tracing.Provider(p.tp), propagator(), tracing.Options{
					Keep:          func(s int) bool { return s == 401 || s == 422 },
					SlowThreshold: 100 * time.Millisecond,
					Upstream:      mustURL(t, target),
				})
				srv := sidecar(t, target, obs, func(o *proxy.Options) {
					if tc.timeout > 0 {
						o.Transport = proxy.NewUpstreamTransport(o.Upstream, proxy.TransportOptions{ResponseHeaderTimeout: tc.timeout})
					}
				})
				resp := get(t, srv, tc.path, nil)
				if resp.StatusCode != tc.wantStatus {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
				}
				traceID := resp.Header.Get("X-Trace-Id")
				if len(traceID) != 32 {
					t.Errorf("X-Trace-Id %q", traceID)
				}
				srv.waitEnd(t)
				if !sampled {
					checkUnsampled(t, p, seen, traceID, tc.wantKeep, tc.clientCode != 0)
					return
				}
				server, client := byKind(t, p.ended(t, 2))
				sa, ca := attrs(server.Attributes()), attrs(client.Attributes())
				if got := sa["http.response.status_code"].AsInt64(); got != int64(tc.wantStatus) {
					t.Errorf("server status code %d", got)
				}
				if got := sa["error.type"].AsString(); got != tc.wantErrType {
					t.Errorf("server error.type %q, want %q", got, tc.wantErrType)
				}
				if got := ca["error.type"].AsString(); got != tc.wantErrType {
					t.Errorf("client error.type %q, want %q", got, tc.wantErrType)
				}
				if got := ca["http.response.status_code"].AsInt64(); got != int64(tc.clientCode) {
					t.Errorf("client status code %d, want %d", got, tc.clientCode)
				}
				if tc.clientCode == 0 {
					var exception bool
					for _, e := range client.Events() {
						exception = exception || e.Name == "exception"
					}
					if !exception {
						t.Errorf("no exception event on the client span of a failed call")
					}
				}
				wantCode := codes.Unset
				if tc.wantError {
					wantCode = codes.Error
				}
				if server.Status().Code != wantCode || client.Status().Code != wantCode {
					t.Errorf("status %v / %v, want %v", server.Status().Code, client.Status().Code, wantCode)
				}
				if got := sa[tracing.KeepKey].AsBool(); got != tc.wantKeep {
					t.Errorf("server keep %v, want %v", got, tc.wantKeep)
				}
				if got := ca[tracing.KeepKey].AsBool(); got != tc.wantKeep {
					t.Errorf("client keep %v, want %v", got, tc.wantKeep)
				}
				if got := len(p.exportedSpans(t)); got != 2 {
					t.Errorf("%d sampled spans exported, want 2", got)
				}
			})
		}
	}
}

// checkUnsampled: with a ratio of 0, a kept exchange makes and exports its
// two spans, unsampled, and the client span is the parent the app was
// given (flags 00); any other makes no span at all.
func checkUnsampled(t *testing.T, p *pipeline, seen *upstreamSeen, traceID string, keep, reached bool) {
	t.Helper()
	ended := p.recorder.Ended()
	exported := p.exportedSpans(t)
	if !keep {
		if len(ended) != 0 || len(exported) != 0 {
			t.Errorf("%d spans made, %d exported; want none", len(ended), len(exported))
		}
		return
	}
	if len(exported) != 2 {
		t.Fatalf("%d spans exported, want 2", len(exported))
	}
	server, client := byKind(t, ended)
	for _, s := range []sdktrace.ReadOnlySpan{server, client} {
		if s.SpanContext().TraceID().String() != traceID || s.SpanContext().IsSampled() {
			t.Errorf("%v span %v: want trace %s, not sampled", s.SpanKind(), s.SpanContext(), traceID)
		}
	}
	if client.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("client span's parent is not the server span")
	}
	if !reached {
		return
	}
	tps := seen.traceparents()
	if want := "00-" + traceID + "-" + client.SpanContext().SpanID().String() + "-00"; len(tps) == 0 || tps[len(tps)-1] != want {
		t.Errorf("upstream traceparents %q, want the last %q", tps, want)
	}
}

// TestSampling: what the edge exports, by head decision and outcome; an
// exported client span is always the parent named in the traceparent the
// app received, with the same sampled flag.
func TestSampling(t *testing.T) {
	const (
		sampledParent   = "00-" + clientTraceID + "-" + clientSpanID + "-01"
		unsampledParent = "00-" + clientTraceID + "-" + clientSpanID + "-00"
	)
	tests := []struct {
		name         string
		ratio        float64
		parent       string
		wantExported []int // statuses of the exported server spans, in order
	}{
		{"ratio 0", 0, "", []int{422, 500}},
		{"ratio 1", 1, "", []int{200, 422, 500}},
		{"ratio 0, sampled parent", 0, sampledParent, []int{200, 422, 500}},
		{"ratio 1, unsampled parent", 1, unsampledParent, []int{422, 500}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := &upstreamSeen{}
			up := httptest.NewServer(app(seen))
			defer up.Close()
			p := newPipeline(t, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(tc.ratio)), 0)
			obs := tracing.New(tracing.Provider(p.tp), propagator(), tracing.Options{Keep: func(s int) bool { return s == 422 }})
			srv := sidecar(t, up.URL, obs, nil)
			hdr := map[string]string{}
			if tc.parent != "" {
				hdr["Traceparent"] = tc.parent
			}
			for _, path := range []string{"/items/1", "/status/422", "/status/500"} {
				resp := get(t, srv, path, hdr)
				if resp.Header.Get("X-Trace-Id") == "" {
					t.Errorf("%s: no X-Trace-Id", path)
				}
				srv.waitEnd(t)
			}
			var got []int
			sent := seen.traceparents()
			for _, s := range p.exportedSpans(t) {
				switch s.SpanKind {
				case trace.SpanKindServer:
					got = append(got, int(attrs(s.Attributes)["http.response.status_code"].AsInt64()))
				case trace.SpanKindClient:
					flags := "-00"
					if s.SpanContext.IsSampled() {
						flags = "-01"
					}
					if tp := "00-" + s.SpanContext.TraceID().String() + "-" + s.SpanContext.SpanID().String() + flags; !slices.Contains(sent, tp) {
						t.Errorf("exported client span %s was not sent upstream (sent %q)", tp, sent)
					}
				}
				if tc.parent == unsampledParent && s.SpanContext.IsSampled() {
					t.Errorf("a span kept after an unsampled head decision claims to be sampled")
				}
			}
			if !equalInts(got, tc.wantExported) {
				t.Errorf("exported %v, want %v", got, tc.wantExported)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// probe is an observer that sees the exchange around the tracing one.
type probe struct {
	end func(x *exchange.Exchange)
}

func (probe) Begin(*exchange.Exchange)   {}
func (p probe) End(x *exchange.Exchange) { p.end(x) }

// TestSampledFollowsTheExportDecision: an observer ending after the
// tracing one (metrics) sees Sampled for kept spans, so its exemplars link
// to exported traces; a capture observer ending before it can record its
// id on the span.
func TestSampledFollowsTheExportDecision(t *testing.T) {
	p := newPipeline(t, sdktrace.NeverSample(), 0)
	up := httptest.NewServer(app(nil))
	defer up.Close()
	obs := tracing.New(tracing.Provider(p.tp), propagator(), tracing.Options{Keep: func(s int) bool { return s == 422 }})
	type result struct {
		traceID string
		sampled bool
	}
	results := make(chan result, 10)
	captureFirst := probe{end: func(x *exchange.Exchange) {
		if x.Status == 422 {
			tracing.RecordCaptureID(x, "01JDQ8Z3W5X6Y7Z8A9B0C1D2E3")
		}
	}}
	// The trace id is the exchange's, which the engine reuses: keep a copy.
	metricsAfter := probe{end: func(x *exchange.Exchange) { results <- result{strings.Clone(x.TraceID), x.Sampled} }}
	srv := sidecar(t, up.URL, obs, func(o *proxy.Options) {
		o.Observer = exchange.Observers{captureFirst, obs, metricsAfter}
	})

	for _, tc := range []struct {
		path        string
		wantSampled bool
	}{{"/items/1", false}, {"/status/422", true}, {"/status/500", true}} {
		resp := get(t, srv, tc.path, nil)
		r := <-results
		srv.waitEnd(t)
		if r.traceID == "" || r.traceID != resp.Header.Get("X-Trace-Id") {
			t.Errorf("%s: trace id %q, header %q", tc.path, r.traceID, resp.Header.Get("X-Trace-Id"))
		}
		if r.sampled != tc.wantSampled {
			t.Errorf("%s: Sampled %v, want %v", tc.path, r.sampled, tc.wantSampled)
		}
	}
	var captured int
	spans := p.recorder.Ended()
	if len(spans) != 4 {
		t.Errorf("%d spans made, want 4: the unsampled 200 makes none", len(spans))
	}
	for _, s := range spans {
		if s.SpanKind() != trace.SpanKindServer {
			continue
		}
		a := attrs(s.Attributes())
		if id, ok := a[tracing.CaptureIDKey]; ok {
			captured++
			if a["http.response.status_code"].AsInt64() != 422 || id.AsString() != "01JDQ8Z3W5X6Y7Z8A9B0C1D2E3" {
				t.Errorf("capture id %q on a %d", id.AsString(), a["http.response.status_code"].AsInt64())
			}
		}
	}
	if captured != 1 {
		t.Errorf("%d spans with a capture id, want 1", captured)
	}
}

// TestNames: the span name is bounded by the method and the route template.
func TestNames(t *testing.T) {
	p := newPipeline(t, sdktrace.AlwaysSample(), 0)
	up := httptest.NewServer(app(nil))
	defer up.Close()
	srv := sidecar(t, up.URL, tracing.New(tracing.Provider(p.tp), propagator(), tracing.Options{}), nil)
	for i, tc := range []struct {
		method, path, wantName, wantMethod, wantOriginal string
	}{
		{"POST", "/items/7", "POST /items/{item_id}", "POST", ""},
		{"GET", "/no/such/path/123", "GET", "GET", ""},
		{"FROBNICATE", "/items/7", "HTTP /items/{item_id}", "_OTHER", "FROBNICATE"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var server sdktrace.ReadOnlySpan
		for _, s := range p.ended(t, 2*(i+1))[2*i:] {
			if s.SpanKind() == trace.SpanKindServer {
				server = s
			}
		}
		a := attrs(server.Attributes())
		if server.Name() != tc.wantName || a["http.request.method"].AsString() != tc.wantMethod ||
			a["http.request.method_original"].AsString() != tc.wantOriginal {
			t.Errorf("%s %s: name %q method %q original %q", tc.method, tc.path, server.Name(),
				a["http.request.method"].AsString(), a["http.request.method_original"].AsString())
		}
		if _, ok := a["http.route"]; ok != (tc.path == "/items/7") {
			t.Errorf("%s: http.route present %v", tc.path, ok)
		}
	}
}

// TestNoopProvider: a noop provider makes an observer that touches nothing
// and allocates nothing.
func TestNoopProvider(t *testing.T) {
	for name, obs := range map[string]*tracing.Observer{
		"noop":           tracing.New(tracing.Provider(noop.NewTracerProvider()), propagator(), tracing.Options{}),
		"nil provider":   tracing.New(tracing.Provider(nil), propagator(), tracing.Options{}),
		"nil propagator": tracing.New(tracing.Provider(noop.NewTracerProvider()), nil, tracing.Options{}),
	} {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/items/1", nil)
			req.Header.Set("Traceparent", "00-"+clientTraceID+"-"+clientSpanID+"-01")
			out := req.Header.Clone()
			x := &exchange.Exchange{Request: req, Context: req.Context(), Route: "/items/{item_id}", Start: time.Now(), Status: 200}
			allocs := testing.AllocsPerRun(100, func() {
				obs.Begin(x)
				obs.Decorate(x, out)
				obs.End(x)
			})
			if allocs != 0 {
				t.Errorf("%v allocations per exchange", allocs)
			}
			if x.TraceID != "" || x.Context != req.Context() || x.Tracing != nil || out.Get("Traceparent") != req.Header.Get("Traceparent") {
				t.Errorf("the exchange was touched: trace id %q", x.TraceID)
			}
		})
	}
}

// TestAbortedExchanges: a client that goes away is not the server's error;
// an app that breaks its body mid-way is.
func TestAbortedExchanges(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/items/broken" {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(200)
			w.Write([]byte("0123456789"))
			w.(http.Flusher).Flush()
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
			return
		}
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer up.Close()

	for _, tc := range []struct {
		name, path     string
		clientTimeout  time.Duration
		wantErrType    string
		wantStatusCode int64 // 0: none
		wantError      bool
	}{
		{"client closed", "/items/1", 50 * time.Millisecond, tracing.ErrorClientClosed, 0, false},
		{"body broken", "/items/broken", 0, tracing.ErrorResponseIncomplete, 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPipeline(t, sdktrace.AlwaysSample(), 0)
			srv := sidecar(t, up.URL, tracing.New(tracing.Provider(p.tp), propagator(), tracing.Options{}), nil)
			client := srv.Client()
			client.Timeout = tc.clientTimeout
			resp, err := client.Get(srv.URL + tc.path)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil {
				t.Fatal("the exchange did not fail")
			}
			server, _ := byKind(t, p.ended(t, 2))
			a := attrs(server.Attributes())
			if got := a["error.type"].AsString(); got != tc.wantErrType {
				t.Errorf("error.type %q, want %q", got, tc.wantErrType)
			}
			if got := a["http.response.status_code"].AsInt64(); got != tc.wantStatusCode {
				t.Errorf("status code %d, want %d", got, tc.wantStatusCode)
			}
			if got := server.Status().Code == codes.Error; got != tc.wantError {
				t.Errorf("error status %v, want %v", got, tc.wantError)
			}
			if got := a[tracing.KeepKey].AsBool(); got != tc.wantError {
				t.Errorf("keep %v, want %v", got, tc.wantError)
			}
		})
	}
}

// engineRequest is a request as the engine hands it to the observers.
func engineRequest(method, target string, hdr map[string]string) *http.Request {
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = "127.0.0.1:40000"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return req
}

// TestUnsampledExchangeAllocatesNothing: an exchange that is neither
// head-sampled nor kept costs no allocation, Begin to End, with or without
// a client traceparent, though its context is propagated.
func TestUnsampledExchangeAllocatesNothing(t *testing.T) {
	p := newPipeline(t, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0)), 0)
	obs := tracing.New(tracing.Provider(p.tp), propagator(), tracing.Options{
		Keep: func(s int) bool { return s == 422 }, Upstream: mustURL(t, "http://127.0.0.1:8000")})
	for _, tc := range []struct{ name, traceparent string }{
		{"new trace", ""},
		{"unsampled parent", "00-" + clientTraceID + "-" + clientSpanID + "-00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"User-Agent": "wrk", "Tracestate": "congo=t61rcWkgMzE"}
			if tc.traceparent != "" {
				hdr["Traceparent"] = tc.traceparent
			}
			req := engineRequest("GET", "http://sidecar/items/1", hdr)
			out := req.Header.Clone()
			respHeader := http.Header{"Content-Type": {"application/json"}}
			start := time.Now()
			var x exchange.Exchange
			propagated := true
			allocs := testing.AllocsPerRun(200, func() {
				x.Reset()
				x.Request, x.Context, x.Route, x.Start = req, req.Context(), "/items/{item_id}", start
				obs.Begin(&x)
				obs.Decorate(&x, out)
				// The value sent upstream lives until End: check it here.
				tp := out.Get("Traceparent")
				propagated = propagated && len(x.TraceID) == 32 && !x.Sampled &&
					len(tp) == 55 && tp[3:35] == x.TraceID && tp[52:] == "-00" &&
					(tc.traceparent == "" || x.TraceID == clientTraceID)
				x.Upstream = exchange.UpstreamTiming{Sent: start, Conn: time.Microsecond, Wrote: 2 * time.Microsecond, FirstByte: time.Millisecond}
				x.Status, x.ResponseHeader, x.Duration, x.BytesOut = 200, respHeader, 2*time.Millisecond, 11
				obs.End(&x)
			})
			if allocs != 0 {
				t.Errorf("%v allocations per unsampled exchange, want 0", allocs)
			}
			if !propagated {
				t.Errorf("the exchange was not traced: trace id %q, traceparent %q", x.TraceID, out.Get("Traceparent"))
			}
			if n := len(p.recorder.Ended()); n != 0 {
				t.Errorf("%d spans made for unsampled successes", n)
			}
		})
	}
}

// TestSpansCopyExchangeStrings: the strings of an exchange may live in
// buffers the engine reuses once End returns; the exported spans must not
// change when those buffers do.
func TestSpansCopyExchangeStrings(t *testing.T) {
	p := newPipeline(t, sdktrace.NeverSample(), 0)
	obs := tracing.New(tracing.Provider(p.tp), propagator(), tracing.Options{Upstream: mustURL(t, "http://app:8000")})

	fields := []string{"BREW", "/items/42", "shop.example:8443", "10.1.2.3:5555", "agent/1.0",
		"00-" + clientTraceID + "-" + clientSpanID + "-01", "congo=t61rcWkgMzE", "01JDQ8Z3W5X6Y7Z8A9B0C1D2E3"}
	var buf []byte
	var views []string // the same strings, over buf
	for _, f := range fields {
		buf = append(buf, f...)
	}
	off := 0
	for _, f := range fields {
		views = append(views, unsafe.String(&buf[off], len(f)))
		off += len(f)
	}
	req := &http.Request{
		Method: views[0], URL: &url.URL{Path: views[1]}, Host: views[2], RemoteAddr: views[3],
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"User-Agent": {views[4]}, "Traceparent": {views[5]}, "Tracestate": {views[6]}},
	}
	x := &exchange.Exchange{Request: req, Context: context.Background(), Route: "/items/{item_id}", Start: time.Now()}
	obs.Begin(x)
	obs.Decorate(x, http.Header{})
	x.Status, x.Source, x.Duration = 502, metricnames.SourceUpstreamUnreachable, time.Millisecond
	tracing.RecordCaptureID(x, views[7])
	obs.End(x)
	for i := range buf {
		buf[i] = '#'
	}

	spans := p.exportedSpans(t)
	if len(spans) != 2 {
		t.Fatalf("%d spans exported, want 2", len(spans))
	}
	for _, s := range spans {
		if s.Name != "HTTP /items/{item_id}" {
			t.Errorf("name %q", s.Name)
		}
		if got := s.SpanContext.TraceState().String(); got != fields[6] {
			t.Errorf("%v tracestate %q, want %q", s.SpanKind, got, fields[6])
		}
		a := attrs(s.Attributes)
		want := map[attribute.Key]string{"url.full": "http://app:8000/items/42"}
		if s.SpanKind == trace.SpanKindServer {
			want = map[attribute.Key]string{
				"http.request.method_original": "BREW",
				"url.path":                     "/items/42",
				"server.address":               "shop.example",
				"client.address":               "10.1.2.3",
				"user_agent.original":          "agent/1.0",
				tracing.CaptureIDKey:           fields[7],
			}
		}
		for k, v := range want {
			if got := a[k].AsString(); got != v {
				t.Errorf("%v %s = %q, want %q", s.SpanKind, k, got, v)
			}
		}
	}
}

// TestClientSpanTiming: the client span starts when the engine sent the
// request and carries the engine's timing; without the timing it spans the
// exchange; without Decorate (no context sent upstream) there is none.
func TestClientSpanTiming(t *testing.T) {
	p := newPipeline(t, sdktrace.AlwaysSample(), 0)
	obs := tracing.New(tracing.Provider(p.tp), propagator(), tracing.Options{})
	start := time.Unix(1_800_000_000, 0)
	sent := start.Add(3 * time.Millisecond)
	for i, tc := range []struct {
		name     string
		decorate bool
		timing   exchange.UpstreamTiming
	}{
		{"timed", true, exchange.UpstreamTiming{Sent: sent, Conn: time.Millisecond, Reused: true, Wrote: 2 * time.Millisecond, FirstByte: 5 * time.Millisecond}},
		{"untimed", true, exchange.UpstreamTiming{}},
		{"not decorated", false, exchange.UpstreamTiming{}},
	} {
		x := &exchange.Exchange{Request: engineRequest("GET", "http://sidecar/items/1", nil), Context: context.Background(),
			Route: "/items/{item_id}", Start: start}
		obs.Begin(x)
		if tc.decorate {
			obs.Decorate(x, http.Header{})
		}
		x.Upstream, x.Status, x.Duration = tc.timing, 200, 10*time.Millisecond
		obs.End(x)
		ended := p.recorder.Ended()
		if !tc.decorate {
			if n := len(ended) - 2*i; n != 1 || ended[len(ended)-1].SpanKind() != trace.SpanKindServer {
				t.Errorf("%s: %d spans, want the server span alone", tc.name, n)
			}
			continue
		}
		server, client := byKind(t, ended[2*i:])
		a := attrs(client.Attributes())
		if tc.timing.Sent.IsZero() {
			if !client.StartTime().Equal(server.StartTime()) || len(a) != 2 {
				t.Errorf("%s: client span starts %v (server %v), attributes %v", tc.name, client.StartTime(), server.StartTime(), a)
			}
			continue
		}
		if !client.StartTime().Equal(sent) || !client.EndTime().Equal(start.Add(10*time.Millisecond)) {
			t.Errorf("%s: client span [%v, %v]", tc.name, client.StartTime(), client.EndTime())
		}
		for k, want := range map[attribute.Key]any{
			tracing.UpstreamConnectionKey: 0.001, tracing.UpstreamReusedKey: true,
			tracing.UpstreamWrittenKey: 0.002, tracing.UpstreamFirstByteKey: 0.005,
		} {
			if got := a[k].AsInterface(); got != want {
				t.Errorf("%s: %s = %v, want %v", tc.name, k, got, want)
			}
		}
	}
}

// TestPropagatorWithoutTraceContext: with a propagator that does not carry
// W3C trace context (OTEL_PROPAGATORS=baggage), the client's traceparent
// is neither continued nor replaced.
func TestPropagatorWithoutTraceContext(t *testing.T) {
	p := newPipeline(t, sdktrace.AlwaysSample(), 0)
	obs := tracing.New(tracing.Provider(p.tp), propagation.Baggage{}, tracing.Options{})
	parent := "00-" + clientTraceID + "-" + clientSpanID + "-01"
	req := engineRequest("GET", "http://sidecar/items/1", map[string]string{"Traceparent": parent})
	out := req.Header.Clone()
	x := &exchange.Exchange{Request: req, Context: req.Context(), Route: "/items/{item_id}", Start: time.Now()}
	obs.Begin(x)
	obs.Decorate(x, out)
	x.Status = 200
	obs.End(x)
	if got := out.Get("Traceparent"); got != parent {
		t.Errorf("upstream traceparent %q, want the client's", got)
	}
	server, _ := byKind(t, p.recorder.Ended())
	if server.SpanContext().TraceID().String() == clientTraceID || server.Parent().IsValid() {
		t.Errorf("the client's trace was continued without a trace context propagator")
	}
}

// TestForeignSampler: a provider whose sampler does not offer itself gets
// the SDK's default policy (parent-based, always on), and New's probe
// leaves no span behind.
func TestForeignSampler(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithIDGenerator(tracing.IDGenerator()), sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	obs := tracing.New(tracing.Provider(tp), propagator(), tracing.Options{})
	if n := len(rec.Started()); n != 0 {
		t.Errorf("the probe was recorded (%d spans)", n)
	}
	for _, tc := range []struct {
		traceparent string
		want        bool
	}{{"", true}, {"00-" + clientTraceID + "-" + clientSpanID + "-01", true}, {"00-" + clientTraceID + "-" + clientSpanID + "-00", false}} {
		x := &exchange.Exchange{Request: engineRequest("GET", "http://sidecar/items/1", map[string]string{"Traceparent": tc.traceparent}),
			Context: context.Background(), Start: time.Now()}
		obs.Begin(x)
		if x.Sampled != tc.want {
			t.Errorf("traceparent %q: sampled %v, want %v", tc.traceparent, x.Sampled, tc.want)
		}
		x.Status = 200
		obs.End(x)
	}
}
