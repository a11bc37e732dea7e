package otelsetup

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/sidecar/config"
)

// The environment variables FromEnv reads (the OpenTelemetry SDK's
// standard ones).
const (
	EnvSDKDisabled        = "OTEL_SDK_DISABLED"
	EnvTracesExporter     = "OTEL_TRACES_EXPORTER"
	EnvEndpoint           = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint     = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol           = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol     = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvHeaders            = "OTEL_EXPORTER_OTLP_HEADERS"
	EnvTracesHeaders      = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	EnvTimeout            = "OTEL_EXPORTER_OTLP_TIMEOUT"
	EnvTracesTimeout      = "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
	EnvCompression        = "OTEL_EXPORTER_OTLP_COMPRESSION"
	EnvTracesCompression  = "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"
	EnvInsecure           = "OTEL_EXPORTER_OTLP_INSECURE"
	EnvTracesInsecure     = "OTEL_EXPORTER_OTLP_TRACES_INSECURE"
	EnvCertificate        = "OTEL_EXPORTER_OTLP_CERTIFICATE"
	EnvTracesCertificate  = "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"
	EnvClientCert         = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"
	EnvTracesClientCert   = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE"
	EnvClientKey          = "OTEL_EXPORTER_OTLP_CLIENT_KEY"
	EnvTracesClientKey    = "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY"
	EnvServiceName        = "OTEL_SERVICE_NAME"
	EnvResourceAttributes = "OTEL_RESOURCE_ATTRIBUTES"
	EnvSampler            = "OTEL_TRACES_SAMPLER"
	EnvSamplerArg         = "OTEL_TRACES_SAMPLER_ARG"
	EnvBSPScheduleDelay   = "OTEL_BSP_SCHEDULE_DELAY"
	EnvBSPExportTimeout   = "OTEL_BSP_EXPORT_TIMEOUT"
	EnvBSPMaxQueueSize    = "OTEL_BSP_MAX_QUEUE_SIZE"
	EnvBSPMaxExportBatch  = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"
	EnvPropagators        = "OTEL_PROPAGATORS"
)

// Protocols of OTEL_EXPORTER_OTLP_PROTOCOL.
const (
	ProtocolGRPC         = "grpc"
	ProtocolHTTPProtobuf = "http/protobuf"
)

// DefaultServiceName is service.name when neither OTEL_SERVICE_NAME nor
// OTEL_RESOURCE_ATTRIBUTES names the service.
const DefaultServiceName = "faultline"

// settings is the validated trace configuration read from the environment.
type settings struct {
	off bool

	protocol string
	// endpoint is the exporter's URL: for gRPC scheme and host (or a bare
	// host:port, then insecure applies), for HTTP the full URL of the
	// traces path.
	endpoint    string
	insecure    bool
	headers     map[string]string
	timeout     time.Duration
	compression bool
	// certificate, clientCert and clientKey are PEM file paths, read
	// (and checked) when the sender is built; fileVars names the variable
	// each came from, by otlpsend.Config field, for its errors.
	certificate, clientCert, clientKey string
	fileVars                           map[string]string

	serviceName string
	attributes  map[string]string

	sampler Sampler

	batch ProcessorOptions
}

// errEnv is the one-line error naming the variable at fault.
func errEnv(name, msg string) error { return &config.Error{Setting: name, Msg: msg} }

// lookup returns the first non-empty of the variables, and its name.
func lookup(getenv func(string) string, names ...string) (string, string) {
	for _, n := range names {
		if v := strings.TrimSpace(getenv(n)); v != "" {
			return v, n
		}
	}
	return "", names[0]
}

