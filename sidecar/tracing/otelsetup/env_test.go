package otelsetup

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sidecar/config"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestParseEnvOff(t *testing.T) {
	for name, kv := range map[string]map[string]string{
		"nothing set":      {},
		"no endpoint":      {EnvServiceName: "x", EnvProtocol: "grpc"},
		"sdk disabled":     {EnvSDKDisabled: "TRUE", EnvEndpoint: "http://c:4317"},
		"exporter none":    {EnvTracesExporter: "none", EnvEndpoint: "http://c:4317"},
		"blank endpoint":   {EnvEndpoint: "  "},
		"disabled, broken": {EnvSDKDisabled: "true", EnvEndpoint: "http://c:4317", EnvSampler: "nonsense"},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := parseEnv(env(kv))
			if err != nil || !s.off {
				t.Errorf("off %v, err %v; want off", s.off, err)
			}
			tp, shutdown, err := FromEnv(context.Background(), env(kv), Options{})
			if tp != nil || err != nil || shutdown(context.Background()) != nil {
				t.Errorf("FromEnv = %v, %v; want nil provider", tp, err)
			}
		})
	}
}

func TestParseEnvErrors(t *testing.T) {
	base := func(kv map[string]string) map[string]string {
		if _, ok := kv[EnvEndpoint]; !ok {
			kv[EnvEndpoint] = "http://collector:4317"
		}
		return kv
	}
	for _, tc := range []struct {
		kv      map[string]string
		setting string
	}{
		{map[string]string{EnvSDKDisabled: "yes"}, EnvSDKDisabled},
		{map[string]string{EnvTracesExporter: "zipkin"}, EnvTracesExporter},
		{map[string]string{EnvProtocol: "http/json"}, EnvProtocol},
		{map[string]string{EnvTracesProtocol: "udp", EnvProtocol: "grpc"}, EnvTracesProtocol},
		{map[string]string{EnvEndpoint: "collector:4318", EnvProtocol: "http/protobuf"}, EnvEndpoint},
		{map[string]string{EnvEndpoint: "collector"}, EnvEndpoint},
		{map[string]string{EnvEndpoint: "ftp://collector:4317"}, EnvEndpoint},
		{map[string]string{EnvTracesEndpoint: "http://"}, EnvTracesEndpoint},
		{map[string]string{EnvEndpoint: "http://c:4318/?x=1"}, EnvEndpoint},
		{map[string]string{EnvEndpoint: "c:4317", EnvInsecure: "maybe"}, EnvInsecure},
		{map[string]string{EnvHeaders: "authorization"}, EnvHeaders},
		{map[string]string{EnvTracesHeaders: "a=%zz"}, EnvTracesHeaders},
		{map[string]string{EnvTimeout: "10s"}, EnvTimeout},
		{map[string]string{EnvTracesTimeout: "0"}, EnvTracesTimeout},
		{map[string]string{EnvCompression: "br"}, EnvCompression},
		{map[string]string{EnvResourceAttributes: "=x"}, EnvResourceAttributes},
		{map[string]string{EnvSampler: "jaeger_remote"}, EnvSampler},
		{map[string]string{EnvSampler: "traceidratio", EnvSamplerArg: "1.5"}, EnvSamplerArg},
		{map[string]string{EnvSamplerArg: "ten percent"}, EnvSamplerArg},
		{map[string]string{EnvSamplerArg: "-0.1"}, EnvSamplerArg},
		{map[string]string{EnvBSPMaxQueueSize: "0"}, EnvBSPMaxQueueSize},
		{map[string]string{EnvBSPMaxExportBatch: "lots"}, EnvBSPMaxExportBatch},
		{map[string]string{EnvBSPMaxQueueSize: "10", EnvBSPMaxExportBatch: "20"}, EnvBSPMaxExportBatch},
		{map[string]string{EnvBSPMaxExportBatch: "4096"}, EnvBSPMaxExportBatch},
		{map[string]string{EnvBSPScheduleDelay: "-5"}, EnvBSPScheduleDelay},
		{map[string]string{EnvBSPExportTimeout: "1.5"}, EnvBSPExportTimeout},
	} {
		t.Run(tc.setting, func(t *testing.T) {
			_, err := parseEnv(env(base(tc.kv)))
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Setting != tc.setting {
				t.Fatalf("err %v, want a *config.Error naming %s", err, tc.setting)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, tc.setting+": ") {
				t.Errorf("message %q is not one line naming the variable", msg)
			}
			if _, _, ferr := FromEnv(context.Background(), env(tc.kv), Options{}); ferr == nil || ferr.Error() != err.Error() {
				t.Errorf("FromEnv err %v, want %v", ferr, err)
			}
		})
	}
}

func TestParseEnvEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name         string
		kv           map[string]string
		wantProtocol string
		wantEndpoint string
		wantInsecure bool
	}{
		{"grpc default", map[string]string{EnvEndpoint: "http://collector:4317"}, "grpc", "http://collector:4317", true},
		{"grpc https", map[string]string{EnvEndpoint: "https://collector:4317"}, "grpc", "https://collector:4317", false},
		{"grpc host:port", map[string]string{EnvEndpoint: "collector:4317"}, "grpc", "collector:4317", false},
		{"grpc host:port insecure", map[string]string{EnvEndpoint: "collector:4317", EnvTracesInsecure: "true"}, "grpc", "collector:4317", true},
		{"http base", map[string]string{EnvEndpoint: "http://collector:4318", EnvProtocol: "http/protobuf"},
			"http/protobuf", "http://collector:4318/v1/traces", true},
		{"http base with path", map[string]string{EnvEndpoint: "https://gw.example/otlp/", EnvProtocol: "http/protobuf"},
			"http/protobuf", "https://gw.example/otlp/v1/traces", false},
		{"http traces endpoint as is", map[string]string{
			EnvEndpoint: "http://ignored:4318", EnvTracesEndpoint: "http://collector:4318/custom", EnvTracesProtocol: "http/protobuf", EnvProtocol: "grpc"},
			"http/protobuf", "http://collector:4318/custom", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseEnv(env(tc.kv))
			if err != nil {
				t.Fatal(err)
			}
			if s.protocol != tc.wantProtocol || s.endpoint != tc.wantEndpoint || s.insecure != tc.wantInsecure {
				t.Errorf("protocol %q endpoint %q insecure %v; want %q %q %v",
					s.protocol, s.endpoint, s.insecure, tc.wantProtocol, tc.wantEndpoint, tc.wantInsecure)
			}
		})
	}
}

