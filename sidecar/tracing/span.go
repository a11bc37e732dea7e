package tracing

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline-dev/faultline/sidecar/exchange"
	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// attrBuf holds the attributes of one span.
type attrBuf [20]attribute.KeyValue

// spanPair is the memory of one exchange's spans while the exporter reads
// them, pooled: the spans, their attributes and the name's bytes.
type spanPair struct {
	spans [2]Span
	attrs [2]attrBuf
	name  []byte
	url   []byte
}

var spanPairs = sync.Pool{New: func() any { return new(spanPair) }}

// record makes the exchange's spans after the fact, with the ids and
// decision Begin took, and hands them to the exporter: the server span (a
// child of the client's remote span, if any) from x.Start, and the client
// span of the upstream call when Decorate propagated its context. Both end
// when the exchange did.
//
// The spans' strings are the exchange's and the pooled pair's, valid
// until Export returns: the exporter copies what it keeps, so that a
// sampled request costs no allocation here.
func (o *Observer) record(x *exchange.Exchange, st *request, out outcome) {
	p := spanPairs.Get().(*spanPair)
	defer func() {
		// Drop the references to the engine's buffers before pooling.
		for i := range p.spans {
			clear(p.spans[i].Attributes)
		}
		p.spans = [2]Span{}
		spanPairs.Put(p)
	}()
	r := x.Request
	method, known := Method(r.Method)
	route := x.Route
	if !isTemplate(route) {
		route = ""
	}
	p.name = appendSpanName(p.name[:0], method, route)
	name := unsafe.String(unsafe.SliceData(p.name), len(p.name))

	var ts trace.TraceState
	if st.hasParent && st.tracestate != "" {
		// As propagation.TraceContext: a tracestate that does not parse is
		// left out, and does not void the traceparent.
		ts, _ = trace.ParseTraceState(st.tracestate)
	}
	end := x.Start.Add(x.Duration)
	spans := p.spans[:1]
	spans[0] = Span{Name: name, Kind: trace.SpanKindServer, TraceID: st.traceID, SpanID: st.serverID,
		Parent: st.parentID, ParentRemote: st.hasParent, Flags: st.flags(), TraceState: ts,
		Start: x.Start, End: end, Failed: out.failed,
		Attributes: o.serverAttributes(p.attrs[0][:0], x, st, out, method, known, route)}
	if st.decorated {
		// Without the engine's timing (proxy.Options.TraceUpstream), the
		// call is only known to lie within the server span.
		start := x.Upstream.Sent
		if start.IsZero() {
			start = x.Start
		}
		client := Span{Name: name, Kind: trace.SpanKindClient, TraceID: st.traceID, SpanID: st.clientID,
			Parent: st.serverID, Flags: st.flags(), TraceState: ts, Start: start, End: end, Failed: out.failed}
		client.Attributes, client.Err = o.clientAttributes(p.attrs[1][:0], &p.url, x, method, out)
		spans = append(spans, client)
	}
	o.exp.Export(spans)
}

// appendSpanName appends "METHOD /route", or the method alone without a
// route template; semconv names an unknown method's span "HTTP".
func appendSpanName(b []byte, method, route string) []byte {
	if method == MethodOther {
		method = "HTTP"
	}
	b = append(b, method...)
	if route != "" {
		b = append(append(b, ' '), route...)
	}
	return b
}

// serverAttributes appends the server span's attributes to attrs.
func (o *Observer) serverAttributes(attrs []attribute.KeyValue, x *exchange.Exchange, st *request, out outcome, method string, known bool, route string) []attribute.KeyValue {
	r := x.Request
	attrs = append(attrs,
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
	if route != "" {
		attrs = append(attrs, semconv.HTTPRoute(route))
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
	if ua := r.Header["User-Agent"]; len(ua) > 0 && ua[0] != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua[0]))
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
		attrs = append(attrs, CaptureIDKey.String(st.captureID))
	}
	return attrs
}

// clientAttributes appends the client span's attributes to attrs: the
// upstream's status, or why it gave none, and the timing of the call as
// the engine measured it. err is the transport's error of a call that got
// no response. url.full is built in *buf.
func (o *Observer) clientAttributes(attrs []attribute.KeyValue, buf *[]byte, x *exchange.Exchange, method string, out outcome) (_ []attribute.KeyValue, err error) {
	attrs = append(attrs, semconv.HTTPRequestMethodKey.String(method))
	if o.upstream != nil {
		attrs = append(attrs,
			semconv.ServerAddress(o.upHost),
			semconv.ServerPort(o.upPort),
		)
		// url.full leaves the query out: it may carry tokens.
		*buf = o.appendUpstreamURL((*buf)[:0], x.Request)
		attrs = append(attrs, semconv.URLFull(unsafe.String(unsafe.SliceData(*buf), len(*buf))))
	}
	u := &x.Upstream
	if !u.Sent.IsZero() {
		// Timed by the engine; a pooled connection is in hand at once.
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
	if noResponse {
		// The collector is ours, not the client's: the detail may go there.
		err = x.Err
	}
	return attrs, err
}

// appendUpstreamURL appends the URL the engine sent r to, without its
// query: the upstream's scheme, host and path prefix (upstreamBase), then
// r's path, as proxy.Handler joins them.
func (o *Observer) appendUpstreamURL(b []byte, r *http.Request) []byte {
	u := url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath}
	return append(append(b, o.upBase...), u.EscapedPath()...)
}

// upstreamBase is the start of every url.full of upstream u: scheme, host
// and the escaped path prefix without its trailing slash.
func upstreamBase(u *url.URL) string {
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/")
}
