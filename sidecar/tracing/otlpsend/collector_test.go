package otlpsend

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/proto"

	"github.com/faultline-dev/faultline/internal/testkit"
)

const (
	testSpanName = "GET /users/{id}"
	testTraceID  = "0102030405060708090a0b0c0d0e0f10"
)

// testRequest is an encoded ExportTraceServiceRequest of one span, made
// with the OTLP protobuf types as the sidecar's encoder would.
func testRequest(t testing.TB) []byte {
	t.Helper()
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{
			Key:   "service.name",
			Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "faultline"}},
		}}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{{
			TraceId:           []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
			SpanId:            []byte{1, 2, 3, 4, 5, 6, 7, 8},
			Name:              testSpanName,
			Kind:              tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: 1_700_000_000_000_000_000,
			EndTimeUnixNano:   1_700_000_000_001_000_000,
		}}}},
	}}}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reply scripts the fake collector's answer to one request.
type reply struct {
	status   int               // HTTP status; 0 means 200
	header   map[string]string // HTTP response headers
	body     string            // HTTP body of an error
	grpcErr  error             // gRPC error
	rejected int64             // partial success of a successful answer
	message  string
	// echoAuth appends the request's authorization header to the error,
	// as a careless server would.
	echoAuth bool
}

// seen is what the fake collector made of one request.
type seen struct {
	spanName, traceID string
	header            map[string]string // lower-case names, first values
	gzip              bool
	path, contentType string // HTTP only
	http2             bool
}

// collector is an OTLP receiver built on the collector's own pdata
// unmarshalling, over HTTP (ServeHTTP) or gRPC (startGRPC). It answers the
// n-th request with script[n-1] (the last one past the end, success when
// empty).
type collector struct {
	mu     sync.Mutex
	script []reply
	got    []seen
}

func (c *collector) next(s seen) reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, s)
	if len(c.script) == 0 {
		return reply{}
	}
	return c.script[min(len(c.got), len(c.script))-1]
}

func (c *collector) requests() []seen {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]seen(nil), c.got...)
}

func seenOf(td ptrace.Traces) seen {
	var s seen
	if td.SpanCount() != 1 {
		return s
	}
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	s.spanName, s.traceID = span.Name(), span.TraceID().String()
	return s
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, gz, ok := testkit.ReadOTLP(w, r)
	if !ok {
		return
	}
	s := seenOf(req.Traces())
	s.gzip, s.path, s.contentType, s.http2 = gz, r.URL.Path, r.Header.Get("Content-Type"), r.ProtoMajor == 2
	s.header = map[string]string{}
	for k, v := range r.Header {
		s.header[strings.ToLower(k)] = v[0]
	}
	rep := c.next(s)

	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.status != 0 && rep.status/100 != 2 {
		b := rep.body
		if rep.echoAuth {
			b += "\nunknown key " + r.Header.Get("Authorization")
		}
		w.WriteHeader(rep.status)
		io.WriteString(w, b)
		return
	}
	resp := ptraceotlp.NewExportResponse()
	if rep.rejected != 0 || rep.message != "" {
		resp.PartialSuccess().SetRejectedSpans(rep.rejected)
		resp.PartialSuccess().SetErrorMessage(rep.message)
	}
	b, _ := resp.MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(b)
}

type grpcCollector struct {
	ptraceotlp.UnimplementedGRPCServer
	c *collector
}

type compressionKey struct{}

func (g *grpcCollector) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s := seenOf(req.Traces())
	s.header = map[string]string{}
	md, _ := metadata.FromIncomingContext(ctx)
	for k, v := range md {
		s.header[k] = v[0]
	}
	if p, ok := ctx.Value(compressionKey{}).(*string); ok {
		s.gzip = *p == "gzip"
	}
	rep := g.c.next(s)
	resp := ptraceotlp.NewExportResponse()
	if rep.grpcErr != nil {
		err := rep.grpcErr
		if rep.echoAuth {
			err = statusWithSuffix(err, " unknown key "+s.header["authorization"])
		}
		return resp, err
	}
	if rep.rejected != 0 || rep.message != "" {
		resp.PartialSuccess().SetRejectedSpans(rep.rejected)
		resp.PartialSuccess().SetErrorMessage(rep.message)
	}
	return resp, nil
}

// compressionStats records the compression of a request where the
// handler can see it: gRPC keeps grpc-encoding out of the metadata.
type compressionStats struct{}

func (compressionStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, compressionKey{}, new(string))
}

func (compressionStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if h, ok := s.(*stats.InHeader); ok {
		if p, ok := ctx.Value(compressionKey{}).(*string); ok {
			*p = h.Compression
		}
	}
}

func (compressionStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

func (compressionStats) HandleConn(context.Context, stats.ConnStats) {}

// startGRPC serves c over gRPC on a local port and returns its host:port.
func startGRPC(t *testing.T, c *collector, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(append(opts, grpc.StatsHandler(compressionStats{}))...)
	ptraceotlp.RegisterGRPCServer(srv, &grpcCollector{c: c})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// writePEM writes blocks of type typ to a file in dir and returns its path.
func writePEM(t *testing.T, dir, name, typ string, blocks ...[]byte) string {
	t.Helper()
	var b []byte
	for _, der := range blocks {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testCert is a self-signed certificate for 127.0.0.1, good for a server
// and a client alike, and its files.
type testCert struct {
	pair              tls.Certificate
	pool              *x509.CertPool
	certFile, keyFile string
}

func newTestCert(t *testing.T) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "otlpsend test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tc := testCert{
		certFile: writePEM(t, dir, "cert.pem", "CERTIFICATE", der),
		keyFile:  writePEM(t, dir, "key.pem", "EC PRIVATE KEY", keyDER),
		pool:     x509.NewCertPool(),
	}
	if tc.pair, err = tls.LoadX509KeyPair(tc.certFile, tc.keyFile); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	tc.pool.AddCert(cert)
	return tc
}

// mTLSConfig is a server's TLS configuration that requires a client
// certificate signed by tc.
func (tc testCert) mTLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{tc.pair},
		ClientCAs:    tc.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
}

// newTestSender is New with backoffs short enough for tests.
func newTestSender(t *testing.T, c Config) *Sender {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.initialBackoff, s.maxBackoff = time.Millisecond, 5*time.Millisecond
	t.Cleanup(func() { s.Close() })
	return s
}

// sendBounded runs Send, failing the test rather than hanging if Send
// does not return (it has Config.Timeout to; the guard is far larger).
func sendBounded(t *testing.T, s *Sender, ctx context.Context, req []byte) (int64, string, error) {
	t.Helper()
	type out struct {
		rejected int64
		msg      string
		err      error
	}
	ch := make(chan out, 1)
	go func() {
		r, m, err := s.Send(ctx, req)
		ch <- out{r, m, err}
	}()
	select {
	case o := <-ch:
		return o.rejected, o.msg, o.err
	case <-time.After(15 * time.Second):
		t.Fatal("Send did not return")
		return 0, "", nil
	}
}
