package recorder

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

// nopSink stores nothing, so the writer drains as fast as it can.
type nopSink struct{}

func (nopSink) Put(context.Context, []*capture.Capture) (int, error) { return 0, nil }
func (nopSink) Bytes() int64                                         { return 0 }

// BenchmarkOffer measures the request path: one Offer from many goroutines.
// "accepted" has no rate limit (what is not queued is dropped as
// queue_full), "rate-limited" spends its tokens at once, as in a flood of
// one failing route.
func BenchmarkOffer(b *testing.B) {
	for _, tc := range []struct {
		name string
		rate float64
	}{{"accepted", -1}, {"rate-limited", 5}} {
		b.Run(tc.name, func(b *testing.B) {
			r, err := New(nopSink{}, &redactor{}, Options{Rate: tc.rate, Metrics: newMetricsB(b)})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close(context.Background())
			c := newCapture(1, 500, "/items/{id}")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r.Offer(c)
				}
			})
		})
	}
}

// BenchmarkWriter measures the writer's throughput into a real store:
// redaction, JSON, deflate and one SQLite transaction per batch.
func BenchmarkWriter(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10} {
		b.Run(fmt.Sprintf("body=%dKiB", size>>10), func(b *testing.B) {
			st, err := store.Open(filepath.Join(b.TempDir(), store.FileName), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			r, err := New(st, &redactor{}, Options{Rate: -1, QueueSize: 1 << 16, Metrics: newMetricsB(b)})
			if err != nil {
				b.Fatal(err)
			}
			body := `{"detail":"` + strings.Repeat("field required ", size/15) + `"}`
			caps := make([]*capture.Capture, b.N)
			for i := range caps {
				caps[i] = newCapture(i, 422, "/items/{id}")
				caps[i].Request.Body.Text = body
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range caps {
				for !r.Offer(caps[i]) {
					runtime.Gosched() // the queue is full: let the writer catch up
				}
			}
			if err := r.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "captures/s")
		})
	}
}

func newMetricsB(b *testing.B) *Metrics {
	m, err := NewMetrics(prometheusRegistry())
	if err != nil {
		b.Fatal(err)
	}
	return m
}
