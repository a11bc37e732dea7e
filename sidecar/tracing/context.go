package tracing

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// This file holds what lets the Observer decide and propagate a trace
// without touching the SDK, then make the SDK's spans agree with what it
// propagated when (and only when) they are exported: the W3C traceparent
// read and written in place, the ids chosen up front and handed to the
// SDK through IDGenerator, and the head sampling decision taken through
// the provider's sampler (HeadSampler) without building a context per
// request.

// traceparentLen is the length of a version 00 traceparent:
// "00-" + 32 hex + "-" + 16 hex + "-" + 2 hex.
const traceparentLen = 55

// parseTraceparent reads a traceparent value exactly as
// propagation.TraceContext does (versions up to fe, lower-case hex, no
// extra fields nor reserved flags in version 00, non-zero ids), without
// allocating. flags keeps only the sampled and random bits, as the
// propagator does.
func parseTraceparent(h string) (trace.TraceID, trace.SpanID, trace.TraceFlags, bool) {
	var (
		ver, opts [1]byte
		tid       trace.TraceID
		sid       trace.SpanID
	)
	if !cutHex(ver[:], &h) || ver[0] == 0xff ||
		!cutHex(tid[:], &h) || !cutHex(sid[:], &h) || !cutHex(opts[:], &h) ||
		(ver[0] == 0 && (h != "" || opts[0] > 3)) ||
		!tid.IsValid() || !sid.IsValid() {
		return trace.TraceID{}, trace.SpanID{}, 0, false
	}
	return tid, sid, trace.TraceFlags(opts[0]) & (trace.FlagsSampled | trace.FlagsRandom), true
}

// cutHex decodes the field of *h up to the next "-" into dst, which it
// must fill exactly, and leaves the rest in *h.
func cutHex(dst []byte, h *string) bool {
	part, rest, _ := strings.Cut(*h, "-")
	*h = rest
	if len(part) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := unhex(part[2*i])
		lo, ok2 := unhex(part[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// unhex decodes a lower-case hex digit: W3C forbids upper case.
func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

const hexDigits = "0123456789abcdef"

// formatTraceparent writes the version 00 traceparent of a span into b.
func formatTraceparent(b *[traceparentLen]byte, tid trace.TraceID, sid trace.SpanID, flags trace.TraceFlags) string {
	copy(b[:3], "00-")
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	b[53], b[54] = hexDigits[flags>>4], hexDigits[flags&0xf]
	return unsafe.String(&b[0], len(b))
}

// newTraceID and newSpanID draw non-zero ids as the SDK's default
// generator does (math/rand/v2, whose top-level functions are safe for
// concurrent use and do not allocate).
func newTraceID() trace.TraceID {
	var tid trace.TraceID
	for !tid.IsValid() {
		binary.NativeEndian.PutUint64(tid[:8], rand.Uint64())
		binary.NativeEndian.PutUint64(tid[8:], rand.Uint64())
	}
	return tid
}

func newSpanID() trace.SpanID {
	var sid trace.SpanID
	for !sid.IsValid() {
		binary.NativeEndian.PutUint64(sid[:], rand.Uint64())
	}
	return sid
}

// preset is the context a recorded span pair starts from: it carries the
// ids the Observer already propagated and its head decision, which
// IDGenerator and the sampler (see HeadDecision) return instead of making
// their own. It is allocated only for spans that are recorded, and never
// reused: the SDK may keep the context of a span.
type preset struct {
	context.Context
	traceID            trace.TraceID
	serverID, clientID trace.SpanID
	sampled            bool
}

type presetKey struct{}

func (p *preset) Value(key any) any {
	if key == (presetKey{}) {
		return p
	}
	return p.Context.Value(key)
}

func presetFrom(ctx context.Context) *preset {
	if ctx == nil {
		return nil
	}
	p, _ := ctx.Value(presetKey{}).(*preset)
	return p
}

// IDGen is an SDK id generator (it has the methods of sdktrace.IDGenerator)
// that gives a span started by the Observer the id the Observer already
// sent to the app, and random ids (as the SDK's default generator does) to
// any other span. See IDGenerator.
type IDGen struct{}

// IDGenerator returns the id generator every tracer provider given to New
// must be built with (sdktrace.WithIDGenerator(tracing.IDGenerator());
// otelsetup.FromEnv does it). The Observer propagates a trace before it
// knows whether its spans will be recorded and only makes them at the end,
// so the SDK must take the ids from it: otherwise the app's spans would
// hang under a span id that was never exported.
func IDGenerator() IDGen { return IDGen{} }

// NewIDs returns the preset trace and server span ids of an Observer's
// root span, or random ones.
func (IDGen) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if p := presetFrom(ctx); p != nil {
		return p.traceID, p.serverID
	}
	return newTraceID(), newSpanID()
}

// NewSpanID returns the preset id of an Observer's span: the client span
// id for the child of its server span, else the server span id (whose
// parent is the client's remote span); random ids for other spans.
func (IDGen) NewSpanID(ctx context.Context, traceID trace.TraceID) trace.SpanID {
	if p := presetFrom(ctx); p != nil && p.traceID == traceID {
		if trace.SpanContextFromContext(ctx).SpanID() == p.serverID {
			return p.clientID
		}
		return p.serverID
	}
	return newSpanID()
}

// HeadDecision reports whether ctx is the parent context of a span the
// Observer records, and if so its head sampling decision. The provider's
// sampler must return it (sampled, or recorded but not sampled): the app
// was told that decision in the traceparent, and a span recorded only
// because it is kept must still be recorded. otelsetup.RecordAll's
// sampler does.
func HeadDecision(ctx context.Context) (sampled, ok bool) {
	if p := presetFrom(ctx); p != nil {
		return p.sampled, true
	}
	return false, false
}

// HeadSampler takes the head sampling decision of a request as the
// provider's sampler would for its server span. The Observer asks it for
// every request, so it must not allocate.
type HeadSampler interface {
	// SampleHead reports whether a server span of traceID is sampled.
	// parent holds the client's span context (without its tracestate) as
	// a remote parent, or no span for a new trace; it is only valid during
	// the call. The span has no name nor attributes yet.
	SampleHead(parent context.Context, traceID trace.TraceID) bool
}

// OfferHeadSampler hands h to the Observer being built when ctx is its
// probe, and reports whether it was; the sampler should then drop the
// span. A sampler calls it from ShouldSample with the ParentContext:
// that is how New finds the sampling policy inside the provider it is
// given, without a second setting to keep in step (otelsetup.RecordAll's
// sampler does).
func OfferHeadSampler(ctx context.Context, h HeadSampler) bool {
	if ctx == nil {
		return false
	}
	p, ok := ctx.Value(probeKey{}).(*probe)
	if ok {
		p.head = h
	}
	return ok
}

// probe is the context of the span New starts to find the HeadSampler.
type probe struct {
	context.Context
	head HeadSampler
}

type probeKey struct{}

func (p *probe) Value(key any) any {
	if key == (probeKey{}) {
		return p
	}
	return p.Context.Value(key)
}

// findHeadSampler starts a probe span so that the provider's sampler can
// offer itself. The probe has an unsampled remote parent, so that a
// parent-based sampler that knows nothing of it drops it; one that still
// records it (always_on) leaves it unended, so it is never exported.
func findHeadSampler(tr trace.Tracer) HeadSampler {
	p := &probe{Context: trace.ContextWithRemoteSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}}))}
	_, span := tr.Start(p, "faultline.probe")
	if !span.IsRecording() {
		span.End()
	}
	return p.head
}