// parseEnv reads and validates the environment. Tracing is off when the SDK
// is disabled, the traces exporter is "none", or no endpoint is set.
func parseEnv(getenv func(string) string) (settings, error) {
	var s settings
	if v, name := lookup(getenv, EnvSDKDisabled); v != "" {
		off, err := parseBool(v)
		if err != nil {
			return s, errEnv(name, strconv.Quote(v)+" is not true or false")
		}
		if off {
			return settings{off: true}, nil
		}
	}
	if v, name := lookup(getenv, EnvTracesExporter); v != "" {
		switch strings.ToLower(v) {
		case "none":
			return settings{off: true}, nil
		case "otlp":
		default:
			return s, errEnv(name, strconv.Quote(v)+" is not supported (otlp or none)")
		}
	}
	endpoint, endpointVar := lookup(getenv, EnvTracesEndpoint, EnvEndpoint)
	if endpoint == "" {
		return settings{off: true}, nil
	}

	s.protocol = ProtocolGRPC
	if v, name := lookup(getenv, EnvTracesProtocol, EnvProtocol); v != "" {
		switch v {
		case ProtocolGRPC, ProtocolHTTPProtobuf:
			s.protocol = v
		default:
			return s, errEnv(name, strconv.Quote(v)+" is not supported (grpc or http/protobuf)")
		}
	}
	if err := s.setEndpoint(endpoint, endpointVar, getenv); err != nil {
		return s, err
	}

	if v, name := lookup(getenv, EnvTracesHeaders, EnvHeaders); v != "" {
		h, err := parseKeyValues(v)
		if err != nil {
			return s, errEnv(name, err.Error())
		}
		s.headers = h
	}
	s.timeout = 10 * time.Second
	if v, name := lookup(getenv, EnvTracesTimeout, EnvTimeout); v != "" {
		d, err := parseMillis(v)
		if err != nil || d <= 0 {
			return s, errEnv(name, strconv.Quote(v)+" is not a positive number of milliseconds")
		}
		s.timeout = d
	}
	if v, name := lookup(getenv, EnvTracesCompression, EnvCompression); v != "" {
		switch v {
		case "gzip":
			s.compression = true
		case "none":
		default:
			return s, errEnv(name, strconv.Quote(v)+" is not gzip or none")
		}
	}

	s.fileVars = map[string]string{}
	s.certificate, s.fileVars["Certificate"] = lookup(getenv, EnvTracesCertificate, EnvCertificate)
	s.clientCert, s.fileVars["ClientCertificate"] = lookup(getenv, EnvTracesClientCert, EnvClientCert)
	s.clientKey, s.fileVars["ClientKey"] = lookup(getenv, EnvTracesClientKey, EnvClientKey)

	s.serviceName = DefaultServiceName
	if v, name := lookup(getenv, EnvResourceAttributes); v != "" {
		a, err := parseKeyValues(v)
		if err != nil {
			return s, errEnv(name, err.Error())
		}
		s.attributes = a
		if n := a["service.name"]; n != "" {
			s.serviceName = n
		}
	}
	if v, _ := lookup(getenv, EnvServiceName); v != "" {
		s.serviceName = v
	}

	sampler, err := parseSampler(getenv)
	if err != nil {
		return s, err
	}
	s.sampler = sampler

	if err := s.parseBatch(getenv); err != nil {
		return s, err
	}
	return s, nil
}

