// Package otelsetup is the edge of faultline's tracing: it builds the
// tracing Observer's exporter from the standard OTEL_* environment
// variables. Only main (and tests) import it; package tracing and the rest
// of the sidecar see the OpenTelemetry API alone.
//
// FromEnv's Exporter takes the head decisions with the configured
// sampler, encodes the spans the Observer makes (the head-sampled and the
// kept ones, made when the request ends) straight into OTLP batches
// (package otlpwire), and posts them from one goroutine (package
// otlpsend), through a bounded queue that never blocks a request.
//
// The same pipeline on the OpenTelemetry SDK, for a program that brings
// its own TracerProvider (tracing.Provider), is the tracing Observer's id
// generator (tracing.IDGenerator), a RecordAll sampler, which gives the
// Observer the configured head sampler and records every span it makes
// with its head decision, and an EdgeProcessor, which exports the sampled
// spans plus every error, kept (tracing.KeepKey) or slow one. It is the
// reference the tests hold the Exporter to, and several times slower.
package otelsetup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/faultline-dev/faultline/sidecar/buildinfo"
	"github.com/faultline-dev/faultline/sidecar/tracing/otlpsend"
	"github.com/faultline-dev/faultline/sidecar/tracing/otlpwire"
)

// Options are faultline's own settings of the pipeline, beside the
// environment. The zero value means the defaults.
type Options struct {
	// ServiceVersion is the resource's service.version unless
	// OTEL_RESOURCE_ATTRIBUTES sets it; empty omits it.
	ServiceVersion string
	// OnDropped is told of spans lost (see ProcessorOptions.OnDropped).
	OnDropped func(reason string, n int)
	// Logger is told when exports fail and recover. Nil discards.
	Logger *slog.Logger
}

// FromEnv builds the tracing Observer's exporter from the environment read
// through getenv (os.Getenv in main). It returns a nil exporter and a
// no-op shutdown when tracing is off: OTEL_SDK_DISABLED=true,
// OTEL_TRACES_EXPORTER=none, or neither OTEL_EXPORTER_OTLP_ENDPOINT nor
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set. An invalid value, or a
// certificate or key file that cannot be used, is a *config.Error naming
// its variable. Nothing connects to the collector here: a
// collector that is down only makes exports fail later.
//
// shutdown flushes the queued spans and closes the connection to the
// collector; call it once, after the server drained, with a deadline.
func FromEnv(ctx context.Context, getenv func(string) string, opts Options) (exp *Exporter, shutdown func(context.Context) error, err error) {
	noShutdown := func(context.Context) error { return nil }
	s, err := parseEnv(getenv)
	if err != nil {
		return nil, noShutdown, err
	}
	if s.off {
		return nil, noShutdown, nil
	}
	res, err := newResource(ctx, s, opts.ServiceVersion)
	if err != nil {
		return nil, noShutdown, fmt.Errorf("trace resource: %w", err)
	}
	sender, err := otlpsend.New(otlpsend.Config{
		Protocol: s.protocol, Endpoint: s.endpoint, Insecure: s.insecure,
		Headers: s.headers, Timeout: s.timeout, Gzip: s.compression,
		Certificate: s.certificate, ClientCertificate: s.clientCert, ClientKey: s.clientKey,
		UserAgent: "faultline/" + buildinfo.Get().Version,
	})
	var fe *otlpsend.FileError
	if errors.As(err, &fe) {
		return nil, noShutdown, errEnv(s.fileVars[fe.Field], fe.Err.Error())
	}
	if err != nil {
		return nil, noShutdown, fmt.Errorf("otlp trace exporter: %w", err)
	}
	po := s.batch
	po.OnDropped, po.Logger = opts.OnDropped, opts.Logger
	exp = NewExporter(s.sampler, otlpwire.NewEnvelope(res, buildinfo.Get().Version), sender, po)
	return exp, exp.Shutdown, nil
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
