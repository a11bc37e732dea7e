package otlpsend

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/faultline-dev/faultline/internal/testkit"
)

func addrOf(addr string, _ <-chan struct{}) string { return addr }

func statusWithSuffix(err error, suffix string) error {
	st := status.Convert(err)
	return status.New(st.Code(), st.Message()+suffix).Err()
}

func checkOneLine(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Logf("error: %v", err)
	}
	if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

// TestDelivery sends one span over each protocol and transport security
// and checks that the receiver decoded it, with its headers.
func TestDelivery(t *testing.T) {
	tests := []struct {
		name string
		// start starts a collector serving c and returns the Config to
		// reach it.
		start       func(t *testing.T, c *collector) Config
		wantGzip    bool
		wantHTTP2   bool
		wantHeaders map[string]string // "user-agent" is a prefix
	}{
		{
			name: "grpc http URL",
			start: func(t *testing.T, c *collector) Config {
				return Config{Protocol: "grpc", Endpoint: "http://" + startGRPC(t, c) + "/ignored/path"}
			},
		},
		{
			name: "grpc host:port insecure gzip",
			start: func(t *testing.T, c *collector) Config {
				return Config{Protocol: "grpc", Endpoint: startGRPC(t, c), Insecure: true, Gzip: true}
			},
			wantGzip: true,
		},
		{
			name: "grpc https URL with Certificate",
			start: func(t *testing.T, c *collector) Config {
				tc := newTestCert(t)
				addr := startGRPC(t, c, grpc.Creds(credentials.NewServerTLSFromCert(&tc.pair)))
				return Config{Protocol: "grpc", Endpoint: "https://" + addr, Certificate: tc.certFile}
			},
		},
		{
			name: "grpc host:port mTLS",
			start: func(t *testing.T, c *collector) Config {
				tc := newTestCert(t)
				addr := startGRPC(t, c, grpc.Creds(credentials.NewTLS(tc.mTLSConfig())))
				return Config{Protocol: "grpc", Endpoint: addr, Certificate: tc.certFile,
					ClientCertificate: tc.certFile, ClientKey: tc.keyFile}
			},
		},
		{
			name: "grpc metadata and user agent",
			start: func(t *testing.T, c *collector) Config {
				return Config{Protocol: "grpc", Endpoint: startGRPC(t, c), Insecure: true,
					Headers:   map[string]string{"Authorization": "secret-token", "X-Scope-OrgID": "blue"},
					UserAgent: "faultline/test"}
			},
			wantHeaders: map[string]string{"authorization": "secret-token", "x-scope-orgid": "blue", "user-agent": "faultline/test"},
		},
		{
			name: "http/protobuf",
			start: func(t *testing.T, c *collector) Config {
				srv := httptest.NewServer(c)
				t.Cleanup(srv.Close)
				return Config{Protocol: "http/protobuf", Endpoint: srv.URL + "/v1/traces"}
			},
		},
		{
			name: "http/protobuf gzip",
			start: func(t *testing.T, c *collector) Config {
				srv := httptest.NewServer(c)
				t.Cleanup(srv.Close)
				return Config{Protocol: "http/protobuf", Endpoint: srv.URL + "/v1/traces", Gzip: true}
			},
			wantGzip: true,
		},
		{
			name: "https with Certificate",
			start: func(t *testing.T, c *collector) Config {
				srv := httptest.NewTLSServer(c)
				t.Cleanup(srv.Close)
				ca := writePEM(t, t.TempDir(), "ca.pem", "CERTIFICATE", srv.Certificate().Raw)
				return Config{Protocol: "http/protobuf", Endpoint: srv.URL + "/v1/traces", Certificate: ca}
			},
		},
		{
			name: "https mTLS over HTTP/2 gzip",
			start: func(t *testing.T, c *collector) Config {
				tc := newTestCert(t)
				srv := httptest.NewUnstartedServer(c)
				srv.EnableHTTP2 = true
				srv.TLS = tc.mTLSConfig()
				srv.StartTLS()
				t.Cleanup(srv.Close)
				return Config{Protocol: "http/protobuf", Endpoint: srv.URL + "/v1/traces", Gzip: true,
					Certificate: tc.certFile, ClientCertificate: tc.certFile, ClientKey: tc.keyFile}
			},
			wantGzip: true, wantHTTP2: true,
		},
		{
			name: "http headers and user agent",
			start: func(t *testing.T, c *collector) Config {
				srv := httptest.NewServer(c)
				t.Cleanup(srv.Close)
				return Config{Protocol: "http/protobuf", Endpoint: srv.URL + "/v1/traces",
					Headers:   map[string]string{"Authorization": "secret-token", "X-Scope-OrgID": "blue"},
					UserAgent: "faultline/test"}
			},
			wantHeaders: map[string]string{"authorization": "secret-token", "x-scope-orgid": "blue", "user-agent": "faultline/test"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &collector{}
			cfg := tt.start(t, c)
			cfg.Timeout = 5 * time.Second
			s := newTestSender(t, cfg)
			rejected, msg, err := sendBounded(t, s, context.Background(), testRequest(t))
			if err != nil || rejected != 0 || msg != "" {
				t.Fatalf("Send = %d, %q, %v; want 0, \"\", nil", rejected, msg, err)
			}
			got := c.requests()
			if len(got) != 1 {
				t.Fatalf("collector got %d requests, want 1", len(got))
			}
			r := got[0]
			if r.spanName != testSpanName || r.traceID != testTraceID {
				t.Errorf("collector got span %q in trace %s, want %q in %s", r.spanName, r.traceID, testSpanName, testTraceID)
			}
			if r.gzip != tt.wantGzip {
				t.Errorf("gzip = %v, want %v", r.gzip, tt.wantGzip)
			}
			if r.http2 != tt.wantHTTP2 {
				t.Errorf("HTTP/2 = %v, want %v", r.http2, tt.wantHTTP2)
			}
			if cfg.Protocol == "http/protobuf" && (r.path != "/v1/traces" || r.contentType != "application/x-protobuf") {
				t.Errorf("HTTP path %q, Content-Type %q; want /v1/traces, application/x-protobuf", r.path, r.contentType)
			}
			for k, want := range tt.wantHeaders {
				v, ok := r.header[k]
				if k == "user-agent" && strings.HasPrefix(v, want) || ok && v == want {
					continue
				}
				t.Errorf("header %s = %q, want %q", k, v, want)
			}
		})
	}
}

