package otlpwire_test

import (
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/faultline-dev/faultline/sidecar/buildinfo"
	"github.com/faultline-dev/faultline/sidecar/tracing"
	"github.com/faultline-dev/faultline/sidecar/tracing/otelsetup"
	"github.com/faultline-dev/faultline/sidecar/tracing/otlpwire"
)

// collector keeps the bodies of the OTLP/HTTP requests it receives.
type collector struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.bodies = append(c.bodies, b)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
}

var (
	t0    = time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC)
	tid   = trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	state = func() trace.TraceState { ts, _ := trace.ParseTraceState("vendor=a1,other=b2"); return ts }()
)

// pairs are the span sets the Observer hands an exporter: a sampled pair
// under a remote parent with a tracestate, whose call failed, and a
// kept, unsampled server span alone with every attribute type.
var pairs = [][]tracing.Span{
	{
		{Name: "GET /items/{item_id}", Kind: trace.SpanKindServer, TraceID: tid, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
			Parent: trace.SpanID{9, 9, 9, 9, 9, 9, 9, 9}, ParentRemote: true, Flags: trace.FlagsSampled | trace.FlagsRandom,
			TraceState: state, Start: t0, End: t0.Add(3 * time.Millisecond), Failed: true,
			Attributes: []attribute.KeyValue{
				semconv.HTTPRequestMethodKey.String("GET"), semconv.URLPath("/items/1"),
				semconv.HTTPResponseStatusCode(502), semconv.ErrorTypeKey.String("upstream_unreachable"),
				tracing.KeepKey.Bool(true), semconv.ServerPort(8080),
			}},
		{Name: "GET /items/{item_id}", Kind: trace.SpanKindClient, TraceID: tid, SpanID: trace.SpanID{2, 2, 3, 4, 5, 6, 7, 8},
			Parent: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, Flags: trace.FlagsSampled | trace.FlagsRandom,
			TraceState: state, Start: t0.Add(time.Millisecond), End: t0.Add(3 * time.Millisecond), Failed: true,
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded},
			Attributes: []attribute.KeyValue{
				semconv.URLFull("http://127.0.0.1:8000/items/1"), tracing.UpstreamConnectionKey.Float64(0.0015),
				tracing.UpstreamReusedKey.Bool(false),
			}},
	},
	{
		{Name: "POST", Kind: trace.SpanKindServer, TraceID: trace.TraceID{7: 1, 15: 2}, SpanID: trace.SpanID{7: 3},
			Start: t0, End: t0.Add(2 * time.Second),
			Attributes: []attribute.KeyValue{
				attribute.String("s", "ünïcødé \x00 with a long value that takes more than one hundred and twenty-seven bytes to encode, so that its length is a two-byte varint"),
				attribute.Bool("b", true), attribute.Int64("i", -42), attribute.Float64("f", 1.5),
				attribute.StringSlice("ss", []string{"a", ""}), attribute.BoolSlice("bs", []bool{true, false}),
				attribute.Int64Slice("is", []int64{1, -1}), attribute.Float64Slice("fs", []float64{0.25}),
				tracing.KeepKey.Bool(true),
			}},
	},
}

func testResource(t *testing.T) *resource.Resource {
	res, err := resource.New(context.Background(), resource.WithSchemaURL(semconv.SchemaURL), resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName("shop"), attribute.String("deployment.environment.name", "test")))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestSameAsTheSDKExporter: the request otlpwire encodes for the spans is,
// field for field, the one the SDK's OTLP/HTTP exporter sends for the same
// spans made through tracing.Provider (as faultline did before otlpwire),
// but for the exception event's time, which the SDK takes from the clock.
func TestSameAsTheSDKExporter(t *testing.T) {
	res := testResource(t)
	col := &collector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	edge := otelsetup.NewEdgeProcessor(exp, otelsetup.ProcessorOptions{})
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res),
		sdktrace.WithSampler(otelsetup.RecordAll(sdktrace.AlwaysSample())),
		sdktrace.WithIDGenerator(tracing.IDGenerator()), sdktrace.WithSpanProcessor(edge))
	viaSDK := tracing.Provider(tp)

	var b otlpwire.Batch
	for _, spans := range pairs {
		viaSDK.Export(spans)
		b.Append(spans)
	}
	if err := tp.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if len(col.bodies) != 1 {
		t.Fatalf("the SDK sent %d requests, want 1", len(col.bodies))
	}
	want := decode(t, col.bodies[0])
	got := decode(t, otlpwire.NewEnvelope(res, buildinfo.Get().Version).AppendRequest(nil, &b))
	if b.Len() != 3 {
		t.Errorf("Len = %d, want 3", b.Len())
	}
	if !proto.Equal(got, want) {
		t.Errorf("otlpwire's request differs from the SDK exporter's:\ngot:\n%s\nwant:\n%s",
			prototext.Format(got), prototext.Format(want))
	}
}

