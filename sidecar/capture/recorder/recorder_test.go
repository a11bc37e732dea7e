package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// redactor is a trivial Redactor: it replaces the Authorization header and
// marks each capture it has seen.
type redactor struct{ calls atomic.Int64 }

func (r *redactor) Capture(c *capture.Capture) {
	r.calls.Add(1)
	for i, h := range c.Request.Headers {
		if strings.EqualFold(h.Name, "Authorization") {
			c.Request.Headers[i].Value = capture.Placeholder
			c.Redacted = append(c.Redacted, capture.Redaction{Where: capture.WhereRequestHeader, Name: h.Name})
		}
	}
	c.ClientAddr = "redacted-by-test"
}

// sink is a fake Sink. Put fails while err is set, and waits for gate when
// it is not nil.
type sink struct {
	mu      sync.Mutex
	stored  []*capture.Capture
	err     error
	gate    chan struct{}
	evicted int
	batches []int
}

func (s *sink) Put(ctx context.Context, cs []*capture.Capture) (int, error) {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	for _, c := range cs {
		if c.ClientAddr != "redacted-by-test" {
			panic("unredacted capture reached the sink")
		}
	}
	s.stored = append(s.stored, cs...)
	s.batches = append(s.batches, len(cs))
	return s.evicted, nil
}

func (s *sink) Bytes() int64 { return 4096 }

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.stored)
}

func newCapture(i, status int, route string) *capture.Capture {
	return &capture.Capture{
		Time:  t0.Add(time.Duration(i) * time.Millisecond),
		Route: route,
		Request: capture.Request{
			Method:  "POST",
			URL:     fmt.Sprintf("/items/%d", i),
			Headers: []capture.Field{{Name: "Authorization", Value: "Bearer secret-token"}},
		},
		Response: capture.Response{Status: status},
	}
}

func prometheusRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

