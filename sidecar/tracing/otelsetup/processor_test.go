package otelsetup

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/sidecar/exchange"
	"github.com/faultline-dev/faultline/sidecar/tracing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func span(sampled bool, status codes.Code, d time.Duration, kv ...attribute.KeyValue) sdktrace.ReadOnlySpan {
	var flags trace.TraceFlags
	if sampled {
		flags = trace.FlagsSampled
	}
	start := time.Unix(1_800_000_000, 0)
	return tracetest.SpanStub{
		Name: "GET /items/{item_id}",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: flags}),
		StartTime:  start,
		EndTime:    start.Add(d),
		Status:     sdktrace.Status{Code: status},
		Attributes: kv,
	}.Snapshot()
}

func TestKeeps(t *testing.T) {
	p := NewEdgeProcessor(tracetest.NewInMemoryExporter(), ProcessorOptions{SlowThreshold: time.Second})
	defer p.Shutdown(context.Background())
	for _, tc := range []struct {
		name string
		s    sdktrace.ReadOnlySpan
		want bool
	}{
		{"sampled", span(true, codes.Unset, time.Millisecond), true},
		{"unsampled", span(false, codes.Unset, time.Millisecond), false},
		{"unsampled ok status", span(false, codes.Ok, time.Millisecond), false},
		{"error", span(false, codes.Error, time.Millisecond), true},
		{"keep", span(false, codes.Unset, time.Millisecond, attribute.Int("http.response.status_code", 422), tracing.KeepKey.Bool(true)), true},
		{"keep false", span(false, codes.Unset, time.Millisecond, tracing.KeepKey.Bool(false)), false},
		{"slow", span(false, codes.Unset, time.Second), true},
		{"just under", span(false, codes.Unset, time.Second-time.Nanosecond), false},
		{"slow stream", span(false, codes.Unset, time.Hour, tracing.KeepKey.Bool(false)), false},
		{"failed stream", span(false, codes.Error, time.Hour, tracing.KeepKey.Bool(false)), true},
	} {
		if got := p.Keeps(tc.s); got != tc.want {
			t.Errorf("%s: Keeps = %v, want %v", tc.name, got, tc.want)
		}
	}
	off := NewEdgeProcessor(tracetest.NewInMemoryExporter(), ProcessorOptions{SlowThreshold: -1})
	defer off.Shutdown(context.Background())
	if off.Keeps(span(false, codes.Unset, time.Hour)) {
		t.Errorf("a negative threshold keeps slow spans")
	}
}

// blockingExporter holds every export until released or its context ends.
type blockingExporter struct {
	release  chan struct{}
	started  chan struct{}
	mu       sync.Mutex
	exported int
}

func newBlockingExporter() *blockingExporter {
	return &blockingExporter{release: make(chan struct{}), started: make(chan struct{}, 100)}
}

