package otelsetup

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/faultline-dev/faultline/sidecar/tracing"
	"github.com/faultline-dev/faultline/sidecar/tracing/otlpwire"
)

// fakeSender decodes what it is sent; block holds every Send until
// released or its context ends; fail fails the first calls; reject
// refuses that many spans of each request.
type fakeSender struct {
	block   chan struct{}
	started chan struct{}
	fail    atomic.Int32
	reject  int64
	mu      sync.Mutex
	names   []string
	closed  bool
}

func newFakeSender() *fakeSender { return &fakeSender{started: make(chan struct{}, 100)} }

func (f *fakeSender) Send(ctx context.Context, req []byte) (int64, string, error) {
	f.started <- struct{}{}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return 0, "", ctx.Err()
		}
	}
	if f.fail.Add(-1) >= 0 {
		return 0, "", errors.New("connection refused")
	}
	var r coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(req, &r); err != nil {
		return 0, "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, rs := range r.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				f.names = append(f.names, s.Name)
			}
		}
	}
	if f.reject > 0 {
		return f.reject, "too many attributes", nil
	}
	return 0, "", nil
}

func (f *fakeSender) Close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return nil
}

func (f *fakeSender) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.names...)
}

// pair is one exchange's spans, named name.
func pair(name string) []tracing.Span {
	now := time.Unix(1_800_000_000, 0)
	return []tracing.Span{
		{Name: name, Kind: trace.SpanKindServer, TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, Start: now, End: now},
		{Name: name, Kind: trace.SpanKindClient, TraceID: trace.TraceID{1}, SpanID: trace.SpanID{3}, Parent: trace.SpanID{2}, Start: now, End: now},
	}
}

func newTestExporter(s Sender, o ProcessorOptions) *Exporter {
	return NewExporter(NewSampler(false, 1), otlpwire.NewEnvelope(nil, "test"), s, o)
}

// TestExporterSends: the spans of each exchange reach the collector,
// copied when they were exported (the buffers under them are reused at
// once), in batches of MaxExportBatchSize and on ForceFlush.
func TestExporterSends(t *testing.T) {
	s := newFakeSender()
	e := newTestExporter(s, ProcessorOptions{MaxExportBatchSize: 4, ScheduleDelay: time.Hour})
	name := []byte("GET /a")
	for _, c := range []byte("abc") {
		name[5] = c
		// As the engine's strings: memory that changes once Export returns.
		e.Export(pair(unsafe.String(&name[0], len(name))))
	}
	<-s.started // the first two pairs filled a batch
	if err := e.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(s.received(), ",")
	if want := "GET /a,GET /a,GET /b,GET /b,GET /c,GET /c"; got != want {
		t.Errorf("received %s, want %s", got, want)
	}
	if e.Exported() != 6 || e.Dropped() != 0 {
		t.Errorf("exported %d, dropped %d", e.Exported(), e.Dropped())
	}
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !s.closed {
		t.Error("Shutdown did not close the sender")
	}
	e.Export(pair("late")) // after Shutdown: ignored, no panic
}

// TestExporterQueueFullDrops: a stuck collector never blocks Export; the
// spans past the queue are dropped and counted.
func TestExporterQueueFullDrops(t *testing.T) {
	s := newFakeSender()
	s.block = make(chan struct{})
	var mu sync.Mutex
	reasons := map[string]int{}
	// Two batches of two spans queue, one is in flight.
	e := newTestExporter(s, ProcessorOptions{MaxQueueSize: 4, MaxExportBatchSize: 2, ScheduleDelay: time.Hour,
		OnDropped: func(reason string, n int) { mu.Lock(); reasons[reason] += n; mu.Unlock() }})
	e.Export(pair("first"))
	<-s.started // in flight, hanging
	for range 10 {
		e.Export(pair("more"))
	}
	if got := e.Dropped(); got != 16 {
		t.Errorf("Dropped = %d, want 16 (20 offered, 4 queued)", got)
	}
	mu.Lock()
	if reasons[DropQueueFull] != 16 {
		t.Errorf("reasons %v", reasons)
	}
	mu.Unlock()
	close(s.block)
	if err := e.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.Exported() != 6 || len(s.received()) != 6 {
		t.Errorf("exported %d (received %d), want 6", e.Exported(), len(s.received()))
	}
	e.Shutdown(context.Background())
}

// TestExporterFailures: failed exports and spans the collector refused are
// counted as dropped, and an outage is logged once, with its end.
func TestExporterFailures(t *testing.T) {
	var logs bytes.Buffer
	var dropped atomic.Int64
	s := newFakeSender()
	s.fail.Store(2)
	e := newTestExporter(s, ProcessorOptions{MaxExportBatchSize: 2, ScheduleDelay: time.Hour,
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		OnDropped: func(reason string, n int) { dropped.Add(int64(n)) }})
	for range 3 {
		e.Export(pair("x"))
		e.ForceFlush(context.Background())
	}
	s.reject = 1
	e.Export(pair("y"))
	e.ForceFlush(context.Background())
	e.Shutdown(context.Background())
	if e.Dropped() != 5 || dropped.Load() != 5 || e.Exported() != 3 {
		t.Errorf("dropped %d (told %d), exported %d; want 5, 5, 3", e.Dropped(), dropped.Load(), e.Exported())
	}
	out := logs.String()
	for _, want := range []string{"span export failing", "span export recovered", "the collector refused spans", "too many attributes"} {
		if strings.Count(out, want) != 1 {
			t.Errorf("%q logged %d times:\n%s", want, strings.Count(out, want), out)
		}
	}
}

// TestExporterShutdownDeadline: Shutdown with a stuck collector returns at
// its deadline and leaves no goroutine behind (goleak).
func TestExporterShutdownDeadline(t *testing.T) {
	s := newFakeSender()
	s.block = make(chan struct{})
	e := newTestExporter(s, ProcessorOptions{MaxExportBatchSize: 1})
	e.Export(pair("stuck"))
	<-s.started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want the deadline", err)
	}
	if err := e.ForceFlush(context.Background()); err != nil {
		t.Errorf("ForceFlush after Shutdown = %v", err)
	}
	if e.Dropped() != 2 {
		t.Errorf("Dropped = %d, want the 2 spans of the abandoned export", e.Dropped())
	}
}

// TestExporterScheduleDelay: a batch that does not fill is sent after
// ScheduleDelay without a flush.
func TestExporterScheduleDelay(t *testing.T) {
	s := newFakeSender()
	e := newTestExporter(s, ProcessorOptions{ScheduleDelay: 10 * time.Millisecond})
	defer e.Shutdown(context.Background())
	e.Export(pair("lonely"))
	<-s.started
	for range 100 {
		if len(s.received()) == 2 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("received %v", s.received())
}

// TestExporterAllocations: exporting an exchange's spans allocates nothing
// once the batches have grown.
func TestExporterAllocations(t *testing.T) {
	s := newFakeSender()
	e := newTestExporter(s, ProcessorOptions{MaxQueueSize: 1 << 20, MaxExportBatchSize: 1 << 20, ScheduleDelay: time.Hour})
	defer e.Shutdown(context.Background())
	spans := pair("GET /items/{item_id}")
	e.Export(spans)
	if n := testing.AllocsPerRun(1000, func() { e.Export(spans) }); n != 0 {
		t.Errorf("Export allocates %v times per exchange", n)
	}
}
