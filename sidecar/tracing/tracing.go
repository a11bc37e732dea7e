package tracing

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/faultline-dev/faultline/sidecar/buildinfo"
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
}

// Observer is an exchange.Observer that makes one server span per request
// and one client span for its upstream call, and continues the client's
// trace context into the upstream request through Decorate. It is safe for
// concurrent use.
//
// Observer imports only the OpenTelemetry API: the tracer provider and the
// propagator are passed in, never read from the otel globals.
type Observer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	keep   func(int) bool
	slow   time.Duration
	// off is set for a noop provider: every method returns at once.
	off bool
}

// New returns an Observer whose spans come from tp and whose context is
// extracted from and injected into headers by prop (typically
// propagation.NewCompositeTextMapPropagator(propagation.TraceContext{},
// propagation.Baggage{})). A nil tp or prop, or a noop provider, makes an
// Observer that does nothing.
func New(tp trace.TracerProvider, prop propagation.TextMapPropagator, opts Options) *Observer {
	o := &Observer{prop: prop, keep: opts.Keep, slow: opts.SlowThreshold}
	if o.slow == 0 {
		o.slow = DefaultSlowThreshold
	}
	if tp == nil || prop == nil {
		o.off = true
		return o
	}
	o.tracer = tp.Tracer(ScopeName,
		trace.WithInstrumentationVersion(buildinfo.Get().Version),
		trace.WithSchemaURL(semconv.SchemaURL))
	if _, ok := o.tracer.(noop.Tracer); ok {
		o.off = true
	}
	return o
}

// request is one exchange's tracing state. It is the context the engine
// sends the upstream request with, so that End and Decorate find it without
// another allocation. It is never pooled: the transport may call the
// httptrace hooks after the exchange ended (a dial that outlives its
// request), and those calls must only reach memory nobody reuses.
//
// Attributes are set once, in End: the SDK copies and grows its attribute
// slice on each call, and its samplers (see otelsetup) never read them.
type request struct {
	context.Context // holds the server span
	server, client  trace.Span
	name            string
	// out is the upstream request, kept for the client span's attributes.
	out *http.Request
	// sent is when Decorate started the client span; the hooks read it
	// after RoundTrip began, which orders them after the write.
	sent time.Time
	// Nanoseconds from sent to each step, 0 until it happened; written by
	// the transport's goroutines.
	conn, written, firstByte atomic.Int64
	reused                   atomic.Bool
	ct                       httptrace.ClientTrace
	// opts backs the variadic options of Start and End, which escape
	// through the interface call: here they cost no allocation of their own.
	opts    [2]trace.SpanStartOption
	endOpts [1]trace.SpanEndOption
}

// Span kinds as options, made once: converting them to the interface at
// each call allocates.
var (
	serverKind = trace.WithSpanKind(trace.SpanKindServer)
	clientKind = trace.WithSpanKind(trace.SpanKindClient)
)

// attrBuf holds the attributes of one End call. SetAttributes copies them,
// so the buffer is reused instead of escaping for each exchange.
type attrBuf [20]attribute.KeyValue

var attrBufs = sync.Pool{New: func() any { return new(attrBuf) }}

type requestKey struct{}

// Value returns r itself for requestKey and defers to the parent otherwise.
func (r *request) Value(key any) any {
	if key == (requestKey{}) {
		return r
	}
	return r.Context.Value(key)
}

func requestOf(ctx context.Context) *request {
	if ctx == nil {
		return nil
	}
	r, _ := ctx.Value(requestKey{}).(*request)
	return r
}

// Begin continues the client's trace (or starts one) with the server span,
// and sets x.Context, x.TraceID and x.Sampled. x.Sampled is the head
// decision here; End raises it when the span is kept after all.
func (o *Observer) Begin(x *exchange.Exchange) {
	if o.off {
		return
	}
	r := x.Request
	ctx := o.prop.Extract(x.Context, propagation.HeaderCarrier(r.Header))
	method, _ := Method(r.Method)
	route := x.Route
	if !isTemplate(route) {
		route = ""
	}
	st := &request{name: spanName(method, route)}
	st.opts = [2]trace.SpanStartOption{serverKind, trace.WithTimestamp(x.Start)}
	ctx, span := o.tracer.Start(ctx, st.name, st.opts[:]...)
	if sc := span.SpanContext(); sc.HasTraceID() {
		x.TraceID = sc.TraceID().String()
		x.Sampled = sc.IsSampled()
	}
	if !span.IsRecording() {
		// A sampler that drops (not ours; see otelsetup.RecordAll): the
		// context is still passed on, Decorate injects it.
		x.Context = ctx
		return
	}
	st.Context, st.server = ctx, span
	st.ct = httptrace.ClientTrace{
		GotConn:              st.gotConn,
		WroteRequest:         st.wroteRequest,
		GotFirstResponseByte: st.gotFirstResponseByte,
	}
	x.Context = httptrace.WithClientTrace(st, &st.ct)
}