func (e *blockingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.started <- struct{}{}
	select {
	case <-e.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.mu.Lock()
	e.exported += len(spans)
	e.mu.Unlock()
	return nil
}

func (e *blockingExporter) Shutdown(context.Context) error { return nil }

// TestQueueFullDrops: a stuck exporter never blocks OnEnd; spans past the
// queue are dropped and counted.
func TestQueueFullDrops(t *testing.T) {
	exp := newBlockingExporter()
	var mu sync.Mutex
	reasons := map[string]int{}
	p := NewEdgeProcessor(exp, ProcessorOptions{
		MaxQueueSize: 2, MaxExportBatchSize: 1, ScheduleDelay: time.Millisecond,
		OnDropped: func(reason string, n int) { mu.Lock(); reasons[reason] += n; mu.Unlock() },
	})
	p.OnEnd(span(true, codes.Unset, 0))
	<-exp.started // the first span is in the exporter, which hangs
	start := time.Now()
	for range 10 {
		p.OnEnd(span(true, codes.Unset, 0))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("OnEnd took %v with a stuck exporter", d)
	}
	if got := p.Dropped(); got != 8 {
		t.Errorf("Dropped = %d, want 8 (10 offered, 2 queued)", got)
	}
	mu.Lock()
	if reasons[DropQueueFull] != 8 {
		t.Errorf("reasons %v", reasons)
	}
	mu.Unlock()
	close(exp.release)
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.Exported() != 3 || exp.exported != 3 {
		t.Errorf("exported %d (exporter %d), want 3", p.Exported(), exp.exported)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.OnEnd(span(true, codes.Unset, 0)) // after Shutdown: ignored, no panic
}

type failingExporter struct{ calls atomic.Int32 }

func (e *failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	if e.calls.Add(1) <= 2 {
		return errors.New("connection refused")
	}
	return nil
}
func (e *failingExporter) Shutdown(context.Context) error { return nil }

// TestExportFailureDrops: failed batches are counted, and logged once per
// outage.
func TestExportFailureDrops(t *testing.T) {
	var logs bytes.Buffer
	var dropped atomic.Int64
	p := NewEdgeProcessor(&failingExporter{}, ProcessorOptions{
		MaxExportBatchSize: 3, ScheduleDelay: time.Hour,
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		OnDropped: func(reason string, n int) { dropped.Add(int64(n)) },
	})
	for range 3 {
		for range 3 {
			p.OnEnd(span(false, codes.Error, 0))
		}
		p.ForceFlush(context.Background())
	}
	p.Shutdown(context.Background())
	if p.Dropped() != 6 || dropped.Load() != 6 || p.Exported() != 3 {
		t.Errorf("dropped %d (told %d) exported %d; want 6, 6, 3", p.Dropped(), dropped.Load(), p.Exported())
	}
	out := logs.String()
	if strings.Count(out, "span export failing") != 1 || strings.Count(out, "span export recovered") != 1 {
		t.Errorf("logs:\n%s", out)
	}
}

// TestShutdownDeadline: Shutdown with a stuck exporter returns at its
// deadline and leaves no goroutine behind (goleak).
func TestShutdownDeadline(t *testing.T) {
	exp := newBlockingExporter()
	p := NewEdgeProcessor(exp, ProcessorOptions{MaxExportBatchSize: 1})
	p.OnEnd(span(true, codes.Unset, 0))
	<-exp.started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if err := p.ForceFlush(context.Background()); err != nil {
		t.Errorf("ForceFlush after Shutdown = %v", err)
	}
}

func TestRecordAll(t *testing.T) {
	s := RecordAll(sdktrace.ParentBased(sdktrace.NeverSample()))
	params := sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: trace.TraceID{1}, Name: "x"}
	if d := s.ShouldSample(params).Decision; d != sdktrace.RecordOnly {
		t.Errorf("drop became %v, want RecordOnly", d)
	}
	s = RecordAll(sdktrace.AlwaysSample())
	if d := s.ShouldSample(params).Decision; d != sdktrace.RecordAndSample {
		t.Errorf("sample became %v", d)
	}
	if s.Description() != "RecordAll{AlwaysOnSampler}" {
		t.Errorf("description %q", s.Description())
	}
}

// TestSampleHead: the head decisions of Sampler, and of RecordAll offered
// to the Observer, are the SDK sampler's, with or without a parent, for
// every policy OTEL_TRACES_SAMPLER names.
func TestSampleHead(t *testing.T) {
	parent := func(flags trace.TraceFlags) context.Context {
		return trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: flags}))
	}
	for _, name := range []string{"always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"} {
		for _, arg := range []string{"0", "0.1", "0.5", "1"} {
			s, err := parseSampler(env(map[string]string{EnvSampler: name, EnvSamplerArg: arg}))
			if err != nil {
				t.Fatal(err)
			}
			recordAll, ok := RecordAll(s).(tracing.HeadSampler)
			if !ok {
				t.Fatal("RecordAll's sampler is not a tracing.HeadSampler")
			}
			var sampled int
			for i := range 256 {
				tid := trace.TraceID{byte(i), 1, 2, 3, 4, 5, 6, 7, byte(i * 37), byte(i * 11), 3, 4, 5, 6, 7, 8}
				for _, ctx := range []context.Context{context.Background(), parent(0), parent(trace.FlagsSampled)} {
					want := s.Sampler.ShouldSample(sdktrace.SamplingParameters{ParentContext: ctx, TraceID: tid}).Decision == sdktrace.RecordAndSample
					if got := s.SampleHead(ctx, tid); got != want {
						t.Fatalf("%s %s, trace %v: SampleHead %v, the SDK's sampler %v", name, arg, tid, got, want)
					}
					if got := recordAll.SampleHead(ctx, tid); got != want {
						t.Fatalf("%s %s, trace %v: RecordAll's SampleHead %v, the SDK's sampler %v", name, arg, tid, got, want)
					}
					if want && ctx == context.Background() {
						sampled++
					}
				}
			}
			if name == "traceidratio" && arg == "0.5" && (sampled < 64 || sampled > 192) {
				t.Errorf("%d of 256 roots sampled at ratio 0.5", sampled)
			}
		}
	}
}

// flipSampler samples every other call: a sampler whose second opinion
// differs from its first.
type flipSampler struct{ n atomic.Int32 }

func (f *flipSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if f.n.Add(1)%2 == 1 {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample}
	}
	return sdktrace.SamplingResult{Decision: sdktrace.Drop}
}
func (f *flipSampler) Description() string { return "flip" }

// TestRecordAllFollowsTheHeadDecision: New finds the head sampler in the
// provider, and the spans the Observer makes later are recorded with the
// decision the app was told, whatever the sampler would say then.
func TestRecordAllFollowsTheHeadDecision(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(RecordAll(&flipSampler{})),
		sdktrace.WithIDGenerator(tracing.IDGenerator()), sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	obs := tracing.New(tracing.Provider(tp), propagation.TraceContext{}, tracing.Options{})
	for i := range 4 {
		req := httptest.NewRequest("GET", "/items/1", nil)
		x := &exchange.Exchange{Request: req, Context: req.Context(), Start: time.Now()}
		obs.Begin(x)
		out := http.Header{}
		obs.Decorate(x, out)
		sampled := x.Sampled
		x.Status = 500 // kept: made whatever the head decision
		obs.End(x)
		if sampled != (i%2 == 0) {
			t.Errorf("request %d: head decision %v, want the sampler's %v", i, sampled, i%2 == 0)
		}
		spans := rec.Ended()[2*i:]
		if len(spans) != 2 {
			t.Fatalf("request %d: %d spans", i, len(spans))
		}
		for _, s := range spans {
			if s.SpanContext().IsSampled() != sampled {
				t.Errorf("request %d: %v span sampled %v, head decision %v", i, s.SpanKind(), s.SpanContext().IsSampled(), sampled)
			}
		}
	}
}
