package tracing

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline-dev/faultline/sidecar/exchange"
	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// ScopeName is the instrumentation scope of the spans the Observer makes.
const ScopeName = "github.com/faultline-dev/faultline/sidecar/tracing"

// TraceIDHeader is the response header that carries the trace id; pass it
// as proxy.Options.TraceIDHeader (the engine's default is the same).
const TraceIDHeader = "X-Trace-Id"

// DefaultSlowThreshold is the SlowThreshold used when Options leaves it zero.
const DefaultSlowThreshold = time.Second

// Options configures an Observer. The zero value means the defaults.
type Options struct {
	// Keep reports whether a status below 500 is always kept (exported
	// whatever the sampling decision) and marked as an error: pass the
	// capture set, so that every capture has its trace. 5xx are always
	// kept. Nil keeps no status below 500.
	Keep func(status int) bool
	// SlowThreshold keeps every request at least this slow, except
	// WebSockets and event streams, long by design. Zero means
	// DefaultSlowThreshold; a negative value keeps none for being slow.
	// Give the edge processor the same value.
	SlowThreshold time.Duration
	// Upstream is the app's base URL, as given to proxy.Options.Upstream:
	// the client span's server.address, server.port and url.full. Decorate
	// only sees headers, so the Observer cannot learn it otherwise; nil
	// leaves those attributes out.
	Upstream *url.URL
}

// Observer is an exchange.Observer that makes one server span per request
// and one client span for its upstream call, and continues the client's
// trace context into the upstream request through Decorate. It is safe for
// concurrent use.
//
// The spans are made only when the exchange ends, and only for a request
// that was head-sampled or is kept: until then the Observer holds the ids
// it propagated and its decision in pooled memory, so that the other
// requests cost no allocation at all.
//
// Observer imports only the OpenTelemetry API: the exporter and the
// propagator are passed in, never read from the otel globals.
type Observer struct {
	exp  Exporter
	keep func(int) bool
	slow time.Duration
	// traceContext is set when the propagator carries W3C trace context.
	traceContext bool
	upstream     *url.URL
	upHost       string
	upPort       int
	upBase       string
	states       sync.Pool
	// off is set without an exporter: every method returns at once.
	off bool
}

// New returns an Observer whose spans go to exp, sampled by its head
// sampler. prop says which headers carry the context (typically
// propagation.NewCompositeTextMapPropagator(propagation.TraceContext{},
// propagation.Baggage{})): the Observer reads and writes the W3C
// traceparent itself, without allocating, when prop's fields include it,
// and leaves tracestate and baggage as the client sent them (they reach
// the app unchanged). Other formats are not read.
//
// A nil exp or prop makes an Observer that does nothing; so does
// Provider of a nil or noop provider.
func New(exp Exporter, prop propagation.TextMapPropagator, opts Options) *Observer {
	o := &Observer{exp: exp, keep: opts.Keep, slow: opts.SlowThreshold, upstream: opts.Upstream}
	if o.slow == 0 {
		o.slow = DefaultSlowThreshold
	}
	if exp == nil || prop == nil {
		o.off = true
		return o
	}
	for _, f := range prop.Fields() {
		o.traceContext = o.traceContext || f == "traceparent"
	}
	if u := o.upstream; u != nil {
		o.upHost, o.upPort = splitHostPort(u.Host)
		if o.upPort == 0 {
			o.upPort = defaultPort(u.Scheme == "https")
		}
		o.upBase = upstreamBase(u)
	}
	o.states.New = func() any { return new(request) }
	return o
}

// request is one exchange's tracing state, from Begin to the end of End,
// pooled and found through Exchange.Tracing. Its strings point into the
// engine's buffers: they are copied only when the spans are made.
type request struct {
	traceID            trace.TraceID
	serverID, clientID trace.SpanID
	// parentID and parentFlags are the client's traceparent, when
	// hasParent; tracestate is its tracestate header.
	parentID    trace.SpanID
	parentFlags trace.TraceFlags
	hasParent   bool
	tracestate  string
	// sampled is the head decision.
	sampled bool
	// decorated is set when the upstream request was sent with the
	// client span's context: that span must then exist.
	decorated bool
	captureID string
	// pctx is the parent context of the head decision.
	pctx parentContext
	// tp backs the traceparent value sent upstream, tpv its header slice;
	// the engine writes the request before End.
	tp  [traceparentLen]byte
	tpv [1]string
}

// Begin continues the client's trace (or starts one): it picks the server
// and client span ids, takes the head sampling decision, and sets
// x.TraceID, x.Sampled (End raises it when the span is kept after all)
// and x.Tracing. It allocates nothing.
func (o *Observer) Begin(x *exchange.Exchange) {
	if o.off {
		return
	}
	st := o.states.Get().(*request)
	h := x.Request.Header
	if o.traceContext {
		if v := h["Traceparent"]; len(v) > 0 {
			st.traceID, st.parentID, st.parentFlags, st.hasParent = parseTraceparent(v[0])
		}
		if st.hasParent {
			if v := h["Tracestate"]; len(v) > 0 {
				st.tracestate = v[0]
			}
		}
	}
	if !st.hasParent {
		st.traceID = newTraceID()
	}
	// Distinct ids: IDGen tells the two spans apart by their parent.
	for st.serverID = newSpanID(); st.serverID == st.parentID; {
		st.serverID = newSpanID()
	}
	for st.clientID = newSpanID(); st.clientID == st.serverID || st.clientID == st.parentID; {
		st.clientID = newSpanID()
	}
	st.sampled = o.exp.SampleHead(st.headContext(), st.traceID)
	x.SetTraceID(st.traceID)
	x.Sampled = st.sampled
	x.Tracing = st
}

