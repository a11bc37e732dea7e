// Package otelsetup is the edge of faultline's tracing: it builds the
// OpenTelemetry SDK's tracer provider, its OTLP exporter and the
// error-biased sampling pipeline from the standard OTEL_* environment
// variables. Only main (and tests) import it; package tracing and the rest
// of the sidecar see the OpenTelemetry API alone.
//
// The pipeline is the tracing Observer's id generator
// (tracing.IDGenerator), a RecordAll sampler, which gives the Observer the
// configured head sampler and records every span it makes (the
// head-sampled and the kept ones, made when the request ends) with its
// head decision, and an EdgeProcessor, which exports the sampled spans
// plus every error, kept (tracing.KeepKey) or slow one, through a bounded
// queue that never blocks a request.
package otelsetup

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/faultline-dev/faultline/sidecar/tracing"
)

// Options are faultline's own settings of the pipeline, beside the
// environment. The zero value means the defaults.
type Options struct {
	// ServiceVersion is the resource's service.version unless
	// OTEL_RESOURCE_ATTRIBUTES sets it; empty omits it.
	ServiceVersion string
	// SlowThreshold exports every span at least this long. Zero means
	// tracing.DefaultSlowThreshold; negative exports none for being slow.
	// Give tracing.Options the same value.
	SlowThreshold time.Duration
	// OnDropped is told of spans lost (see ProcessorOptions.OnDropped).
	OnDropped func(reason string, n int)
	// Logger is told when exports fail and recover. Nil discards.
	Logger *slog.Logger
}

// FromEnv builds the tracer provider from the environment read through
// getenv (os.Getenv in main). It returns a nil provider and a no-op
// shutdown when tracing is off: OTEL_SDK_DISABLED=true,
// OTEL_TRACES_EXPORTER=none, or neither OTEL_EXPORTER_OTLP_ENDPOINT nor
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set. An invalid value is a
// *config.Error naming its variable. Nothing connects to the collector
// here: a collector that is down only makes exports fail later.
//
// shutdown flushes the queued spans and stops the exporter; call it once,
// after the server drained, with a deadline.
func FromEnv(ctx context.Context, getenv func(string) string, opts Options) (tp *sdktrace.TracerProvider, shutdown func(context.Context) error, err error) {
	noShutdown := func(context.Context) error { return nil }
	s, err := parseEnv(getenv)
	if err != nil {
		return nil, noShutdown, err
	}
	if s.off {
		return nil, noShutdown, nil
	}
	exp, err := newExporter(ctx, s)
	if err != nil {
		return nil, noShutdown, fmt.Errorf("otlp trace exporter: %w", err)
	}
	res, err := newResource(ctx, s, opts.ServiceVersion)
	if err != nil {
		return nil, noShutdown, fmt.Errorf("trace resource: %w", err)
	}
	po := s.batch
	po.SlowThreshold, po.OnDropped, po.Logger = opts.SlowThreshold, opts.OnDropped, opts.Logger
	tp = sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(RecordAll(s.sampler)),
		sdktrace.WithIDGenerator(tracing.IDGenerator()),
		sdktrace.WithSpanProcessor(NewEdgeProcessor(exp, po)),
	)
	return tp, tp.Shutdown, nil
}

func newExporter(ctx context.Context, s settings) (sdktrace.SpanExporter, error) {
	if s.protocol == ProtocolHTTPProtobuf {
		o := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(s.endpoint), otlptracehttp.WithTimeout(s.timeout)}
		if len(s.headers) > 0 {
			o = append(o, otlptracehttp.WithHeaders(s.headers))
		}
		if s.compression {
			o = append(o, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		} else {
			o = append(o, otlptracehttp.WithCompression(otlptracehttp.NoCompression))
		}
		return otlptracehttp.New(ctx, o...)
	}
	o := []otlptracegrpc.Option{otlptracegrpc.WithTimeout(s.timeout)}
	if strings.Contains(s.endpoint, "://") {
		o = append(o, otlptracegrpc.WithEndpointURL(s.endpoint))
	} else {
		o = append(o, otlptracegrpc.WithEndpoint(s.endpoint))
		if s.insecure {
			o = append(o, otlptracegrpc.WithInsecure())
		}
	}
	if len(s.headers) > 0 {
		o = append(o, otlptracegrpc.WithHeaders(s.headers))
	}
	if s.compression {
		o = append(o, otlptracegrpc.WithCompressor("gzip"))
	}
	return otlptracegrpc.New(ctx, o...)
}

// newResource is service.name (OTEL_SERVICE_NAME, else the resource
// attributes', else "faultline"), service.version, the other
// OTEL_RESOURCE_ATTRIBUTES and the SDK's identity. It reads nothing from
// the process environment itself (resource.Default would).
func newResource(ctx context.Context, s settings, version string) (*resource.Resource, error) {
	attrs := make([]attribute.KeyValue, 0, len(s.attributes)+2)
	for k, v := range s.attributes {
		attrs = append(attrs, attribute.String(k, v))
	}
	if _, ok := s.attributes[string(semconv.ServiceVersionKey)]; !ok && version != "" {
		attrs = append(attrs, semconv.ServiceVersion(version))
	}
	attrs = append(attrs, semconv.ServiceName(s.serviceName))
	return resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...))
}

// Propagator returns the propagator OTEL_PROPAGATORS names: a list of
// tracecontext and baggage (the default is both), or none. Other
// propagators (b3, jaeger, xray) are not built in and are an error naming
// the variable.
func Propagator(getenv func(string) string) (propagation.TextMapPropagator, error) {
	v, name := lookup(getenv, EnvPropagators)
	if v == "" {
		return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}), nil
	}
	var ps []propagation.TextMapPropagator
	seen := map[string]bool{}
	for p := range strings.SplitSeq(v, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		switch p {
		case "tracecontext":
			ps = append(ps, propagation.TraceContext{})
		case "baggage":
			ps = append(ps, propagation.Baggage{})
		case "none":
		default:
			return nil, errEnv(name, fmt.Sprintf("%q is not supported (tracecontext, baggage or none)", p))
		}
	}
	return propagation.NewCompositeTextMapPropagator(ps...), nil
}
