package tracing

import (
	"context"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/faultline-dev/faultline/sidecar/buildinfo"
)

// Provider returns an Exporter that makes the Observer's spans with an
// OpenTelemetry tracer provider: the SDK's, with an in-memory exporter in
// tests, or any other. It is the general path; otelsetup's exporter is the
// fast one, which skips the SDK's spans.
//
// The provider must be built with IDGenerator, so that the spans get the
// ids the Observer already propagated, and a sampler that honours
// HeadDecision (otelsetup.RecordAll's does), so that a kept span is
// recorded whatever the head decision. The head sampling policy is the
// provider's sampler, which Provider asks to offer itself (see
// OfferHeadSampler); a sampler that does not is taken for the SDK's
// default, parent-based always on.
//
// A nil or noop provider returns nil: no tracing.
func Provider(tp trace.TracerProvider) Exporter {
	if tp == nil {
		return nil
	}
	tr := tp.Tracer(ScopeName,
		trace.WithInstrumentationVersion(buildinfo.Get().Version),
		trace.WithSchemaURL(semconv.SchemaURL))
	if _, ok := tr.(noop.Tracer); ok {
		return nil
	}
	p := &provider{tracer: tr, head: findHeadSampler(tr)}
	if p.head == nil {
		p.head = parentBasedAlwaysOn{}
	}
	return p
}

type provider struct {
	tracer trace.Tracer
	head   HeadSampler
}

func (p *provider) SampleHead(parent context.Context, traceID trace.TraceID) bool {
	return p.head.SampleHead(parent, traceID)
}

// Span kinds as options, made once: converting them to the interface at
// each call allocates.
var (
	serverKind = trace.WithSpanKind(trace.SpanKindServer)
	clientKind = trace.WithSpanKind(trace.SpanKindClient)
)

// Export starts and ends the spans with the tracer, from a context that
// carries their preset ids and head decision. The SDK keeps what it is
// given, so every string is copied first.
func (p *provider) Export(spans []Span) {
	s := &spans[0]
	pre := &preset{Context: context.Background(),
		traceID: s.TraceID, serverID: s.SpanID, sampled: s.Flags.IsSampled()}
	if len(spans) > 1 {
		pre.clientID = spans[1].SpanID
	}
	var ctx context.Context = pre
	ts, _ := trace.ParseTraceState(strings.Clone(s.TraceState.String()))
	if s.ParentRemote {
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: s.TraceID, SpanID: s.Parent, TraceFlags: s.Flags & trace.FlagsRandom, TraceState: ts, Remote: true}))
	}
	buf := attrBufs.Get().(*attrBuf)
	defer attrBufs.Put(buf)
	name := strings.Clone(s.Name)
	ctx, server := p.tracer.Start(ctx, name, serverKind, trace.WithTimestamp(s.Start))
	for i := range spans[1:] {
		c := &spans[1+i]
		_, client := p.tracer.Start(ctx, name, clientKind, trace.WithTimestamp(c.Start))
		end(client, c, buf)
	}
	end(server, s, buf)
}

var attrBufs = sync.Pool{New: func() any { return new(attrBuf) }}

// end sets span's attributes (copied through buf), status and error as s
// has them, and ends it at s.End.
func end(span trace.Span, s *Span, buf *attrBuf) {
	attrs := buf[:0]
	for _, kv := range s.Attributes {
		if kv.Value.Type() == attribute.STRING {
			kv.Value = attribute.StringValue(strings.Clone(kv.Value.AsString()))
		}
		attrs = append(attrs, kv)
	}
	span.SetAttributes(attrs...)
	clear(attrs)
	if s.Err != nil {
		span.RecordError(s.Err)
	}
	if s.Failed {
		span.SetStatus(codes.Error, "")
	}
	span.End(trace.WithTimestamp(s.End))
}
