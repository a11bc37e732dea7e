package recorder

import (
	"context"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/sidecar/capture"
	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

// TestQueueBoundedInBytes: captures with large bodies fill the queue's
// byte budget long before its count, and the rest are dropped as
// queue_full; once written, their bytes are free again.
func TestQueueBoundedInBytes(t *testing.T) {
	m := newMetricsT(t)
	s := &sink{gate: make(chan struct{})}
	const budget = 1 << 20
	r := newRecorder(t, s, Options{QueueSize: 1024, QueueBytes: budget, BatchSize: 1, Rate: -1, Metrics: m})
	body := strings.Repeat("b", 64<<10)
	big := func(i int) *capture.Capture {
		c := newCapture(i, 500, "/big")
		c.Request.Body.Text, c.Response.Body.Text = body, body
		return c
	}
	accepted := 0
	for i := range 100 {
		if r.Offer(big(i)) {
			accepted++
		}
	}
	// 1 MiB holds 7 captures of 128 KiB; one more may be in the writer's
	// hands, and its bytes count until it is written.
	if accepted < 6 || accepted > 8 {
		t.Errorf("accepted %d captures of 128 KiB into a 1 MiB queue", accepted)
	}
	if got := r.queuedBytes.Load(); got > budget {
		t.Errorf("%d bytes queued, budget %d", got, budget)
	}
	if got := dropped(m, mn.DropQueueFull); got != 100-accepted {
		t.Errorf("queue_full %d, want %d", got, 100-accepted)
	}
	if n := len(r.queue); n >= 1024 {
		t.Errorf("the count bound was reached (%d): the test shows nothing", n)
	}
	if r.Offer(big(1000)) {
		t.Error("a capture was queued past the byte budget")
	}
	close(s.gate)
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.count() != accepted {
		t.Errorf("stored %d of %d accepted", s.count(), accepted)
	}
	if got := r.queuedBytes.Load(); got != 0 {
		t.Errorf("%d bytes still counted as queued after Close", got)
	}
}