// headContext is the parent context of the head decision: the client's
// span context as a remote parent, or none.
func (st *request) headContext() context.Context {
	if !st.hasParent {
		return context.Background()
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: st.traceID, SpanID: st.parentID, TraceFlags: st.parentFlags, Remote: true})
	if !parentInPlace {
		return trace.ContextWithRemoteSpanContext(context.Background(), sc)
	}
	st.pctx.span.sc = sc
	return &st.pctx
}

// flags are the trace flags of the sidecar's spans: the client's random
// bit, and the head decision.
func (st *request) flags() trace.TraceFlags {
	f := st.parentFlags & trace.FlagsRandom
	if st.sampled {
		f |= trace.FlagsSampled
	}
	return f
}

// Decorate sets the traceparent of the upstream request to the client
// span's context, replacing the client's; tracestate and baggage go
// through as the client sent them. The engine calls it after Begin, with
// the header of the request it is about to send, which it writes before
// End: the value lives in the pooled state until then, so that it costs
// no allocation.
func (o *Observer) Decorate(x *exchange.Exchange, h http.Header) {
	st, _ := x.Tracing.(*request)
	if o.off || st == nil {
		return
	}
	st.decorated = true
	if o.traceContext {
		st.tpv[0] = formatTraceparent(&st.tp, st.traceID, st.clientID, st.flags())
		h["Traceparent"] = st.tpv[:]
	}
}

// End classifies the exchange and, for a head-sampled or kept one, makes
// its server and client spans (see record). A span is kept (KeepKey set,
// so that the edge processor exports it whatever the sampling decision)
// for a 5xx, a status Options.Keep accepts, a response cut short, and a
// slow request; x.Sampled is then set, so that observers ending after
// this one (metrics' exemplars) link to it. Any other exchange costs no
// allocation.
func (o *Observer) End(x *exchange.Exchange) {
	st, _ := x.Tracing.(*request)
	if o.off || st == nil {
		return
	}
	x.Tracing = nil
	out := o.classify(x)
	if out.keep {
		x.Sampled = true
	}
	if st.sampled || out.keep {
		o.record(x, st, out)
	}
	*st = request{}
	o.states.Put(st)
}

// outcome is what End makes of an exchange.
type outcome struct {
	errType string // error.type, empty for success
	failed  bool   // span status Error
	keep    bool   // export whatever the sampling decision
	notSlow bool   // long, but not to be exported for it (KeepKey false)
}

// Values of error.type beside status codes and metricnames.Source*.
const (
	// ErrorClientClosed: the client went away before the response was
	// complete. The span is not an error: the server did not fail.
	ErrorClientClosed = "client_closed"
	// ErrorResponseIncomplete: the upstream broke the response body after
	// its head was relayed; the client saw a truncated response.
	ErrorResponseIncomplete = "response_incomplete"
)

// classify allocates only for a kept exchange (a status code as
// error.type).
func (o *Observer) classify(x *exchange.Exchange) outcome {
	var out outcome
	switch s := x.Status; {
	case s == exchange.StatusClientClosed:
		out.errType = ErrorClientClosed
	case s >= 500:
		out.failed, out.keep = true, true
		switch x.Source {
		case metricnames.SourceUpstreamUnreachable, metricnames.SourceUpstreamTimeout, metricnames.SourceSidecar:
			out.errType = x.Source
		default:
			out.errType = strconv.Itoa(s)
		}
	case o.keep != nil && o.keep(s):
		out.failed, out.keep = true, true
		out.errType = strconv.Itoa(s)
	case x.Err != nil:
		out.failed, out.keep = true, true
		out.errType = ErrorResponseIncomplete
	}
	if o.slow > 0 && x.Duration >= o.slow {
		if longLived(x) {
			// A WebSocket or an event stream is long by design: mark it,
			// so that the edge processor does not keep it for its length.
			out.notSlow = !out.keep
		} else {
			out.keep = true
		}
	}
	return out
}

// longLived reports whether x is a stream whose length says nothing of its
// health: a protocol switch (WebSocket) or server-sent events.
func longLived(x *exchange.Exchange) bool {
	return x.Upgraded || strings.HasPrefix(x.ResponseHeader.Get("Content-Type"), "text/event-stream")
}

// RecordCaptureID records a capture's id on the exchange's server span
// (CaptureIDKey). Call it before the tracing Observer's End, from the
// capture observer's hook; it does nothing without tracing.
func RecordCaptureID(x *exchange.Exchange, id string) {
	if st, ok := x.Tracing.(*request); ok && st != nil {
		st.captureID = id
	}
}

// isTemplate reports whether route is a template rather than one of the
// placeholders for paths without one.
func isTemplate(route string) bool {
	return route != "" && route != metricnames.RouteUnmatched && route != metricnames.RouteOther
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func defaultPort(tls bool) int {
	if tls {
		return 443
	}
	return 80
}

func protocolVersion(r *http.Request) string {
	switch {
	case r.ProtoMajor == 2:
		return "2"
	case r.ProtoMajor == 3:
		return "3"
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return "1.0"
	}
	return "1.1"
}
