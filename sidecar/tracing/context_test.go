package tracing

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TestParseTraceparent: the Observer reads traceparent as the propagator
// it stands in for does.
func TestParseTraceparent(t *testing.T) {
	const (
		tid = "4bf92f3577b34da6a3ce929d0e0e4736"
		sid = "00f067aa0ba902b7"
	)
	for _, in := range []string{
		"00-" + tid + "-" + sid + "-01",
		"00-" + tid + "-" + sid + "-00",
		"00-" + tid + "-" + sid + "-02",
		"00-" + tid + "-" + sid + "-03",
		"00-" + tid + "-" + sid + "-04",
		"00-" + tid + "-" + sid + "-01-extra",
		"01-" + tid + "-" + sid + "-01-extra",
		"01-" + tid + "-" + sid + "-09",
		"fe-" + tid + "-" + sid + "-01",
		"ff-" + tid + "-" + sid + "-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-" + sid + "-01",
		"00-00000000000000000000000000000000-" + sid + "-01",
		"00-" + tid + "-0000000000000000-01",
		"00-" + tid + "-" + sid + "-1",
		"00-" + tid + "-" + sid,
		"00_" + tid + "_" + sid + "_01",
		"0-" + tid + "-" + sid + "-01",
		"00-" + tid[1:] + "-" + sid + "-01",
		"00-" + tid + "-" + sid + "-0g",
		"",
	} {
		want := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
			propagation.MapCarrier{"traceparent": in}))
		tid, sid, flags, ok := parseTraceparent(in)
		got := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true})
		if ok != want.IsValid() || (ok && !got.Equal(want)) {
			t.Errorf("%q: got %v (ok %v), the propagator %v", in, got, ok, want)
		}
		if ok {
			var b [traceparentLen]byte
			if out := formatTraceparent(&b, tid, sid, flags); out[:53] != "00"+in[2:53] || out[53:] != fmt.Sprintf("%02x", byte(flags)) {
				t.Errorf("%q formats back as %q", in, out)
			}
		}
	}
}

// TestIDGen: a span started from a preset gets the preset ids, the child
// of the server span the client id; others get random ones.
func TestIDGen(t *testing.T) {
	p := &preset{Context: context.Background(), traceID: trace.TraceID{1}, serverID: trace.SpanID{2}, clientID: trace.SpanID{3}}
	g := IDGenerator()
	if tid, sid := g.NewIDs(p); tid != p.traceID || sid != p.serverID {
		t.Errorf("root: %v %v", tid, sid)
	}
	remote := trace.ContextWithRemoteSpanContext(p, trace.NewSpanContext(trace.SpanContextConfig{TraceID: p.traceID, SpanID: trace.SpanID{9}}))
	if sid := g.NewSpanID(remote, p.traceID); sid != p.serverID {
		t.Errorf("server span under a remote parent: %v", sid)
	}
	server := trace.ContextWithSpanContext(p, trace.NewSpanContext(trace.SpanContextConfig{TraceID: p.traceID, SpanID: p.serverID}))
	if sid := g.NewSpanID(server, p.traceID); sid != p.clientID {
		t.Errorf("client span: %v", sid)
	}
	if sid := g.NewSpanID(server, trace.TraceID{7}); sid == p.clientID || sid == p.serverID || !sid.IsValid() {
		t.Errorf("another trace: %v", sid)
	}
	tid, sid := g.NewIDs(context.Background())
	tid2, sid2 := g.NewIDs(context.Background())
	if !tid.IsValid() || !sid.IsValid() || tid == tid2 || sid == sid2 {
		t.Errorf("random ids %v %v, %v %v", tid, sid, tid2, sid2)
	}
	if sampled, ok := HeadDecision(server); !ok || sampled {
		t.Errorf("HeadDecision = %v, %v", sampled, ok)
	}
	if _, ok := HeadDecision(context.Background()); ok {
		t.Errorf("HeadDecision without a preset")
	}
}
