package otlpsend

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// bigRequest is an encoded request of about 200 KB, spans much like the
// sidecar's.
func bigRequest(b *testing.B) []byte {
	var spans []*tracepb.Span
	for i := 0; proto.Size(&tracepb.ScopeSpans{Spans: spans}) < 200<<10; i++ {
		spans = append(spans, &tracepb.Span{
			TraceId:           []byte(fmt.Sprintf("%016x", i*7919)),
			SpanId:            []byte(fmt.Sprintf("%08x", i))[:8],
			Name:              fmt.Sprintf("GET /api/v1/items/{id}/%d", i%17),
			Kind:              tracepb.Span_SPAN_KIND_SERVER,
			StartTimeUnixNano: uint64(1_700_000_000_000_000_000 + i*1000),
			EndTimeUnixNano:   uint64(1_700_000_000_000_500_000 + i*1000),
			Attributes: []*commonpb.KeyValue{
				{Key: "http.request.method", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "GET"}}},
				{Key: "url.path", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: fmt.Sprintf("/api/v1/items/%d/%d", i*31, i%17)}}},
				{Key: "http.response.status_code", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 200}}},
			},
		})
	}
	req, err := proto.Marshal(&coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}},
	}}})
	if err != nil {
		b.Fatal(err)
	}
	return req
}

// discardCodec is a server codec that reads nothing, so that the
// benchmark counts the sender's allocations rather than a decoder's.
type discardCodec struct{}

func (discardCodec) Name() string                         { return "proto" }
func (discardCodec) Marshal(any) (mem.BufferSlice, error) { return nil, nil }
func (discardCodec) Unmarshal(mem.BufferSlice, any) error { return nil }

func BenchmarkSend(b *testing.B) {
	req := bigRequest(b)
	httpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	b.Cleanup(httpSrv.Close)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	grpcSrv := grpc.NewServer(grpc.ForceServerCodecV2(discardCodec{}),
		grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
			var m struct{}
			if err := stream.RecvMsg(&m); err != nil {
				return err
			}
			return stream.SendMsg(&m)
		}))
	go grpcSrv.Serve(lis)
	b.Cleanup(grpcSrv.Stop)

	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"http", Config{Protocol: "http/protobuf", Endpoint: httpSrv.URL + "/v1/traces"}},
		{"http-gzip", Config{Protocol: "http/protobuf", Endpoint: httpSrv.URL + "/v1/traces", Gzip: true}},
		{"grpc", Config{Protocol: "grpc", Endpoint: lis.Addr().String(), Insecure: true}},
		{"grpc-gzip", Config{Protocol: "grpc", Endpoint: lis.Addr().String(), Insecure: true, Gzip: true}},
	} {
		b.Run(fmt.Sprintf("%s/%dKB", bc.name, len(req)>>10), func(b *testing.B) {
			bc.cfg.Timeout = 10 * time.Second
			s, err := New(bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			b.SetBytes(int64(len(req)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Send(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
