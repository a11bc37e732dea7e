package otlpsend

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	contentTypeProtobuf = "application/x-protobuf"
	// maxResponse bounds what is read of a response: an
	// ExportTraceServiceResponse or an error status is a few hundred
	// bytes, a proxy's error page a few kilobytes.
	maxResponse = 64 << 10
	// maxDrain is how much of an unread response is read to keep its
	// connection; past it the connection is closed instead.
	maxDrain = 256 << 10
	// maxPooledBuffer keeps the gzip buffers of outsized batches out of
	// the pool, so one odd batch does not pin its memory for good.
	maxPooledBuffer = 4 << 20
)

// The gzip writers (each holds about 800 KB of compressor state) and their
// output buffers are reused across Sends, so that a Send allocates little
// more than its request headers.
var (
	gzipWriters = sync.Pool{New: func() any {
		// BestSpeed: OTLP protobuf compresses well even so, and the point
		// of the sidecar's exporter is to spend little CPU.
		w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
		return w
	}}
	gzipBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

type httpExporter struct {
	client *http.Client
	url    string
	header http.Header // cloned into every request
	gzip   bool
	redact redactor
}

func newHTTP(c Config, redact redactor) (*httpExporter, string, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", fmt.Errorf("otlpsend: http/protobuf Endpoint must be an http:// or https:// URL with a host, not %q", redactURL(c.Endpoint))
	}
	name := u.Scheme + "://" + u.Host + u.EscapedPath()

	var tlsConf *tls.Config
	if u.Scheme == "https" {
		if tlsConf, err = loadTLS(c); err != nil {
			return nil, "", err
		}
	} // plaintext: the certificate files go unused, as the official exporters leave them

	h := make(http.Header, len(c.Headers)+3)
	for k, v := range c.Headers {
		h.Set(k, v)
	}
	if c.UserAgent != "" {
		h.Set("User-Agent", c.UserAgent)
	}
	h.Set("Content-Type", contentTypeProtobuf)
	if c.Gzip {
		h.Set("Content-Encoding", "gzip")
	}

	// Our own transport, like the official exporter's: http.DefaultTransport
	// is anyone's to change. Its settings are DefaultTransport's, but for
	// more idle connections to the one host, so that concurrent Sends
	// keep theirs.
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       tlsConf,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &httpExporter{
		client: &http.Client{
			Transport: tr,
			// Not followed: the headers would go wherever the redirect
			// points, and a redirect means the endpoint is wrong.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		url:    u.String(),
		header: h,
		gzip:   c.Gzip,
		redact: redact,
	}, name, nil
}

func (h *httpExporter) close() error {
	h.client.CloseIdleConnections()
	return nil
}

func (h *httpExporter) send(ctx context.Context, req []byte, retry retryFunc) (int64, string, error) {
	body := req
	released := true // every attempt's body given back by the transport
	if h.gzip {
		buf := gzipBuffers.Get().(*bytes.Buffer)
		buf.Reset()
		zw := gzipWriters.Get().(*gzip.Writer)
		zw.Reset(buf)
		_, err := zw.Write(req)
		if err == nil {
			err = zw.Close()
		}
		zw.Reset(io.Discard) // drop the reference to buf
		gzipWriters.Put(zw)
		if err != nil { // cannot happen writing to a bytes.Buffer
			return 0, "", fmt.Errorf("otlpsend: gzip: %w", err)
		}
		body = buf.Bytes()
		defer func() {
			// A transport still reading buf would race with its next user.
			if released && buf.Cap() <= maxPooledBuffer {
				gzipBuffers.Put(buf)
			}
		}()
	}
	return retry(ctx, func(ctx context.Context) result {
		r, ok := h.attempt(ctx, body)
		released = released && ok
		return r
	})
}

// attempt posts body once. ok reports that the transport is done with
// body, so that it may be reused.
func (h *httpExporter) attempt(ctx context.Context, body []byte) (r result, ok bool) {
	ctx, cancel := context.WithCancel(ctx)
	rb := newReleaseBody(body)
	defer func() {
		// Cancelling first makes a transport still writing body (the
		// server answered early) give up and close it.
		cancel()
		ok = rb.wait()
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, rb)
	if err != nil {
		rb.Close()
		return result{err: err}, true
	}
	req.ContentLength = int64(len(body))
	req.Header = h.header.Clone()

	resp, err := h.client.Do(req)
	if err != nil {
		return transportResult(err), true
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
		resp.Body.Close()
	}()

	if resp.StatusCode/100 == 2 {
		if !isProtobuf(resp.Header) {
			// Not an ExportTraceServiceResponse (an empty body, or a
			// gateway's "OK"): nothing to learn from it, as for the
			// official exporter.
			return result{}, true
		}
		data, err := readBounded(resp.Body)
		if err == nil {
			r.rejected, r.msg, err = parsePartialSuccess(data)
		}
		if err != nil {
			// The collector took the request, so retrying would duplicate
			// it; but a response it cannot have meant is worth an error.
			return result{err: fmt.Errorf("HTTP %s, but the response is not an ExportTraceServiceResponse: %w", resp.Status, err)}, true
		}
		return r, true
	}

	r.err = h.statusError(resp)
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		r.retry = true
		r.throttle = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return r, true
}

// statusError describes a non-2xx response: its status and the start of
// what the server said, the message of a google.rpc.Status for an OTLP
// server or an excerpt of the body for anything else.
func (h *httpExporter) statusError(resp *http.Response) error {
	var detail string
	data, _ := readBounded(resp.Body) // a cut-off body is still worth an excerpt
	if isProtobuf(resp.Header) {
		if msg, err := statusMessage(data); err == nil {
			detail = msg
		}
	}
	if detail == "" {
		detail = string(data)
	}
	detail = clip(h.redact.apply(detail), maxExcerpt)
	if detail == "" {
		detail = "(empty body)"
	}
	if resp.StatusCode/100 == 3 {
		detail = "redirects are not followed (Location: " + clip(h.redact.apply(resp.Header.Get("Location")), maxExcerpt) + "): " + detail
	}
	return fmt.Errorf("HTTP %s: %s", resp.Status, detail)
}

// transportResult classifies an error of http.Client.Do: most are worth
// retrying (connection refused or reset, timeouts), but not a server
// certificate we do not trust, which only a configuration change fixes.
func transportResult(err error) result {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its URL is in the final error already
	}
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	if errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return result{err: err}
	}
	timedOut := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	return result{err: err, retry: true, timedOut: timedOut}
}