func protoStatus(t *testing.T, msg string) string {
	b, err := proto.Marshal(&spb.Status{Code: int32(codes.InvalidArgument), Message: msg})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func retryInfo(t *testing.T, code codes.Code, d time.Duration) error {
	st, err := status.New(code, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

// TestResponses checks the outcome and number of attempts for the answers
// a collector may give: retryable failures, permanent ones and partial
// successes.
func TestResponses(t *testing.T) {
	protobuf := map[string]string{"Content-Type": "application/x-protobuf"}
	tests := []struct {
		name         string
		protocol     string
		script       []reply
		timeout      time.Duration // 0: 5s
		wantAttempts int
		wantErr      []string   // substrings of the error; none means success
		wantCode     codes.Code // of a gRPC error, by status.Code
		wantDeadline bool       // the error is a context.DeadlineExceeded
		wantRejected int64
		wantMsg      string
	}{
		{
			name:         "http 503 twice then 200",
			protocol:     "http/protobuf",
			script:       []reply{{status: 503}, {status: 503}, {}},
			wantAttempts: 3,
		},
		{
			name:         "http 502 and 504 then 200",
			protocol:     "http/protobuf",
			script:       []reply{{status: 502}, {status: 504}, {}},
			wantAttempts: 3,
		},
		{
			name:         "http 429 with Retry-After 0",
			protocol:     "http/protobuf",
			script:       []reply{{status: 429, header: map[string]string{"Retry-After": "0"}}, {}},
			wantAttempts: 2,
		},
		{
			name:     "http 503 with Retry-After past the deadline gives up at once",
			protocol: "http/protobuf",
			script:   []reply{{status: 503, header: map[string]string{"Retry-After": "3600"}, body: "maintenance"}},
			timeout:  2 * time.Second, wantAttempts: 1,
			wantErr:      []string{"server asked to retry after 1h0m0s", "HTTP 503 Service Unavailable: maintenance"},
			wantDeadline: true,
		},
		{
			name:         "http 400 is permanent",
			protocol:     "http/protobuf",
			script:       []reply{{status: 400, body: "bad\n  request\tbody"}},
			wantAttempts: 1,
			wantErr:      []string{"HTTP 400 Bad Request: bad request body", "/v1/traces"},
		},
		{
			name:         "http 400 with a google.rpc.Status",
			protocol:     "http/protobuf",
			script:       []reply{{status: 400, header: protobuf, body: protoStatus(t, "span has no name")}},
			wantAttempts: 1,
			wantErr:      []string{"HTTP 400 Bad Request: span has no name"},
		},
		{
			name:         "http 500 is permanent",
			protocol:     "http/protobuf",
			script:       []reply{{status: 500, body: strings.Repeat("x", 10000)}},
			wantAttempts: 1,
			wantErr:      []string{"HTTP 500 Internal Server Error: xxxx", "xxxx…"},
		},
		{
			name:         "http 308 is not followed",
			protocol:     "http/protobuf",
			script:       []reply{{status: 308, header: map[string]string{"Location": "http://elsewhere.example/v1/traces"}}},
			wantAttempts: 1,
			wantErr:      []string{"HTTP 308 Permanent Redirect: redirects are not followed (Location: http://elsewhere.example/v1/traces)"},
		},
		{
			name:         "http partial success",
			protocol:     "http/protobuf",
			script:       []reply{{rejected: 3, message: "3 spans too old"}},
			wantAttempts: 1, wantRejected: 3, wantMsg: "3 spans too old",
		},
		{
			name:         "grpc Unavailable then OK",
			protocol:     "grpc",
			script:       []reply{{grpcErr: status.Error(codes.Unavailable, "starting")}, {}},
			wantAttempts: 2,
		},
		{
			name:         "grpc DeadlineExceeded from the server then OK",
			protocol:     "grpc",
			script:       []reply{{grpcErr: status.Error(codes.DeadlineExceeded, "backend slow")}, {}},
			wantAttempts: 2,
		},
		{
			name:         "grpc ResourceExhausted with RetryInfo then OK",
			protocol:     "grpc",
			script:       []reply{{grpcErr: retryInfo(t, codes.ResourceExhausted, time.Millisecond)}, {}},
			wantAttempts: 2,
		},
		{
			name:         "grpc RetryInfo past the deadline gives up at once",
			protocol:     "grpc",
			script:       []reply{{grpcErr: retryInfo(t, codes.Unavailable, time.Hour)}},
			timeout:      2 * time.Second,
			wantAttempts: 1,
			wantErr:      []string{"server asked to retry after 1h0m0s", "gRPC Unavailable: slow down"},
			wantCode:     codes.Unavailable, wantDeadline: true,
		},
		{
			name:         "grpc ResourceExhausted without RetryInfo is permanent",
			protocol:     "grpc",
			script:       []reply{{grpcErr: status.Error(codes.ResourceExhausted, "quota")}},
			wantAttempts: 1,
			wantErr:      []string{"gRPC ResourceExhausted: quota"},
			wantCode:     codes.ResourceExhausted,
		},
		{
			name:         "grpc InvalidArgument is permanent",
			protocol:     "grpc",
			script:       []reply{{grpcErr: status.Error(codes.InvalidArgument, "bad\nspan")}},
			wantAttempts: 1,
			wantErr:      []string{"gRPC InvalidArgument: bad span"},
			wantCode:     codes.InvalidArgument,
		},
		{
			name:         "grpc partial success",
			protocol:     "grpc",
			script:       []reply{{rejected: 3, message: "3 spans too old"}},
			wantAttempts: 1, wantRejected: 3, wantMsg: "3 spans too old",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &collector{script: tt.script}
			cfg := Config{Protocol: tt.protocol, Timeout: tt.timeout}
			if cfg.Timeout == 0 {
				cfg.Timeout = 5 * time.Second
			}
			if tt.protocol == "grpc" {
				cfg.Endpoint = "http://" + startGRPC(t, c)
			} else {
				srv := httptest.NewServer(c)
				t.Cleanup(srv.Close)
				cfg.Endpoint = srv.URL + "/v1/traces"
			}
			s := newTestSender(t, cfg)
			rejected, msg, err := sendBounded(t, s, context.Background(), testRequest(t))
			if n := len(c.requests()); n != tt.wantAttempts {
				t.Errorf("collector saw %d attempts, want %d", n, tt.wantAttempts)
			}
			checkOneLine(t, err)
			if len(tt.wantErr) == 0 {
				if err != nil || rejected != tt.wantRejected || msg != tt.wantMsg {
					t.Fatalf("Send = %d, %q, %v; want %d, %q, nil", rejected, msg, err, tt.wantRejected, tt.wantMsg)
				}
				return
			}
			if err == nil {
				t.Fatalf("Send succeeded, want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if !strings.Contains(err.Error(), s.endpoint) {
				t.Errorf("error %q does not name the endpoint %s", err, s.endpoint)
			}
			if tt.wantCode != codes.OK && status.Code(err) != tt.wantCode {
				t.Errorf("status.Code(err) = %v, want %v", status.Code(err), tt.wantCode)
			}
			if got := errors.Is(err, context.DeadlineExceeded); got != tt.wantDeadline {
				t.Errorf("errors.Is(err, DeadlineExceeded) = %v, want %v", got, tt.wantDeadline)
			}
		})
	}
}

// TestUnreachable checks that a collector that never answers, or a port
// nobody listens on, fails the Send within its deadline.
func TestUnreachable(t *testing.T) {
	tests := []struct {
		name     string
		endpoint func(t *testing.T) Config
		ctx      func() (context.Context, context.CancelFunc)
		wantErr  string
	}{
		{
			name: "http no answer",
			endpoint: func(t *testing.T) Config {
				return Config{Protocol: "http/protobuf", Endpoint: "http://" + addrOf(testkit.BlackHole(t)) + "/v1/traces"}
			},
			wantErr: "export timeout of 300ms exceeded",
		},
		{
			name: "grpc no answer",
			endpoint: func(t *testing.T) Config {
				return Config{Protocol: "grpc", Endpoint: addrOf(testkit.BlackHole(t)), Insecure: true}
			},
			wantErr: "export timeout of 300ms exceeded",
		},
		{
			name: "http no answer, caller's deadline first",
			endpoint: func(t *testing.T) Config {
				return Config{Protocol: "http/protobuf", Endpoint: "http://" + addrOf(testkit.BlackHole(t)) + "/v1/traces", Timeout: time.Minute}
			},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 300*time.Millisecond)
			},
			wantErr: "context deadline exceeded",
		},
		{
			name: "http connection refused",
			endpoint: func(t *testing.T) Config {
				return Config{Protocol: "http/protobuf", Endpoint: "http://" + testkit.FreeAddr(t) + "/v1/traces"}
			},
			wantErr: "connection refused",
		},
		{
			name: "grpc connection refused",
			endpoint: func(t *testing.T) Config {
				return Config{Protocol: "grpc", Endpoint: "http://" + testkit.FreeAddr(t)}
			},
			wantErr: "connection refused",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.endpoint(t)
			if cfg.Timeout == 0 {
				cfg.Timeout = 300 * time.Millisecond
			}
			s := newTestSender(t, cfg)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			_, _, err := sendBounded(t, s, ctx, testRequest(t))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			checkOneLine(t, err)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %q is not a DeadlineExceeded", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), s.endpoint) {
				t.Errorf("error %q does not contain %q and the endpoint %s", err, tt.wantErr, s.endpoint)
			}
		})
	}
}

