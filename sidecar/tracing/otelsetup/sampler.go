package otelsetup

import (
	"context"
	"encoding/binary"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline-dev/faultline/sidecar/tracing"
)

// RecordAll wraps a head sampler for error-biased sampling with the
// tracing Observer, which takes the head decision when a request begins
// and makes its spans only when it ends, for the sampled and the kept
// ones. The returned sampler:
//
//   - offers s to the Observer as its head policy (tracing.HeadSampler,
//     found by tracing.New through tracing.OfferHeadSampler), so that the
//     provider holds the one sampling setting;
//   - records every span the Observer makes, sampled or not as its head
//     decision was (tracing.HeadDecision): the app was told that decision,
//     and a span made only because it is kept must still be recorded for
//     the EdgeProcessor to export it;
//   - records any other span, sampled as s decides: the ones s would drop
//     are recorded but not sampled, and left to the EdgeProcessor.
func RecordAll(s sdktrace.Sampler) sdktrace.Sampler { return recordAll{s} }

type recordAll struct{ s sdktrace.Sampler }

func (r recordAll) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	if tracing.OfferHeadSampler(p.ParentContext, r) {
		return sdktrace.SamplingResult{Decision: sdktrace.Drop}
	}
	if sampled, ok := tracing.HeadDecision(p.ParentContext); ok {
		res := sdktrace.SamplingResult{
			Decision:   sdktrace.RecordOnly,
			Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState(),
		}
		if sampled {
			res.Decision = sdktrace.RecordAndSample
		}
		return res
	}
	res := r.s.ShouldSample(p)
	if res.Decision == sdktrace.Drop {
		res.Decision = sdktrace.RecordOnly
	}
	return res
}

// SampleHead is s's decision for a server span of traceID under parent;
// the samplers FromEnv builds read neither the name nor the attributes,
// which a head decision does not have yet. It does not allocate.
func (r recordAll) SampleHead(parent context.Context, traceID trace.TraceID) bool {
	return r.s.ShouldSample(sdktrace.SamplingParameters{
		ParentContext: parent, TraceID: traceID, Kind: trace.SpanKindServer,
	}).Decision == sdktrace.RecordAndSample
}

func (r recordAll) Description() string { return "RecordAll{" + r.s.Description() + "}" }

// Sampler is a sampling policy of OTEL_TRACES_SAMPLER: a trace id ratio,
// or always on or off, alone or parent-based. It is the SDK's sampler (for
// spans made through the SDK, see RecordAll), and it takes the tracing
// Observer's head decisions (tracing.HeadSampler) itself, with the SDK's
// arithmetic but without its interface calls and parameter structs: the
// decision is made for every request.
type Sampler struct {
	sdktrace.Sampler
	parentBased bool
	// bound: a trace is sampled when the last 8 bytes of its id, as a
	// big-endian number shifted right once, are below it (the SDK's
	// TraceIDRatioBased); all samples every trace.
	bound uint64
	all   bool
}

// NewSampler returns the sampler that samples ratio of the traces (0 none,
// 1 all), and, when parentBased, follows a remote parent's decision.
func NewSampler(parentBased bool, ratio float64) Sampler {
	s := Sampler{parentBased: parentBased}
	switch {
	case ratio >= 1:
		s.Sampler, s.all = sdktrace.AlwaysSample(), true
	case ratio <= 0:
		s.Sampler = sdktrace.NeverSample()
	default:
		s.Sampler, s.bound = sdktrace.TraceIDRatioBased(ratio), uint64(ratio*(1<<63))
	}
	if parentBased {
		s.Sampler = sdktrace.ParentBased(s.Sampler)
	}
	return s
}

// SampleHead is the decision ShouldSample would take for a server span
// of traceID under parent.
func (s Sampler) SampleHead(parent context.Context, traceID trace.TraceID) bool {
	if s.parentBased {
		if sc := trace.SpanContextFromContext(parent); sc.IsValid() {
			return sc.IsSampled()
		}
	}
	return s.all || binary.BigEndian.Uint64(traceID[8:16])>>1 < s.bound
}