// setEndpoint validates the endpoint. OTEL_EXPORTER_OTLP_ENDPOINT is a base
// URL to which HTTP appends /v1/traces; the traces-specific variable is used
// as it is. gRPC also accepts a bare host:port, secured unless insecure.
func (s *settings) setEndpoint(v, name string, getenv func(string) string) error {
	if s.protocol == ProtocolGRPC && !strings.Contains(v, "://") {
		if _, port, ok := strings.Cut(v, ":"); !ok || port == "" || strings.ContainsAny(v, "/?#") {
			return errEnv(name, strconv.Quote(v)+" is not a URL nor host:port")
		}
		s.endpoint = v
		if iv, iname := lookup(getenv, EnvTracesInsecure, EnvInsecure); iv != "" {
			b, err := parseBool(iv)
			if err != nil {
				return errEnv(iname, strconv.Quote(iv)+" is not true or false")
			}
			s.insecure = b
		}
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errEnv(name, strconv.Quote(v)+" is not an http:// or https:// URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return errEnv(name, strconv.Quote(v)+" has a query or fragment")
	}
	if s.protocol == ProtocolHTTPProtobuf && name == EnvEndpoint {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		u.RawPath = ""
	}
	s.endpoint = u.String()
	s.insecure = u.Scheme == "http"
	return nil
}

// parseSampler reads OTEL_TRACES_SAMPLER and its argument; the default is
// parentbased_traceidratio with ratio 1 (the SDK's parentbased_always_on).
func parseSampler(getenv func(string) string) (Sampler, error) {
	name, nameVar := lookup(getenv, EnvSampler)
	arg, argVar := lookup(getenv, EnvSamplerArg)
	ratio := 1.0
	if arg != "" {
		f, err := strconv.ParseFloat(arg, 64)
		if err != nil || f < 0 || f > 1 {
			return Sampler{}, errEnv(argVar, strconv.Quote(arg)+" is not a ratio between 0 and 1")
		}
		ratio = f
	}
	switch strings.ToLower(name) {
	case "always_on":
		return NewSampler(false, 1), nil
	case "always_off":
		return NewSampler(false, 0), nil
	case "traceidratio":
		return NewSampler(false, ratio), nil
	case "parentbased_always_on":
		return NewSampler(true, 1), nil
	case "parentbased_always_off":
		return NewSampler(true, 0), nil
	case "parentbased_traceidratio", "":
		return NewSampler(true, ratio), nil
	}
	return Sampler{}, errEnv(nameVar, strconv.Quote(name)+" is not supported (always_on, always_off, traceidratio, "+
		"parentbased_always_on, parentbased_always_off, parentbased_traceidratio)")
}

// parseBatch reads the OTEL_BSP_* queue settings.
func (s *settings) parseBatch(getenv func(string) string) error {
	b := &s.batch
	for _, f := range []struct {
		name string
		dst  *time.Duration
	}{{EnvBSPScheduleDelay, &b.ScheduleDelay}, {EnvBSPExportTimeout, &b.ExportTimeout}} {
		if v, _ := lookup(getenv, f.name); v != "" {
			d, err := parseMillis(v)
			if err != nil || d <= 0 {
				return errEnv(f.name, strconv.Quote(v)+" is not a positive number of milliseconds")
			}
			*f.dst = d
		}
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{EnvBSPMaxQueueSize, &b.MaxQueueSize}, {EnvBSPMaxExportBatch, &b.MaxExportBatchSize}} {
		if v, _ := lookup(getenv, f.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return errEnv(f.name, strconv.Quote(v)+" is not a positive integer")
			}
			*f.dst = n
		}
	}
	q, bs := b.MaxQueueSize, b.MaxExportBatchSize
	if q == 0 {
		q = DefaultMaxQueueSize
	}
	if bs > q {
		return errEnv(EnvBSPMaxExportBatch, strconv.Itoa(bs)+" is larger than the queue ("+strconv.Itoa(q)+")")
	}
	return nil
}

// parseKeyValues parses the W3C-baggage-like list of OTEL_*_HEADERS and
// OTEL_RESOURCE_ATTRIBUTES: "k1=v1,k2=v2", values percent-encoded.
func parseKeyValues(v string) (map[string]string, error) {
	m := make(map[string]string)
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, val, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, errors.New(strconv.Quote(item) + " is not key=value")
		}
		dec, err := url.PathUnescape(strings.TrimSpace(val))
		if err != nil {
			return nil, errors.New("the value of " + strconv.Quote(k) + " is not percent-encoded")
		}
		m[k] = dec
	}
	return m, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, strconv.ErrSyntax
}

func parseMillis(v string) (time.Duration, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, err
	}
	return time.Duration(n) * time.Millisecond, nil
}