// TestUntrustedCertificate checks that a server certificate the sender
// does not trust fails at once: retrying cannot fix it.
func TestUntrustedCertificate(t *testing.T) {
	c := &collector{}
	srv := httptest.NewUnstartedServer(c)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake failure
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s := newTestSender(t, Config{Protocol: "http/protobuf", Endpoint: srv.URL + "/v1/traces", Timeout: 5 * time.Second})
	_, _, err := sendBounded(t, s, context.Background(), testRequest(t))
	checkOneLine(t, err)
	if err == nil || !strings.Contains(err.Error(), "certificate") || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send error = %v, want a certificate error without retries", err)
	}
}

// TestNoHeaderValueInErrors checks that header values stay out of error
// texts even when the collector quotes them back.
func TestNoHeaderValueInErrors(t *testing.T) {
	const secret = "secret-token"
	tests := []struct {
		name     string
		protocol string
		header   string
		script   []reply
	}{
		{"http 400", "http/protobuf", "secret-token", []reply{{status: 400, body: "denied", echoAuth: true}}},
		{"http 503 until the deadline", "http/protobuf", "secret-token", []reply{{status: 503, body: "busy", echoAuth: true}}},
		{"http bearer", "http/protobuf", "Bearer secret-token", []reply{{status: 401, body: "denied", echoAuth: true}}},
		{"grpc InvalidArgument", "grpc", "secret-token", []reply{{grpcErr: status.Error(codes.InvalidArgument, "denied"), echoAuth: true}}},
		{"grpc Unavailable until the deadline", "grpc", "secret-token", []reply{{grpcErr: status.Error(codes.Unavailable, "busy"), echoAuth: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &collector{script: tt.script}
			cfg := Config{Protocol: tt.protocol, Timeout: 300 * time.Millisecond,
				Headers: map[string]string{"Authorization": tt.header}}
			if tt.protocol == "grpc" {
				cfg.Endpoint = "http://" + startGRPC(t, c)
			} else {
				srv := httptest.NewServer(c)
				t.Cleanup(srv.Close)
				cfg.Endpoint = srv.URL + "/v1/traces"
			}
			s := newTestSender(t, cfg)
			_, _, err := sendBounded(t, s, context.Background(), testRequest(t))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error contains the header value: %q", err)
			}
			if !strings.Contains(err.Error(), "unknown key [REDACTED]") {
				t.Errorf("error %q does not show the redacted echo", err)
			}
			checkOneLine(t, err)
		})
	}
}