func isProtobuf(h http.Header) bool {
	ct, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), contentTypeProtobuf)
}

func readBounded(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxResponse+1))
	if err != nil {
		return data, err
	}
	if len(data) > maxResponse {
		return data[:maxResponse], fmt.Errorf("response larger than %d bytes", maxResponse)
	}
	return data, nil
}

// retryAfter reads a Retry-After header, in seconds or an HTTP date;
// 0 when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// redactURL keeps the user info and query of an unusable endpoint out of
// the error that reports it.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// releaseBody is a request body that says when the transport is done with
// it. RoundTrip may return before the body is fully written, and closes it
// only then: until that, its bytes (the caller's request, or a pooled
// gzip buffer) must be left alone.
type releaseBody struct {
	bytes.Reader
	once sync.Once
	done chan struct{}
}

func newReleaseBody(b []byte) *releaseBody {
	rb := &releaseBody{done: make(chan struct{})}
	rb.Reset(b)
	return rb
}

func (b *releaseBody) Close() error {
	b.once.Do(func() { close(b.done) })
	return nil
}

// releaseWait bounds the wait for a transport to let go of a body, or of
// a gRPC message, once the attempt's context is cancelled: it should be
// at once, and if a bug makes it never, Send must still return.
const releaseWait = time.Second

func (b *releaseBody) wait() bool { return waitDone(b.done) }

func waitDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
	}
	t := time.NewTimer(releaseWait)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