// Decorate starts the client span of the upstream call and injects its
// context (traceparent, tracestate, baggage) into out's headers, replacing
// the ones copied from the client. The engine calls it after Begin, with
// the request it is about to send.
func (o *Observer) Decorate(x *exchange.Exchange, out *http.Request) {
	if o.off {
		return
	}
	st := requestOf(x.Context)
	if st == nil {
		o.prop.Inject(x.Context, propagation.HeaderCarrier(out.Header))
		return
	}
	st.out = out
	st.sent = time.Now()
	st.opts = [2]trace.SpanStartOption{clientKind, trace.WithTimestamp(st.sent)}
	ctx, span := o.tracer.Start(st.Context, st.name, st.opts[:]...)
	st.client = span
	o.prop.Inject(ctx, propagation.HeaderCarrier(out.Header))
}

// End finishes the client and server spans with the exchange's outcome. A
// span is kept (KeepKey set, so that the edge processor exports it whatever
// the sampling decision) for a 5xx, a status Options.Keep accepts, a
// response cut short, and a slow request; x.Sampled is then set, so that
// observers ending after this one (metrics' exemplars) link to it.
func (o *Observer) End(x *exchange.Exchange) {
	if o.off {
		return
	}
	st := requestOf(x.Context)
	if st == nil {
		return
	}
	out := o.classify(x)
	st.endOpts[0] = trace.WithTimestamp(x.Start.Add(x.Duration))
	buf := attrBufs.Get().(*attrBuf)
	defer attrBufs.Put(buf)
	if st.client != nil {
		st.endClient(x, out, buf)
	}

	r := x.Request
	method, known := Method(r.Method)
	attrs := append(buf[:0],
		semconv.HTTPRequestMethodKey.String(method),
		semconv.URLScheme(scheme(r)),
		semconv.URLPath(r.URL.Path),
		semconv.NetworkProtocolVersion(protocolVersion(r)),
		semconv.HTTPRequestBodySize(int(x.BytesIn)),
		semconv.HTTPResponseBodySize(int(x.BytesOut)),
	)
	if !known {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(truncate(r.Method, maxOriginalMethod)))
	}
	if isTemplate(x.Route) {
		attrs = append(attrs, semconv.HTTPRoute(x.Route))
	}
	if host, port := splitHostPort(r.Host); host != "" {
		if port == 0 {
			port = defaultPort(r.TLS != nil)
		}
		attrs = append(attrs, semconv.ServerAddress(host), semconv.ServerPort(port))
	}
	if host, _ := splitHostPort(r.RemoteAddr); host != "" {
		attrs = append(attrs, semconv.ClientAddress(host))
	}
	if ua := r.Header.Get("User-Agent"); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	if x.Status != exchange.StatusClientClosed {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(x.Status))
	}
	if out.errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(out.errType))
	}
	if out.keep {
		attrs = append(attrs, KeepKey.Bool(true))
		x.Sampled = true
	} else if out.notSlow {
		attrs = append(attrs, KeepKey.Bool(false))
	}
	st.server.SetAttributes(attrs...)
	if out.failed {
		st.server.SetStatus(codes.Error, "")
	}
	st.server.End(st.endOpts[:]...)
}

// endClient finishes the client span: the upstream's status, or why it
// gave none, and the timing of the call.
func (st *request) endClient(x *exchange.Exchange, out outcome, buf *attrBuf) {
	span := st.client
	u := st.out.URL
	host, port := splitHostPort(u.Host)
	if port == 0 {
		port = defaultPort(u.Scheme == "https")
	}
	method, _ := Method(st.out.Method)
	attrs := append(buf[:0],
		semconv.HTTPRequestMethodKey.String(method),
		semconv.ServerAddress(host),
		semconv.ServerPort(port),
		// url.full leaves the query out: it may carry tokens.
		semconv.URLFull(u.Scheme+"://"+u.Host+u.EscapedPath()),
	)
	if d := st.conn.Load(); d > 0 {
		attrs = append(attrs, UpstreamConnectionKey.Float64(seconds(d)), UpstreamReusedKey.Bool(st.reused.Load()))
	}
	if d := st.written.Load(); d > 0 {
		attrs = append(attrs, UpstreamWrittenKey.Float64(seconds(d)))
	}
	if d := st.firstByte.Load(); d > 0 {
		attrs = append(attrs, UpstreamFirstByteKey.Float64(seconds(d)))
	}
	noResponse := x.Source == metricnames.SourceUpstreamUnreachable || x.Source == metricnames.SourceUpstreamTimeout
	if !noResponse && x.Status != exchange.StatusClientClosed {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(x.Status))
	}
	if out.errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(out.errType))
	}
	if out.keep || out.notSlow {
		attrs = append(attrs, KeepKey.Bool(out.keep))
	}
	span.SetAttributes(attrs...)
	if noResponse && x.Err != nil {
		// The collector is ours, not the client's: the detail may go there.
		span.RecordError(x.Err)
	}
	if out.failed {
		span.SetStatus(codes.Error, "")
	}
	span.End(st.endOpts[:]...)
}

func seconds(ns int64) float64 { return time.Duration(ns).Seconds() }

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
	if x.Context == nil {
		return
	}
	trace.SpanFromContext(x.Context).SetAttributes(CaptureIDKey.String(id))
}

// spanName is "METHOD /route", or the method alone without a route
// template; semconv names an unknown method's span "HTTP".
func spanName(method, route string) string {
	if method == MethodOther {
		method = "HTTP"
	}
	if route == "" {
		return method
	}
	return method + " " + route
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