// decode parses an ExportTraceServiceRequest and makes it comparable: the
// spans in span id order, event times zeroed.
func decode(t *testing.T, body []byte) *coltracepb.ExportTraceServiceRequest {
	t.Helper()
	req := &coltracepb.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(body, req); err != nil {
		t.Fatal(err)
	}
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			slices.SortFunc(ss.Spans, func(a, b *tracepb.Span) int { return slices.Compare(a.SpanId, b.SpanId) })
			for _, s := range ss.Spans {
				for _, e := range s.Events {
					e.TimeUnixNano = 0
				}
			}
		}
	}
	return req
}

// TestAppendReusesTheBuffer: once the batch has grown, encoding the pair
// of a request that went well (no tracestate, no error: those are
// encoded through strings made for them) costs no allocation, and Reset
// keeps the memory.
func TestAppendReusesTheBuffer(t *testing.T) {
	var b otlpwire.Batch
	spans := slices.Clone(pairs[0])
	for i := range spans {
		spans[i].TraceState, spans[i].Err = trace.TraceState{}, nil
	}
	b.Append(spans)
	b.Reset()
	if n := testing.AllocsPerRun(100, func() {
		b.Append(spans)
		b.Reset()
	}); n != 0 {
		t.Errorf("Append allocates %v times per pair, want 0", n)
	}
	if b.Len() != 0 || b.Size() != 0 {
		t.Errorf("after Reset: Len %d, Size %d", b.Len(), b.Size())
	}
}

// TestEmptyBatch: a batch without spans is still a valid request.
func TestEmptyBatch(t *testing.T) {
	req := decode(t, otlpwire.NewEnvelope(testResource(t), "v1").AppendRequest(nil, &otlpwire.Batch{}))
	if len(req.ResourceSpans) != 1 || len(req.ResourceSpans[0].ScopeSpans[0].Spans) != 0 {
		t.Errorf("empty batch decodes as %v", req)
	}
}

// BenchmarkAppend is the request path's cost of a sampled request's two
// spans; BenchmarkRequest the export goroutine's framing of a full batch.
func BenchmarkAppend(b *testing.B) {
	var batch otlpwire.Batch
	spans := slices.Clone(pairs[0])
	spans[0].Err, spans[1].Err = nil, nil
	b.ReportAllocs()
	for b.Loop() {
		batch.Append(spans)
		if batch.Len() >= 512 {
			batch.Reset()
		}
	}
}

func BenchmarkRequest(b *testing.B) {
	var batch otlpwire.Batch
	for range 256 {
		batch.Append(pairs[0])
	}
	env := otlpwire.NewEnvelope(nil, "v1")
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = env.AppendRequest(buf[:0], &batch)
	}
}

// FuzzAppend: whatever the strings of a span (the path, the user agent and
// the method are the client's to choose), the request decodes, as a
// collector's protobuf library decodes it, with every value in place;
// text that is not UTF-8, which proto3 strings must be and a collector
// would refuse the whole batch for, arrives with U+FFFD in its place.
func FuzzAppend(f *testing.F) {
	f.Add("GET /items/{item_id}", "/items/1", "curl/8.0", int64(200), 0.25, true)
	f.Add("", "", "", int64(-1), -0.0, false)
	f.Add("\xff\xfe", "/a%ff\xc3", "Mozilla\x80", int64(1<<62), 1e300, true)
	f.Fuzz(func(t *testing.T, name, path, ua string, n int64, x float64, b bool) {
		spans := []tracing.Span{{Name: name, Kind: trace.SpanKindServer, TraceID: tid, SpanID: trace.SpanID{1},
			Start: t0, End: t0.Add(time.Millisecond),
			Attributes: []attribute.KeyValue{
				attribute.String("url.path", path), attribute.String(ua, ua), attribute.Int64("n", n),
				attribute.Float64("x", x), attribute.Bool("b", b),
			}}}
		var batch otlpwire.Batch
		batch.Append(spans)
		req := &coltracepb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(otlpwire.NewEnvelope(nil, "fuzz").AppendRequest(nil, &batch), req); err != nil {
			t.Fatalf("a collector cannot decode the request: %v", err)
		}
		s := req.ResourceSpans[0].ScopeSpans[0].Spans[0]
		if want := strings.ToValidUTF8(name, "\uFFFD"); s.Name != want {
			t.Errorf("name %q, want %q", s.Name, want)
		}
		a := s.Attributes
		if len(a) != 5 || a[0].Value.GetStringValue() != strings.ToValidUTF8(path, "\uFFFD") ||
			a[1].Key != strings.ToValidUTF8(ua, "\uFFFD") || a[2].Value.GetIntValue() != n ||
			math.Float64bits(a[3].Value.GetDoubleValue()) != math.Float64bits(x) || a[4].Value.GetBoolValue() != b {
			t.Errorf("attributes %v", a)
		}
	})
}
