package tracing

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline-dev/faultline/sidecar/exchange"
	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// Span kinds as options, made once: converting them to the interface at
// each call allocates.
var (
	serverKind = trace.WithSpanKind(trace.SpanKindServer)
	clientKind = trace.WithSpanKind(trace.SpanKindClient)
)

// attrBuf holds the attributes of one span. SetAttributes copies them, so
// the buffer is reused instead of escaping for each recorded exchange.
type attrBuf [20]attribute.KeyValue

var attrBufs = sync.Pool{New: func() any { return new(attrBuf) }}

// record makes the exchange's spans after the fact, with the ids and
// decision Begin took: the server span (a child of the client's remote
// span, if any) from x.Start, and the client span of the upstream call
// when Decorate propagated its context. Both end when the exchange did.
//
// Every string taken from the exchange is copied: the engine reuses the
// buffers under them once End returns, and the spans are exported later.
func (o *Observer) record(x *exchange.Exchange, st *request, out outcome) {
	r := x.Request
	method, known := Method(r.Method)
	route := x.Route
	if !isTemplate(route) {
		route = ""
	}
	name := spanName(method, route)

	var ctx context.Context = &preset{Context: context.Background(),
		traceID: st.traceID, serverID: st.serverID, clientID: st.clientID, sampled: st.sampled}
	if st.hasParent {
		// As propagation.TraceContext: a tracestate that does not parse is
		// left out, and does not void the traceparent.
		ts, _ := trace.ParseTraceState(strings.Clone(st.tracestate))
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: st.traceID, SpanID: st.parentID, TraceFlags: st.parentFlags, TraceState: ts, Remote: true}))
	}
	st.endOpts[0] = trace.WithTimestamp(x.Start.Add(x.Duration))
	st.opts = [2]trace.SpanStartOption{serverKind, trace.WithTimestamp(x.Start)}
	ctx, server := o.tracer.Start(ctx, name, st.opts[:]...)
	buf := attrBufs.Get().(*attrBuf)
	defer attrBufs.Put(buf)

	if st.decorated {
		// Without the engine's timing (proxy.Options.TraceUpstream), the
		// call is only known to lie within the server span.
		start := x.Upstream.Sent
		if start.IsZero() {
			start = x.Start
		}
		st.opts = [2]trace.SpanStartOption{clientKind, trace.WithTimestamp(start)}
		_, client := o.tracer.Start(ctx, name, st.opts[:]...)
		o.endClient(client, x, st, method, out, buf)
	}

	attrs := append(buf[:0],
		semconv.HTTPRequestMethodKey.String(method),
		semconv.URLScheme(scheme(r)),
		semconv.URLPath(strings.Clone(r.URL.Path)),
		semconv.NetworkProtocolVersion(protocolVersion(r)),
		semconv.HTTPRequestBodySize(int(x.BytesIn)),
		semconv.HTTPResponseBodySize(int(x.BytesOut)),
	)
	if !known {
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(strings.Clone(truncate(r.Method, maxOriginalMethod))))
	}
	if route != "" {
		attrs = append(attrs, semconv.HTTPRoute(route))
	}
	if host, port := splitHostPort(r.Host); host != "" {
		if port == 0 {
			port = defaultPort(r.TLS != nil)
		}
		attrs = append(attrs, semconv.ServerAddress(strings.Clone(host)), semconv.ServerPort(port))
	}
	if host, _ := splitHostPort(r.RemoteAddr); host != "" {
		attrs = append(attrs, semconv.ClientAddress(strings.Clone(host)))
	}
	if ua := r.Header.Get("User-Agent"); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(strings.Clone(ua)))
	}
	if x.Status != exchange.StatusClientClosed {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(x.Status))
	}
	if out.errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(out.errType))
	}
	if out.keep {
		attrs = append(attrs, KeepKey.Bool(true))
	} else if out.notSlow {
		attrs = append(attrs, KeepKey.Bool(false))
	}
	if st.captureID != "" {
		attrs = append(attrs, CaptureIDKey.String(strings.Clone(st.captureID)))
	}
	server.SetAttributes(attrs...)
	if out.failed {
		server.SetStatus(codes.Error, "")
	}
	server.End(st.endOpts[:]...)
}

// endClient finishes the client span: the upstream's status, or why it
// gave none, and the timing of the call as the engine measured it.
func (o *Observer) endClient(span trace.Span, x *exchange.Exchange, st *request, method string, out outcome, buf *attrBuf) {
	attrs := append(buf[:0], semconv.HTTPRequestMethodKey.String(method))
	if o.upstream != nil {
		attrs = append(attrs,
			semconv.ServerAddress(o.upHost),
			semconv.ServerPort(o.upPort),
			// url.full leaves the query out: it may carry tokens.
			semconv.URLFull(o.upstreamURL(x.Request)),
		)
	}
	u := &x.Upstream
	if u.Conn > 0 {
		attrs = append(attrs, UpstreamConnectionKey.Float64(u.Conn.Seconds()), UpstreamReusedKey.Bool(u.Reused))
	}
	if u.Wrote > 0 {
		attrs = append(attrs, UpstreamWrittenKey.Float64(u.Wrote.Seconds()))
	}
	if u.FirstByte > 0 {
		attrs = append(attrs, UpstreamFirstByteKey.Float64(u.FirstByte.Seconds()))
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

// upstreamURL is the URL the engine sent r to, without its query: the
// upstream's scheme and host, its path as a prefix, then r's path (as
// proxy.Handler builds it). The result is a new string.
func (o *Observer) upstreamURL(r *http.Request) string {
	t := o.upstream
	u := url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath}
	if t.Path != "" && t.Path != "/" {
		prefix := strings.TrimSuffix(t.Path, "/")
		u.Path = prefix + r.URL.Path
		if r.URL.RawPath != "" {
			u.RawPath = prefix + r.URL.RawPath
		}
	}
	return t.Scheme + "://" + t.Host + u.EscapedPath()
}