// TestNew checks the configurations New refuses, and that it names the
// file it could not use.
func TestNew(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tc := newTestCert(t)
	other := newTestCert(t)
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" means New succeeds
	}{
		{"grpc host:port", Config{Protocol: "grpc", Endpoint: "collector:4317"}, ""},
		{"grpc URL without port", Config{Protocol: "grpc", Endpoint: "https://collector"}, ""},
		{"grpc IPv6", Config{Protocol: "grpc", Endpoint: "[::1]:4317", Insecure: true}, ""},
		{"http with user info", Config{Protocol: "http/protobuf", Endpoint: "http://u:p@collector:4318/v1/traces"}, ""},
		{"mTLS", Config{Protocol: "grpc", Endpoint: "collector:4317", Certificate: tc.certFile, ClientCertificate: tc.certFile, ClientKey: tc.keyFile}, ""},
		{"unknown protocol", Config{Protocol: "http/json", Endpoint: "http://collector:4318/v1/traces"}, `protocol "http/json"`},
		{"no endpoint", Config{Protocol: "grpc"}, "no Endpoint"},
		{"http without scheme", Config{Protocol: "http/protobuf", Endpoint: "collector:4318"}, "http:// or https:// URL"},
		{"http bad URL keeps its secret", Config{Protocol: "http/protobuf", Endpoint: "ftp://u:hunter2@collector/x?key=hunter2"}, "ftp://collector/x"},
		{"grpc other scheme", Config{Protocol: "grpc", Endpoint: "unix:///tmp/sock"}, "http:// or https:// URL"},
		{"grpc host without port", Config{Protocol: "grpc", Endpoint: "collector"}, "host:port"},
		{"negative timeout", Config{Protocol: "grpc", Endpoint: "collector:4317", Timeout: -time.Second}, "negative Timeout"},
		{"bad header name", Config{Protocol: "grpc", Endpoint: "collector:4317", Headers: map[string]string{"bad name": "v"}}, `header name "bad name"`},
		{"bad header value", Config{Protocol: "grpc", Endpoint: "collector:4317", Headers: map[string]string{"k": "hunter2\n"}}, `header "k"`},
		{"unreadable Certificate", Config{Protocol: "grpc", Endpoint: "collector:4317", Certificate: missing}, missing},
		{"Certificate not PEM", Config{Protocol: "http/protobuf", Endpoint: "https://collector/v1/traces", Certificate: notPEM}, notPEM},
		{"unreadable ClientKey", Config{Protocol: "grpc", Endpoint: "collector:4317", ClientCertificate: tc.certFile, ClientKey: missing}, missing},
		{"mismatched client pair", Config{Protocol: "grpc", Endpoint: "collector:4317", ClientCertificate: tc.certFile, ClientKey: other.keyFile}, tc.certFile},
		{"client certificate alone", Config{Protocol: "grpc", Endpoint: "collector:4317", ClientCertificate: tc.certFile}, "go together"},
		{"certificate unused on plaintext http", Config{Protocol: "http/protobuf", Endpoint: "http://collector/v1/traces", Certificate: missing}, ""},
		{"certificate unused on insecure grpc", Config{Protocol: "grpc", Endpoint: "collector:4317", Insecure: true, Certificate: missing}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if strings.Contains(s.endpoint, "u:p") {
					t.Errorf("endpoint name %q keeps the user info", s.endpoint)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("New succeeded, want an error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New error %q does not contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("New error %q contains a secret", err)
			}
		})
	}
}

