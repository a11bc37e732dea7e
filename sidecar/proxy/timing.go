package proxy

import (
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/faultline-dev/faultline/sidecar/exchange"
)

// upstreamTrace records the steps of one upstream call through httptrace.
// The transport may call its hooks on its own goroutines, even after
// RoundTrip returned (http.Transport writes bodies from another
// goroutine), so it is never pooled and its fields are atomic.
type upstreamTrace struct {
	sent                   time.Time
	conn, wrote, firstByte atomic.Int64
	reused                 atomic.Bool
	ct                     httptrace.ClientTrace
}

// traceUpstream returns out with hooks that time its steps from sent.
func traceUpstream(out *http.Request, sent time.Time) (*http.Request, *upstreamTrace) {
	t := &upstreamTrace{sent: sent}
	t.ct = httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			t.reused.Store(info.Reused)
			t.conn.Store(int64(time.Since(t.sent)))
		},
		WroteRequest:         func(httptrace.WroteRequestInfo) { t.wrote.Store(int64(time.Since(t.sent))) },
		GotFirstResponseByte: func() { t.firstByte.Store(int64(time.Since(t.sent))) },
	}
	return out.WithContext(httptrace.WithClientTrace(out.Context(), &t.ct)), t
}

// copyTo stores what happened so far in u.
func (t *upstreamTrace) copyTo(u *exchange.UpstreamTiming) {
	*u = exchange.UpstreamTiming{
		Sent:      t.sent,
		Conn:      time.Duration(t.conn.Load()),
		Reused:    t.reused.Load(),
		Wrote:     time.Duration(t.wrote.Load()),
		FirstByte: time.Duration(t.firstByte.Load()),
	}
}