// parentBasedAlwaysOn is the head decision when the provider's sampler
// offered none: the SDK's default sampler, ParentBased(AlwaysSample()).
type parentBasedAlwaysOn struct{}

func (parentBasedAlwaysOn) SampleHead(parent context.Context, _ trace.TraceID) bool {
	sc := trace.SpanContextFromContext(parent)
	return !sc.IsValid() || sc.IsSampled()
}

// parentContext holds a remote span context for the head decision without
// the two allocations of trace.ContextWithRemoteSpanContext: it lives in
// the pooled per-exchange state and answers the trace package's own
// context key (spanKey) with a span of that context.
type parentContext struct{ span parentSpan }

// parentSpan is a span that only has a span context.
type parentSpan struct {
	noop.Span
	sc trace.SpanContext
}

func (s *parentSpan) SpanContext() trace.SpanContext { return s.sc }

func (*parentContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (*parentContext) Done() <-chan struct{}       { return nil }
func (*parentContext) Err() error                  { return nil }

func (c *parentContext) Value(key any) any {
	if key == spanKey {
		return &c.span
	}
	return nil
}

// spanKey is the key under which package trace looks up the current span,
// learnt by watching trace.SpanFromContext ask for it.
var spanKey = func() any {
	k := &keyCatcher{Context: context.Background()}
	trace.SpanFromContext(k)
	return k.key
}()

type keyCatcher struct {
	context.Context
	key any
}

func (k *keyCatcher) Value(key any) any {
	if k.key == nil {
		k.key = key
	}
	return nil
}

// parentInPlace reports whether parentContext works with this version of
// package trace; if not, the head decision under a parent falls back to
// trace.ContextWithRemoteSpanContext, correct but allocating.
var parentInPlace = func() bool {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true})
	c := &parentContext{span: parentSpan{sc: sc}}
	return spanKey != nil && trace.SpanContextFromContext(c).Equal(sc)
}()