// TestClose checks that Close is idempotent and that a Send after it fails
// at once, without reaching the collector.
func TestClose(t *testing.T) {
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(protocol, func(t *testing.T) {
			c := &collector{}
			cfg := Config{Protocol: protocol, Timeout: 5 * time.Second}
			if protocol == "grpc" {
				cfg.Endpoint = "http://" + startGRPC(t, c)
			} else {
				srv := httptest.NewServer(c)
				t.Cleanup(srv.Close)
				cfg.Endpoint = srv.URL + "/v1/traces"
			}
			s := newTestSender(t, cfg)
			if _, _, err := s.Send(context.Background(), testRequest(t)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			_, _, err := sendBounded(t, s, context.Background(), testRequest(t))
			if !errors.Is(err, errClosed) {
				t.Errorf("Send after Close = %v, want %v", err, errClosed)
			}
			if n := len(c.requests()); n != 1 {
				t.Errorf("collector saw %d requests, want 1", n)
			}
		})
	}
}

// TestCloseInFlight checks that Close ends a Send waiting on a collector
// that never answers, rather than leaving it to its timeout.
func TestCloseInFlight(t *testing.T) {
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(protocol, func(t *testing.T) {
			addr, accepted := testkit.BlackHole(t)
			cfg := Config{Protocol: protocol, Endpoint: "http://" + addr + "/v1/traces", Timeout: time.Minute}
			s := newTestSender(t, cfg)
			done := make(chan error, 1)
			go func() {
				_, _, err := s.Send(context.Background(), testRequest(t))
				done <- err
			}()
			<-accepted // the attempt is under way
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			select {
			case err := <-done:
				checkOneLine(t, err)
				if !errors.Is(err, errClosed) {
					t.Errorf("Send = %v, want %v", err, errClosed)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("Send did not return after Close")
			}
		})
	}
}

