package route

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Learner defaults.
const (
	// DefaultOpenAPIPath is where FastAPI serves its OpenAPI document.
	DefaultOpenAPIPath = "/openapi.json"
	// DefaultInterval is the time between two refreshes.
	DefaultInterval = time.Minute
	// DefaultRetry is the first wait after a failed fetch; it doubles on
	// each failure in a row, up to the interval.
	DefaultRetry = time.Second
	// MaxDocumentBytes bounds the OpenAPI document a Learner reads.
	MaxDocumentBytes = 16 << 20
)

// A Learner keeps a Matcher's templates in step with the upstream app's
// OpenAPI document: it fetches the document when Run starts and then every
// Interval, and hands each new Table to the Matcher. When a fetch fails,
// because the app is still starting or is down, it retries after
// RetryMin, then twice as long each time up to Interval; meanwhile the
// Matcher keeps the last good Table.
//
// Set the fields before Run and do not change them afterwards; do not copy
// a Learner once used. Run and Refresh are safe for concurrent use, though
// one Run is all a Matcher needs. When the routes come from a file
// (--routes), do not run a Learner.
type Learner struct {
	// Upstream is the app's base URL, such as "http://127.0.0.1:8000".
	Upstream string
	// Path is the path of the document on Upstream; empty means
	// DefaultOpenAPIPath. FastAPI apps that set openapi_url serve it
	// elsewhere.
	Path string
	// Interval is the time between two refreshes; zero means
	// DefaultInterval.
	Interval time.Duration
	// RetryMin is the first wait after a failure; zero means DefaultRetry.
	RetryMin time.Duration
	// Client fetches the document; nil means a client with a 10-second
	// timeout.
	Client *http.Client
	// Matcher receives the templates. It must not be nil.
	Matcher *Matcher
	// Logger reports what was learned and what failed; nil discards.
	Logger *slog.Logger

	mu sync.Mutex
	// last is the digest of the document that made the Table last set,
	// lastTable; loading a large document costs milliseconds, and it
	// rarely changes.
	last      [sha256.Size]byte
	lastTable *Table
}

var defaultClient = &http.Client{Timeout: 10 * time.Second}

// Run refreshes the templates until ctx is done. It returns when ctx is
// done, and never fails: errors are logged, and retried.
func (l *Learner) Run(ctx context.Context) {
	interval := l.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	retryMin := l.RetryMin
	if retryMin <= 0 {
		retryMin = DefaultRetry
	}
	retry := min(retryMin, interval)
	log := l.logger()
	failures := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		n, changed, err := l.refresh(ctx)
		var wait time.Duration
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			failures++
			wait = retry
			retry = min(2*retry, interval)
			// The first failure in a row is news; the rest are noise
			// while the app starts or stays down.
			level := slog.LevelDebug
			if failures == 1 {
				level = slog.LevelWarn
			}
			log.Log(ctx, level, "route templates not refreshed; keeping the last ones",
				"url", l.url(), "error", err, "failures", failures, "retry_in", wait)
		default:
			if changed || failures > 0 {
				log.Info("route templates learned", "url", l.url(), "templates", n)
			}
			failures = 0
			retry = min(retryMin, interval)
			wait = interval
		}
		timer.Reset(wait)
	}
}

// Refresh fetches, parses and compiles the document once, and hands the
// Table to the Matcher. It returns the number of templates. On error the
// Matcher keeps the Table it had.
func (l *Learner) Refresh(ctx context.Context) (int, error) {
	n, _, err := l.refresh(ctx)
	return n, err
}

// refresh is Refresh; changed reports whether the templates differ from
// the Matcher's.
func (l *Learner) refresh(ctx context.Context) (n int, changed bool, err error) {
	if l.Matcher == nil {
		return 0, false, errors.New("route: learner: no Matcher")
	}
	doc, err := l.fetch(ctx)
	if err != nil {
		return 0, false, err
	}
	sum := sha256.Sum256(doc)
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur := l.Matcher.Table(); cur != nil && cur == l.lastTable && sum == l.last {
		return cur.Len(), false, nil
	}
	templates, err := ParseOpenAPI(doc)
	if err != nil {
		return 0, false, err
	}
	t, errs := compileSkipping(templates)
	for _, e := range errs {
		l.logger().Warn("route template skipped", "url", l.url(), "error", e)
	}
	if t.Len() == 0 {
		return 0, false, fmt.Errorf("route: %s: no usable path templates", l.url())
	}
	if old := l.Matcher.Table(); old != nil && slices.Equal(old.templates, t.templates) {
		l.last, l.lastTable = sum, old
		return t.Len(), false, nil
	}
	l.Matcher.SetTemplates(t)
	l.last, l.lastTable = sum, t
	return t.Len(), true, nil
}

func (l *Learner) fetch(ctx context.Context) ([]byte, error) {
	u := l.url()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("route: openapi url: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "faultline-route-learner")
	c := l.Client
	if c == nil {
		c = defaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("route: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("route: GET %s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("route: GET %s: %w", u, err)
	}
	if len(body) > MaxDocumentBytes {
		return nil, fmt.Errorf("route: GET %s: document larger than %d bytes", u, MaxDocumentBytes)
	}
	return body, nil
}

func (l *Learner) url() string {
	p := l.Path
	if p == "" {
		p = DefaultOpenAPIPath
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return strings.TrimRight(l.Upstream, "/") + p
}

func (l *Learner) logger() *slog.Logger {
	if l.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Logger
}
