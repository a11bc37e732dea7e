package otlpsend

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"
)

// Config says where and how to send.
type Config struct {
	// Protocol is "grpc" or "http/protobuf".
	Protocol string
	// Endpoint: for http/protobuf the full URL of the traces path (e.g.
	// http://host:4318/v1/traces, or https://...). For grpc a URL with
	// scheme and host (http:// means plaintext, https:// means TLS; any
	// path is ignored; no port means 80 or 443), or a bare host:port (TLS
	// unless Insecure).
	Endpoint string
	// Insecure: plaintext for a bare gRPC host:port.
	Insecure bool
	// Headers are sent with every export (HTTP headers / gRPC metadata).
	Headers map[string]string
	// Timeout bounds one Send, retries included (0 means 10s).
	Timeout time.Duration
	// Gzip compresses the body (HTTP Content-Encoding: gzip; gRPC gzip
	// compressor).
	Gzip bool
	// Certificate is a PEM file of CA certificates to trust (else the
	// system roots); ClientCertificate and ClientKey a PEM pair for mTLS.
	// Empty means none. Unreadable or invalid files are an error from New
	// naming the file.
	Certificate, ClientCertificate, ClientKey string
	// UserAgent, if set, is sent as User-Agent.
	UserAgent string
}

const (
	defaultTimeout = 10 * time.Second

	// The retry schedule is tighter than the official exporters' (5s
	// initial, 30s max) because the sidecar holds the batch in memory
	// while it retries, and Config.Timeout bounds the whole Send anyway:
	// the n-th retry waits min(1s·2ⁿ⁻¹, 5s) ±50%, so a 10s Send makes
	// about four attempts, and Send gives up at once when the next wait
	// would end past the deadline.
	defaultInitialBackoff = time.Second
	defaultMaxBackoff     = 5 * time.Second
)

// Sender posts encoded ExportTraceServiceRequests to one collector. It is
// safe for concurrent use; Close releases its connections.
type Sender struct {
	exp      exporter
	endpoint string // for errors: scheme, host and path only
	timeout  time.Duration
	redact   redactor

	// Tests shorten these.
	initialBackoff, maxBackoff time.Duration

	// stop ends the Sends in flight when Close runs.
	stop      context.Context
	stopNow   context.CancelFunc
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// exporter is one protocol's way to send: send runs attempts through
// retry (after any one-off preparation of the body, such as gzip).
type exporter interface {
	send(ctx context.Context, req []byte, retry retryFunc) (rejected int64, msg string, err error)
	close() error
}

type retryFunc func(ctx context.Context, attempt func(context.Context) result) (int64, string, error)

// result is the outcome of one attempt.
type result struct {
	rejected int64
	msg      string
	err      error // nil: the collector took the request
	// retry says err is worth another attempt, after at least throttle
	// when the server said so (Retry-After, RetryInfo).
	retry    bool
	throttle time.Duration
	// timedOut says err is the attempt running out of time or being
	// cancelled rather than an answer: the error of an earlier attempt,
	// if any, says more about why the export failed.
	timedOut bool
}

var errClosed = errors.New("sender is closed")

// New checks c, loads its certificates and returns a Sender. It does no
// network I/O: a collector that is down only makes Send fail later.
func New(c Config) (*Sender, error) {
	if c.Timeout < 0 {
		return nil, fmt.Errorf("otlpsend: negative Timeout %v", c.Timeout)
	}
	if c.Endpoint == "" {
		return nil, errors.New("otlpsend: no Endpoint")
	}
	for k, v := range c.Headers {
		// Checked here rather than failing every export; the value is
		// never quoted, it may be a secret.
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, fmt.Errorf("otlpsend: header name %q is not valid", k)
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return nil, fmt.Errorf("otlpsend: the value of header %q has characters a header cannot carry", k)
		}
	}
	s := &Sender{
		timeout:        c.Timeout,
		redact:         newRedactor(c.Headers),
		initialBackoff: defaultInitialBackoff,
		maxBackoff:     defaultMaxBackoff,
	}
	if s.timeout == 0 {
		s.timeout = defaultTimeout
	}
	var err error
	switch c.Protocol {
	case "http/protobuf":
		s.exp, s.endpoint, err = newHTTP(c, s.redact)
	case "grpc":
		s.exp, s.endpoint, err = newGRPC(c, s.redact)
	default:
		return nil, fmt.Errorf("otlpsend: protocol %q is not supported (want \"grpc\" or \"http/protobuf\")", c.Protocol)
	}
	if err != nil {
		return nil, err
	}
	s.stop, s.stopNow = context.WithCancel(context.Background())
	return s, nil
}

