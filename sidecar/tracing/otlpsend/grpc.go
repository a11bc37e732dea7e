package otlpsend

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip" // registers the gzip compressor
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

type grpcExporter struct {
	conn     *grpc.ClientConn
	md       metadata.MD
	callOpts []grpc.CallOption
	redact   redactor
}

func newGRPC(c Config, redact redactor) (*grpcExporter, string, error) {
	target, name, plaintext, err := grpcTarget(c.Endpoint, c.Insecure)
	if err != nil {
		return nil, "", err
	}
	var creds credentials.TransportCredentials
	if plaintext {
		// The certificate files go unused, as the official exporters
		// leave them: a CA set for every OTLP exporter of a pod must not
		// stop a plaintext one.
		creds = insecure.NewCredentials()
	} else {
		conf, err := loadTLS(c)
		if err != nil {
			return nil, "", err
		}
		creds = credentials.NewTLS(conf)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// gRPC's reconnection backoff grows to 2 minutes by default: a
		// collector back from an outage would go unused that long, with
		// every export failing fast meanwhile. Trying every few seconds
		// costs nothing.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           grpcbackoff.Config{BaseDelay: time.Second, Multiplier: 1.6, Jitter: 0.2, MaxDelay: defaultMaxBackoff},
			MinConnectTimeout: 20 * time.Second,
		}),
	}
	if c.UserAgent != "" {
		opts = append(opts, grpc.WithUserAgent(c.UserAgent))
	}
	conn, err := grpc.NewClient(target, opts...) // lazy: no I/O until the first Send
	if err != nil {
		return nil, "", fmt.Errorf("otlpsend: grpc endpoint %s: %w", name, err)
	}
	g := &grpcExporter{
		conn:     conn,
		callOpts: []grpc.CallOption{grpc.ForceCodecV2(rawCodec{})},
		redact:   redact,
	}
	if len(c.Headers) > 0 {
		g.md = metadata.New(c.Headers) // lower-cases the keys, as gRPC wants
	}
	if c.Gzip {
		g.callOpts = append(g.callOpts, grpc.UseCompressor(gzip.Name))
	}
	return g, name, nil
}

// grpcTarget turns Endpoint into a gRPC target, the name errors use for
// it, and whether it is plaintext.
func grpcTarget(endpoint string, insecureFlag bool) (target, name string, plaintext bool, err error) {
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			return "", "", false, fmt.Errorf("otlpsend: grpc Endpoint must be an http:// or https:// URL with a host, or host:port, not %q", redactURL(endpoint))
		}
		hostport := u.Host
		if u.Port() == "" {
			port := "443"
			if u.Scheme == "http" {
				port = "80"
			}
			hostport = net.JoinHostPort(u.Hostname(), port)
		}
		// dns:/// spelled out, so that a host named like a resolver
		// scheme ("unix:4317") is still a host.
		return "dns:///" + hostport, u.Scheme + "://" + u.Host, u.Scheme == "http", nil
	}
	if host, _, err := net.SplitHostPort(endpoint); err != nil || host == "" {
		return "", "", false, fmt.Errorf("otlpsend: grpc Endpoint must be host:port or an http:// or https:// URL, not %q", endpoint)
	}
	return "dns:///" + endpoint, endpoint, insecureFlag, nil
}

func (g *grpcExporter) close() error { return g.conn.Close() }

func (g *grpcExporter) send(ctx context.Context, req []byte, retry retryFunc) (int64, string, error) {
	if g.md != nil {
		md := g.md
		if out, ok := metadata.FromOutgoingContext(ctx); ok {
			md = metadata.Join(md, out)
		}
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	return retry(ctx, func(ctx context.Context) result { return g.attempt(ctx, req) })
}

func (g *grpcExporter) attempt(ctx context.Context, req []byte) result {
	msg := newReleaseBuffer(req)
	var resp []byte
	err := g.conn.Invoke(ctx, exportMethod, msg.buf, &resp, g.callOpts...)
	msg.release()
	if err == nil {
		rejected, m, perr := parsePartialSuccess(resp)
		if perr != nil {
			return result{err: fmt.Errorf("gRPC OK, but the response is not an ExportTraceServiceResponse: %w", perr)}
		}
		return result{rejected: rejected, msg: m}
	}
	st := status.Convert(err)
	r := result{err: statusError{status.New(st.Code(), clip(g.redact.apply(st.Message()), maxExcerpt))}}
	r.retry, r.throttle = retryable(st)
	r.timedOut = st.Code() == codes.DeadlineExceeded || st.Code() == codes.Canceled
	return r
}

// retryable says whether the OTLP specification lets a client retry an
// export that failed with st, and after how long the server asked.
// Canceled and DeadlineExceeded are retried only while the Send's own
// context lives, which retry checks.
func retryable(st *status.Status) (retry bool, throttle time.Duration) {
	var hasInfo bool
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok {
			hasInfo, throttle = true, info.GetRetryDelay().AsDuration()
			break
		}
	}
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable, codes.DataLoss:
		return true, throttle
	case codes.ResourceExhausted:
		// Only a server that says when to come back expects us to.
		return hasInfo, throttle
	}
	return false, 0
}

// statusError is a gRPC failure whose message is redacted and clipped;
// status.Code still reads its code.
type statusError struct{ st *status.Status }

func (e statusError) Error() string {
	return "gRPC " + e.st.Code().String() + ": " + e.st.Message()
}

func (e statusError) GRPCStatus() *status.Status { return e.st }

// rawCodec sends the request bytes as they are and hands back the
// response bytes unparsed: the request is encoded already, and only the
// partial success of the response matters. Its name keeps the
// application/grpc+proto content type that collectors expect.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.(mem.Buffer)
	if !ok {
		return nil, fmt.Errorf("otlpsend: cannot send %T", v)
	}
	b.Ref() // gRPC frees what Marshal returns; releaseBuffer keeps its own reference
	return mem.BufferSlice{b}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("otlpsend: cannot receive into %T", v)
	}
	*p = data.Materialize() // data is gRPC's, and freed when this returns
	return nil
}

// releaseBuffer hands the request to gRPC without a copy, and tells when
// gRPC is done with it: its transport writes messages from its own
// goroutine and may hold them past Invoke's return, while the caller of
// Send is free to reuse req once Send returns. Small requests, which gRPC
// would not account for, are copied instead.
type releaseBuffer struct {
	buf  mem.Buffer
	done chan struct{}
}

func newReleaseBuffer(req []byte) *releaseBuffer {
	if mem.IsBelowBufferPoolingThreshold(cap(req)) {
		return &releaseBuffer{buf: mem.SliceBuffer(append([]byte(nil), req...))}
	}
	rb := &releaseBuffer{done: make(chan struct{})}
	rb.buf = mem.NewBuffer(&req, rb)
	return rb
}

// Get and Put make releaseBuffer the mem.BufferPool of its own buffer:
// Put runs when the last reference to it is freed.
func (rb *releaseBuffer) Get(length int) *[]byte {
	b := make([]byte, length)
	return &b
}

func (rb *releaseBuffer) Put(*[]byte) { close(rb.done) }

// release drops our reference and waits for gRPC to drop its own.
func (rb *releaseBuffer) release() {
	rb.buf.Free()
	if rb.done != nil {
		waitDone(rb.done)
	}
}