func newMetricsT(t *testing.T) *Metrics {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newRecorder(t *testing.T, s Sink, opts Options) *Recorder {
	t.Helper()
	r, err := New(s, &redactor{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func dropped(m *Metrics, reason string) int {
	return int(value(m.Dropped.WithLabelValues(reason)))
}

func TestNewRequiresRedactorAndSink(t *testing.T) {
	if _, err := New(&sink{}, nil, Options{}); err == nil || !strings.Contains(err.Error(), "redact") {
		t.Errorf("nil redactor: %v", err)
	}
	if _, err := New(nil, &redactor{}, Options{}); err == nil {
		t.Error("nil sink accepted")
	}
}

func TestRedactsBeforeStoring(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := newMetricsT(t)
	red := &redactor{}
	r, err := New(st, red, Options{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if !r.Offer(newCapture(i, 422, "/items/{id}")) {
			t.Fatalf("Offer %d refused", i)
		}
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if red.calls.Load() != 10 {
		t.Errorf("redactor called %d times", red.calls.Load())
	}
	list, err := st.List(context.Background(), store.Query{})
	if err != nil || len(list) != 10 {
		t.Fatalf("stored %d, %v", len(list), err)
	}
	for _, sum := range list {
		c, err := st.Get(context.Background(), sum.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v := c.Request.Headers[0].Value; v != capture.Placeholder {
			t.Errorf("stored Authorization %q", v)
		}
	}
	if got := value(m.Captured.WithLabelValues("422")); got != 10 {
		t.Errorf("captures_total{code=422} = %v", got)
	}
	if got := value(m.StoreBytes); got <= 0 || int64(got) != st.Bytes() {
		t.Errorf("store bytes gauge %v, store %d", got, st.Bytes())
	}
}

func TestRateLimitPerRouteAndStatus(t *testing.T) {
	now := t0
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	m := newMetricsT(t)
	s := &sink{}
	r := newRecorder(t, s, Options{Rate: 5, Burst: 20, Metrics: m, Now: clock})
	offer := func(n, status int, route string) (ok int) {
		for i := range n {
			if r.Offer(newCapture(i, status, route)) {
				ok++
			}
		}
		return ok
	}
	tests := []struct {
		name          string
		advance       time.Duration
		n, status     int
		route         string
		wantAccepted  int
		wantTotalRate int
	}{
		{"burst", 0, 30, 422, "/a", 20, 10},
		{"same route, other status", 0, 30, 500, "/a", 20, 20},
		{"other route", 0, 5, 422, "/b", 5, 20},
		{"one second refills rate", time.Second, 10, 422, "/a", 5, 25},
		{"never more than the burst", time.Hour, 30, 422, "/a", 20, 35},
	}
	for _, tt := range tests {
		mu.Lock()
		now = now.Add(tt.advance)
		mu.Unlock()
		if got := offer(tt.n, tt.status, tt.route); got != tt.wantAccepted {
			t.Errorf("%s: accepted %d, want %d", tt.name, got, tt.wantAccepted)
		}
		if got := dropped(m, mn.DropRateLimited); got != tt.wantTotalRate {
			t.Errorf("%s: rate_limited %d, want %d", tt.name, got, tt.wantTotalRate)
		}
	}
}

func TestRateLimitKeysBounded(t *testing.T) {
	l := newLimiter(1, 1, 3)
	for i := range 100 {
		l.allow(fmt.Sprintf("/r%d", i), 500, t0)
	}
	if len(l.buckets) != 3 {
		t.Errorf("%d buckets, want 3", len(l.buckets))
	}
	// Past the cap, new keys share the overflow bucket (already spent).
	if l.allow("/new", 500, t0) {
		t.Error("overflow bucket not shared")
	}
}

// TestFloodNeverBlocks offers far more than the queue holds while the store
// is stuck: every Offer returns, the excess is counted as queue_full, and
// the queue never holds more than its size.
func TestFloodNeverBlocks(t *testing.T) {
	const queue, batch, offers = 16, 4, 2000
	m := newMetricsT(t)
	s := &sink{gate: make(chan struct{})}
	r := newRecorder(t, s, Options{QueueSize: queue, BatchSize: batch, Rate: -1, Metrics: m})
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range offers / 8 {
				if r.Offer(newCapture(g*1000+i, 500, "/flood")) {
					accepted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := len(r.queue); n > queue {
		t.Errorf("queue holds %d > %d", n, queue)
	}
	// At most the queue plus one batch in the writer's hands.
	if a := accepted.Load(); a > queue+batch || a < queue {
		t.Errorf("accepted %d, want between %d and %d", a, queue, queue+batch)
	}
	if got := dropped(m, mn.DropQueueFull); int64(got) != offers-accepted.Load() {
		t.Errorf("queue_full %d, want %d", got, offers-accepted.Load())
	}
	close(s.gate)
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if int64(s.count()) != accepted.Load() {
		t.Errorf("stored %d of %d accepted", s.count(), accepted.Load())
	}
	for _, b := range s.batches {
		if b > batch {
			t.Errorf("batch of %d > %d", b, batch)
		}
	}
	if got := value(m.Captured.WithLabelValues("500")); int64(got) != accepted.Load() {
		t.Errorf("captures_total %v, want %d", got, accepted.Load())
	}
}

// logBuffer collects log lines from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestStoreErrorsCountedAndLoggedOnce(t *testing.T) {
	m := newMetricsT(t)
	s := &sink{err: errors.New("disk I/O error: no space left on device")}
	var logs logBuffer
	r := newRecorder(t, s, Options{Rate: -1, BatchSize: 1, Metrics: m,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return t0 }})
	for i := range 50 {
		if !r.Offer(newCapture(i, 500, "/x")) {
			t.Fatalf("Offer %d refused while the store fails", i)
		}
		waitFor(t, func() bool { return dropped(m, mn.DropStoreError) == i+1 })
	}
	if n := strings.Count(logs.String(), "capture store failing"); n != 1 {
		t.Errorf("%d failure lines, want 1:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "secret-token") {
		t.Error("a captured secret reached the log")
	}
	s.mu.Lock()
	s.err = nil
	s.mu.Unlock()
	r.Offer(newCapture(99, 500, "/x"))
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.count() != 1 || dropped(m, mn.DropStoreError) != 50 {
		t.Errorf("stored %d, store_error %d", s.count(), dropped(m, mn.DropStoreError))
	}
	if !strings.Contains(logs.String(), "capture store writes again") {
		t.Errorf("no recovery line:\n%s", logs.String())
	}
}

func TestClosedStoreUnderneath(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	m := newMetricsT(t)
	r := newRecorder(t, st, Options{Rate: -1, Metrics: m})
	for i := range 5 {
		r.Offer(newCapture(i, 500, "/x"))
	}
	r.Close(context.Background())
	if got := dropped(m, mn.DropStoreError); got != 5 {
		t.Errorf("store_error %d, want 5", got)
	}
}

func TestEvictionsCounted(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{MaxCount: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := newMetricsT(t)
	r := newRecorder(t, st, Options{Rate: -1, Metrics: m})
	for i := range 12 {
		r.Offer(newCapture(i, 401, "/login"))
	}
	r.Close(context.Background())
	if got := dropped(m, mn.DropEvicted); got != 7 {
		t.Errorf("evicted %d, want 7", got)
	}
	if got := value(m.Captured.WithLabelValues("401")); got != 12 {
		t.Errorf("captures_total %v, want 12", got)
	}
}

type panicky struct{ redactor }

func (p *panicky) Capture(c *capture.Capture) {
	if c.Route == "/boom" {
		panic("redactor bug near Bearer secret-token")
	}
	p.redactor.Capture(c)
}

func TestPanickingRedactorDropsOnlyThatCapture(t *testing.T) {
	m := newMetricsT(t)
	s := &sink{}
	var logs logBuffer
	r, err := New(s, &panicky{}, Options{Rate: -1, Metrics: m, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r.Offer(newCapture(1, 500, "/ok"))
	r.Offer(newCapture(2, 500, "/boom"))
	r.Offer(newCapture(3, 500, "/ok"))
	r.Close(context.Background())
	if s.count() != 2 || dropped(m, mn.DropStoreError) != 1 {
		t.Errorf("stored %d, store_error %d", s.count(), dropped(m, mn.DropStoreError))
	}
	if strings.Contains(logs.String(), "secret-token") || !strings.Contains(logs.String(), "panicked") {
		t.Errorf("log: %s", logs.String())
	}
}

func TestCloseGivesUp(t *testing.T) {
	m := newMetricsT(t)
	s := &sink{gate: make(chan struct{})} // never opens
	r := newRecorder(t, s, Options{Rate: -1, BatchSize: 1, Metrics: m})
	for i := range 5 {
		r.Offer(newCapture(i, 500, "/x"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close = %v", err)
	}
	if got := dropped(m, mn.DropStoreError); got != 5 {
		t.Errorf("store_error %d, want 5", got)
	}
	if r.Offer(newCapture(9, 500, "/x")) {
		t.Error("Offer after Close accepted")
	}
	if err := r.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, mf := range mfs {
		got[mf.GetName()] = len(mf.GetMetric())
	}
	if got[mn.CapturesDroppedTotal] != len(mn.DropReasons) {
		t.Errorf("%s has %d series, want one per reason", mn.CapturesDroppedTotal, got[mn.CapturesDroppedTotal])
	}
	if _, ok := got[mn.CaptureStoreBytes]; !ok {
		t.Errorf("%s missing", mn.CaptureStoreBytes)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Error("registering twice succeeded")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("condition not met")
}

var _ io.Writer = (*logBuffer)(nil)

// value reads a counter or gauge (testutil would need a module this one
// does not require).
func value(m prometheus.Metric) float64 {
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		panic(err)
	}
	if c := pb.GetCounter(); c != nil {
		return c.GetValue()
	}
	return pb.GetGauge().GetValue()
}