// Send posts req (an encoded ExportTraceServiceRequest), retrying what the
// OTLP spec calls retryable with exponential backoff and jitter (honouring
// HTTP Retry-After and gRPC RetryInfo), until it succeeds, fails for good,
// or ctx or Config.Timeout ends. rejected is the
// partial_success.rejected_spans of the response, with its error_message
// in msg (0 and "" when none).
//
// Send does not keep req: the caller may reuse it once Send returns.
func (s *Sender) Send(ctx context.Context, req []byte) (rejected int64, msg string, err error) {
	ctx, closing := context.WithCancelCause(ctx)
	defer closing(nil)
	defer context.AfterFunc(s.stop, func() { closing(errClosed) })()
	ctx, cancel := context.WithTimeoutCause(ctx, s.timeout,
		fmt.Errorf("export timeout of %v exceeded: %w", s.timeout, context.DeadlineExceeded))
	defer cancel()
	return s.exp.send(ctx, req, s.retry)
}

// retry runs attempt until it succeeds, fails for good or ctx ends, and
// makes the final error.
func (s *Sender) retry(ctx context.Context, attempt func(context.Context) result) (int64, string, error) {
	var last error
	for n := 1; ; n++ {
		if s.closed.Load() {
			return 0, "", fmt.Errorf("otlpsend: export to %s: %w", s.endpoint, errClosed)
		}
		r := attempt(ctx)
		if r.err == nil {
			return r.rejected, clip(s.redact.apply(r.msg), maxMessage), nil
		}
		if !r.retry {
			return 0, "", fmt.Errorf("otlpsend: export to %s: %w%s", s.endpoint, r.err, after(n))
		}
		if !r.timedOut || last == nil {
			last = r.err
		}
		if ctx.Err() != nil {
			return 0, "", s.gaveUp(n, last, context.Cause(ctx))
		}
		delay := max(r.throttle, backoff(n, s.initialBackoff, s.maxBackoff))
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= delay {
			// Waiting would only end at the deadline with the same error;
			// the caller is better served now.
			why := fmt.Errorf("next attempt in %v would pass the deadline: %w", delay.Round(time.Millisecond), context.DeadlineExceeded)
			if r.throttle == delay {
				why = fmt.Errorf("server asked to retry after %v, past the deadline: %w", r.throttle, context.DeadlineExceeded)
			}
			return 0, "", s.gaveUp(n, last, why)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, "", s.gaveUp(n, last, context.Cause(ctx))
		case <-t.C:
		}
	}
}

func (s *Sender) gaveUp(attempts int, last, why error) error {
	if strings.Contains(why.Error(), last.Error()) {
		// The attempt only ran out of time: saying so twice adds nothing.
		return fmt.Errorf("otlpsend: export to %s: gave up after %d attempt%s (%w)",
			s.endpoint, attempts, plural(attempts), why)
	}
	return fmt.Errorf("otlpsend: export to %s: gave up after %d attempt%s (%w); last error: %w",
		s.endpoint, attempts, plural(attempts), why, last)
}

func after(attempts int) string {
	if attempts == 1 {
		return ""
	}
	return fmt.Sprintf(" (attempt %d)", attempts)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Close releases the connections. Sends in flight and later ones fail at
// once. It is safe to call more than once.
func (s *Sender) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stopNow()
		s.closeErr = s.exp.close()
	})
	return s.closeErr
}

// backoff is the wait before attempt n+1: initial doubled n-1 times,
// capped at maxWait, then spread ±50% so that sidecars that failed
// together do not retry together.
func backoff(n int, initial, maxWait time.Duration) time.Duration {
	d := initial
	for i := 1; i < n && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d)
}

// Bounds of the texts taken from a server into an error or msg.
const (
	maxExcerpt = 256
	maxMessage = 1024
)

// redactor removes header values from texts a server sent back: a
// collector that rejects a request may quote its headers, and those are
// usually API keys.
type redactor []string

func newRedactor(headers map[string]string) redactor {
	var r redactor
	for _, v := range headers {
		r = append(r, v)
		// "Bearer <token>", "Basic <creds>": the server may quote the
		// credential alone.
		for _, f := range strings.Fields(v) {
			if len(f) >= 8 && f != v {
				r = append(r, f)
			}
		}
	}
	// Longest first, so a value goes whole before its parts.
	slices.SortFunc(r, func(a, b string) int { return len(b) - len(a) })
	return slices.DeleteFunc(r, func(v string) bool { return strings.TrimSpace(v) == "" })
}

func (r redactor) apply(s string) string {
	for _, v := range r {
		s = strings.ReplaceAll(s, v, "[REDACTED]")
	}
	return s
}

// clip makes a server's text fit in one line of an error: control
// characters and runs of spaces become one space, invalid UTF-8 goes, and
// the rest is cut at max bytes.
func clip(s string, maxLen int) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > maxLen {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