func TestParseEnvSettings(t *testing.T) {
	s, err := parseEnv(env(map[string]string{
		EnvEndpoint:           "http://collector:4317",
		EnvHeaders:            "api-key=secret%20value, x-tenant = acme",
		EnvTracesHeaders:      "authorization=Bearer%20t",
		EnvTimeout:            "2500",
		EnvCompression:        "gzip",
		EnvResourceAttributes: "service.name=from-attrs,deployment.environment.name=prod",
		EnvSampler:            "parentbased_traceidratio",
		EnvSamplerArg:         "0.25",
		EnvBSPMaxQueueSize:    "100",
		EnvBSPMaxExportBatch:  "10",
		EnvBSPScheduleDelay:   "200",
		EnvBSPExportTimeout:   "1000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.headers) != 1 || s.headers["authorization"] != "Bearer t" {
		t.Errorf("headers %v: the traces-specific variable wins", s.headers)
	}
	if s.timeout != 2500*time.Millisecond || !s.compression {
		t.Errorf("timeout %v compression %v", s.timeout, s.compression)
	}
	if s.serviceName != "from-attrs" || s.attributes["deployment.environment.name"] != "prod" {
		t.Errorf("service %q attributes %v", s.serviceName, s.attributes)
	}
	if got := s.sampler.Description(); got != "ParentBased{root:TraceIDRatioBased{0.25},remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}" {
		t.Errorf("sampler %s", got)
	}
	if b := s.batch; b.MaxQueueSize != 100 || b.MaxExportBatchSize != 10 || b.ScheduleDelay != 200*time.Millisecond || b.ExportTimeout != time.Second {
		t.Errorf("batch %+v", b)
	}

	s, err = parseEnv(env(map[string]string{EnvEndpoint: "http://c:4317", EnvServiceName: "checkout",
		EnvResourceAttributes: "service.name=ignored", EnvHeaders: "a=1"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.serviceName != "checkout" || s.headers["a"] != "1" {
		t.Errorf("service %q headers %v: OTEL_SERVICE_NAME wins", s.serviceName, s.headers)
	}
	s, _ = parseEnv(env(map[string]string{EnvEndpoint: "http://c:4317"}))
	if s.serviceName != DefaultServiceName || s.timeout != 10*time.Second {
		t.Errorf("defaults: service %q timeout %v", s.serviceName, s.timeout)
	}
	if !strings.HasPrefix(s.sampler.Description(), "ParentBased{root:AlwaysOnSampler") {
		t.Errorf("default sampler %s", s.sampler.Description())
	}
}

func TestSamplers(t *testing.T) {
	for name, want := range map[string]string{
		"always_on":              "AlwaysOnSampler",
		"ALWAYS_OFF":             "AlwaysOffSampler",
		"traceidratio":           "TraceIDRatioBased{0.5}",
		"parentbased_always_on":  "ParentBased{root:AlwaysOnSampler",
		"parentbased_always_off": "ParentBased{root:AlwaysOffSampler",
	} {
		s, err := parseSampler(env(map[string]string{EnvSampler: name, EnvSamplerArg: "0.5"}))
		if err != nil || !strings.HasPrefix(s.Description(), want) {
			t.Errorf("%s: %v, %v; want %s", name, s, err, want)
		}
	}
}

func TestPropagator(t *testing.T) {
	for _, tc := range []struct {
		v      string
		fields string
		err    bool
	}{
		{"", "baggage,traceparent,tracestate", false},
		{"tracecontext", "traceparent,tracestate", false},
		{"baggage, tracecontext,baggage", "baggage,traceparent,tracestate", false},
		{"none", "", false},
		{"b3", "", true},
	} {
		p, err := Propagator(env(map[string]string{EnvPropagators: tc.v}))
		if tc.err {
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Setting != EnvPropagators {
				t.Errorf("%q: err %v", tc.v, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		fields := p.Fields()
		slices.Sort(fields)
		if got := strings.Join(fields, ","); got != tc.fields {
			t.Errorf("%q: fields %q, want %q", tc.v, got, tc.fields)
		}
	}
}

// TestFromEnvFileErrors: a certificate or key file that cannot be used
// stops the start with an error naming its variable; on a plaintext
// endpoint the files go unused, as the official exporters leave them.
func TestFromEnvFileErrors(t *testing.T) {
	missing := "/nonexistent/ca.pem"
	for _, tc := range []struct {
		kv      map[string]string
		setting string // "" for no error
	}{
		{map[string]string{EnvEndpoint: "https://collector:4318", EnvCertificate: missing}, EnvCertificate},
		{map[string]string{EnvEndpoint: "https://collector:4318", EnvTracesCertificate: missing, EnvCertificate: "/also/missing"}, EnvTracesCertificate},
		{map[string]string{EnvEndpoint: "collector:4317", EnvClientCert: missing, EnvClientKey: missing}, EnvClientCert},
		{map[string]string{EnvEndpoint: "collector:4317", EnvTracesClientCert: missing}, EnvTracesClientKey}, // the key is missing
		{map[string]string{EnvEndpoint: "http://collector:4318", EnvCertificate: missing}, ""},
	} {
		exp, shutdown, err := FromEnv(context.Background(), env(tc.kv), Options{})
		if tc.setting == "" {
			if err != nil || exp == nil {
				t.Errorf("%v: FromEnv = %v, %v; want an exporter", tc.kv, exp, err)
			}
			shutdown(context.Background())
			continue
		}
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Setting != tc.setting || !strings.Contains(err.Error(), "nonexistent") && tc.setting != EnvTracesClientKey {
			t.Errorf("%v: FromEnv error %v, want a *config.Error naming %s", tc.kv, err, tc.setting)
		}
	}
}
