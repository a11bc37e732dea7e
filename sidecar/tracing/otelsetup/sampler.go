package otelsetup

import (
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// RecordAll wraps a head sampler so that every span is recorded: the spans
// s samples stay sampled (their traceparent says so, and the app samples
// them too), the ones it would drop are recorded but not sampled, so that
// the EdgeProcessor can still export them once they turn out to be errors
// or slow.
func RecordAll(s sdktrace.Sampler) sdktrace.Sampler { return recordAll{s} }

type recordAll struct{ s sdktrace.Sampler }

func (r recordAll) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	res := r.s.ShouldSample(p)
	if res.Decision == sdktrace.Drop {
		res.Decision = sdktrace.RecordOnly
	}
	return res
}

func (r recordAll) Description() string { return "RecordAll{" + r.s.Description() + "}" }
