package tracing

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Span is one finished span as the Observer made it: everything an
// exporter needs, without the SDK's span machinery, which costs a sampled
// request tens of allocations and microseconds it would pay on the
// request path (see Exporter).
type Span struct {
	Name    string
	Kind    trace.SpanKind
	TraceID trace.TraceID
	SpanID  trace.SpanID
	// Parent is the parent span's id, zero for a root span; ParentRemote
	// is set when the parent is the client's span (from its traceparent)
	// rather than the sidecar's own server span.
	Parent       trace.SpanID
	ParentRemote bool
	// Flags are the span's trace flags: the head decision in the sampled
	// bit, and the client's random bit.
	Flags      trace.TraceFlags
	TraceState trace.TraceState
	Start, End time.Time
	Attributes []attribute.KeyValue
	// Failed sets the span status to Error.
	Failed bool
	// Err, when set, is recorded as an exception event at End: the
	// transport's error on a client span that got no response.
	Err error
}

// Exporter is where an Observer's spans go, and whose head sampling policy
// it follows. otelsetup.FromEnv builds one that encodes spans straight
// into OTLP batches; Provider adapts any OpenTelemetry TracerProvider.
type Exporter interface {
	HeadSampler
	// Export takes the spans of one exchange the Observer recorded (head
	// sampled or kept): the server span, then the client span of its
	// upstream call, if it made one. It runs on the request path, so it
	// must neither block nor keep spans: their strings and attribute
	// slices are the engine's and the Observer's, valid only during the
	// call. An exporter copies what it keeps.
	Export(spans []Span)
}