// TestReqNotKept checks that Send lets go of req by the time it returns:
// the caller overwrites it at once, and the collector must still get the
// original, for each way the bytes travel.
func TestReqNotKept(t *testing.T) {
	for _, tt := range []struct {
		protocol string
		gzip     bool
	}{{"grpc", false}, {"grpc", true}, {"http/protobuf", false}, {"http/protobuf", true}} {
		c := &collector{}
		cfg := Config{Protocol: tt.protocol, Timeout: 5 * time.Second, Gzip: tt.gzip}
		if tt.protocol == "grpc" {
			cfg.Endpoint = "http://" + startGRPC(t, c)
		} else {
			srv := httptest.NewServer(c)
			t.Cleanup(srv.Close)
			cfg.Endpoint = srv.URL + "/v1/traces"
		}
		s := newTestSender(t, cfg)
		// Over gRPC's pooling threshold, so that it is sent without a copy.
		req := make([]byte, 0, 4096)
		for range 5 {
			req = append(req[:0], testRequest(t)...)
			if _, _, err := s.Send(context.Background(), req); err != nil {
				t.Fatalf("%s gzip=%v: Send: %v", tt.protocol, tt.gzip, err)
			}
			clear(req[:cap(req)])
		}
		for i, r := range c.requests() {
			if r.spanName != testSpanName {
				t.Errorf("%s gzip=%v: request %d has span %q", tt.protocol, tt.gzip, i, r.spanName)
			}
		}
	}
}

// TestRedirectNotFollowed checks that a redirect target never sees the
// export or its headers.
func TestRedirectNotFollowed(t *testing.T) {
	var hit atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit.Store(true) }))
	t.Cleanup(target.Close)
	c := &collector{script: []reply{{status: 307, header: map[string]string{"Location": target.URL + "/v1/traces"}}}}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	s := newTestSender(t, Config{Protocol: "http/protobuf", Endpoint: srv.URL + "/v1/traces", Timeout: 5 * time.Second})
	if _, _, err := sendBounded(t, s, context.Background(), testRequest(t)); err == nil {
		t.Fatal("Send succeeded through a redirect")
	}
	if hit.Load() {
		t.Error("the redirect was followed")
	}
}
