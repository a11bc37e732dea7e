// Package recorder takes captures from the request path and stores them in
// the background, redacted first, without ever slowing or failing a request.
//
// The proxy calls Offer for each exchange it decided to capture. Offer
// checks a token bucket per route and status and puts the capture on a
// bounded queue, or drops it and counts why; it never blocks. One writer
// goroutine drains the queue: it passes each capture through the Redactor
// and only then writes a small batch to the Sink (the SQLite store) in one
// transaction.
package recorder

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline-dev/faultline/sidecar/capture"
	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

// Redactor removes secrets from a capture in place. The recorder calls it
// from its one writer goroutine, before the capture is written anywhere.
// A Redactor that panics loses that capture, never the process.
type Redactor interface {
	Capture(c *capture.Capture)
}

// Sink stores captures; *store.Store is one. Put stores a batch and returns
// how many older captures it evicted to make room; Bytes is the size of
// the store on disk. The recorder calls both from one goroutine.
type Sink interface {
	Put(ctx context.Context, cs []*capture.Capture) (evicted int, err error)
	Bytes() int64
}

// Options configures a Recorder. The zero value means the defaults.
type Options struct {
	// QueueSize is how many captures may wait for the writer; default 1024.
	QueueSize int
	// QueueBytes bounds the memory the waiting captures hold (their
	// bodies, headers and URLs); default 32 MiB. With bodies of up to
	// --capture-max-body each way, QueueSize alone would let a flood of
	// large failing requests pin 1024 × 128 KiB in the queue.
	QueueBytes int64
	// BatchSize is the most captures written in one transaction; default 64.
	BatchSize int
	// Rate is how many captures per second are kept for one route and
	// status (default 5); a negative Rate turns the limit off.
	Rate float64
	// Burst is how many captures of one route and status may come at once;
	// default 4 × Rate, at least 1.
	Burst int
	// MaxKeys bounds the route and status pairs with their own bucket
	// (default 4096); past it, new pairs share one bucket.
	MaxKeys int
	// Metrics receives the counts; nil counts nothing.
	Metrics *Metrics
	// Logger receives store failures, at most one line per
	// ErrorLogInterval while they last; nil discards them.
	Logger *slog.Logger
	// ErrorLogInterval spaces out the store failure lines; default 1 minute.
	ErrorLogInterval time.Duration
	// PutTimeout bounds one batch write; default 30 s.
	PutTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Recorder queues captures and writes them in the background. Offer is
// safe for concurrent use.
type Recorder struct {
	sink     Sink
	redactor Redactor
	opts     Options
	log      *slog.Logger
	limiter  *limiter // nil when the rate limit is off

	mu     sync.RWMutex // guards closed and the closing of queue
	closed bool
	queue  chan queued
	// queuedBytes is the size of the captures offered and not yet written.
	queuedBytes atomic.Int64

	ctx   context.Context // cancelled when Close gives up waiting
	abort context.CancelFunc
	done  chan struct{}

	// Counters resolved once, so Offer does no label hashing.
	queueFull, rateLimited, storeError, evicted prometheus.Counter

	// Writer state.
	failing      bool
	failedSince  time.Time
	lastErrorLog time.Time
	suppressed   int
}

// New starts a Recorder that writes to sink through redactor. Both are
// required: redaction is not optional. Close stops it.
func New(sink Sink, redactor Redactor, opts Options) (*Recorder, error) {
	if sink == nil {
		return nil, errors.New("recorder: nil sink")
	}
	if redactor == nil {
		return nil, errors.New("recorder: nil redactor (redaction is not optional)")
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.QueueBytes <= 0 {
		opts.QueueBytes = 32 << 20
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 64
	}
	if opts.Rate == 0 {
		opts.Rate = 5
	}
	if opts.Burst <= 0 {
		opts.Burst = max(1, int(4*opts.Rate))
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 4096
	}
	if opts.ErrorLogInterval <= 0 {
		opts.ErrorLogInterval = time.Minute
	}
	if opts.PutTimeout <= 0 {
		opts.PutTimeout = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Recorder{
		sink:     sink,
		redactor: redactor,
		opts:     opts,
		log:      opts.Logger,
		queue:    make(chan queued, opts.QueueSize),
		done:     make(chan struct{}),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if opts.Rate > 0 {
		r.limiter = newLimiter(opts.Rate, float64(opts.Burst), opts.MaxKeys)
	}
	m := opts.Metrics
	if m == nil {
		m = newMetrics() // counted, but registered nowhere
	}
	r.queueFull = m.Dropped.WithLabelValues(mn.DropQueueFull)
	r.rateLimited = m.Dropped.WithLabelValues(mn.DropRateLimited)
	r.storeError = m.Dropped.WithLabelValues(mn.DropStoreError)
	r.evicted = m.Dropped.WithLabelValues(mn.DropEvicted)
	r.opts.Metrics = m
	r.ctx, r.abort = context.WithCancel(context.Background())
	m.StoreBytes.Set(float64(sink.Bytes()))
	go r.run()
	return r, nil
}

// queued is a capture waiting for the writer, with the bytes it holds.
type queued struct {
	c    *capture.Capture
	size int64
}

// captureSize estimates the memory c holds: its bodies, URL and header
// values, and a fixed overhead for the rest.
func captureSize(c *capture.Capture) int64 {
	n := 512 + len(c.Request.URL) + len(c.Request.Body.Text) + len(c.Response.Body.Text)
	for _, fs := range [][]capture.Field{c.Request.Headers, c.Request.Cookies, c.Response.Headers} {
		for _, f := range fs {
			n += len(f.Name) + len(f.Value) + 32
		}
	}
	return int64(n)
}

// Offer hands c to the recorder and reports whether it was queued. It never
// blocks: a capture past its route and status's rate, or one that finds the
// queue full (in count or in bytes), is dropped and counted. Offer takes c: the caller must not
// use it afterwards, whatever the result, since the writer redacts it in
// place. A capture without an ID gets one when it is stored; callers that
// want to log the ID set it first with capture.NewID. After Close, Offer
// returns false.
func (r *Recorder) Offer(c *capture.Capture) bool {
	if c == nil {
		return false
	}
	if r.limiter != nil && !r.limiter.allow(c.Route, c.Response.Status, r.opts.Now()) {
		r.rateLimited.Inc()
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return false
	}
	size := captureSize(c)
	if r.queuedBytes.Add(size) > r.opts.QueueBytes {
		r.queuedBytes.Add(-size)
		r.queueFull.Inc()
		return false
	}
	select {
	case r.queue <- queued{c, size}:
		return true
	default:
		r.queuedBytes.Add(-size)
		r.queueFull.Inc()
		return false
	}
}

// Close stops accepting captures, writes those queued, and returns when the
// writer is done. If ctx ends first, the writer stops writing, the rest of
// the queue is counted as store errors, and Close returns ctx's error once
// the writer has exited. Close does not close the Sink.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.queue)
	}
	r.mu.Unlock()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		r.abort()
		<-r.done
		return ctx.Err()
	}
}

// run is the writer: it drains the queue in batches until Close.
func (r *Recorder) run() {
	defer close(r.done)
	defer r.abort()
	batch := make([]*capture.Capture, 0, r.opts.BatchSize)
	for q := range r.queue {
		batch = append(batch, q.c)
		size := q.size
	fill:
		for len(batch) < r.opts.BatchSize {
			select {
			case q, ok := <-r.queue:
				if !ok {
					break fill
				}
				batch = append(batch, q.c)
				size += q.size
			default:
				break fill
			}
		}
		r.write(batch)
		clear(batch)
		batch = batch[:0]
		r.queuedBytes.Add(-size)
	}
}

// write redacts a batch and stores it.
func (r *Recorder) write(batch []*capture.Capture) {
	kept := batch[:0]
	for _, c := range batch {
		if r.redact(c) {
			kept = append(kept, c)
		} else {
			r.storeError.Inc()
		}
	}
	if len(kept) == 0 {
		return
	}
	if r.ctx.Err() != nil {
		// Close gave up waiting: these were never stored.
		r.storeError.Add(float64(len(kept)))
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.PutTimeout)
	evicted, err := r.sink.Put(ctx, kept)
	cancel()
	if err != nil {
		r.storeError.Add(float64(len(kept)))
		r.storeFailed(err, len(kept))
		return
	}
	if r.failing {
		r.log.Info("capture store writes again", "failing_for", r.opts.Now().Sub(r.failedSince).Round(time.Second).String(),
			"dropped_since_last_line", r.suppressed)
		r.failing, r.suppressed = false, 0
	}
	for _, c := range kept {
		r.opts.Metrics.Captured.WithLabelValues(strconv.Itoa(c.Response.Status)).Inc()
	}
	r.evicted.Add(float64(evicted))
	r.opts.Metrics.StoreBytes.Set(float64(r.sink.Bytes()))
}

// redact runs the redactor, and reports false if it panicked: the capture
// may then hold secrets and must not be stored. The panic value is not
// logged, since it may quote one.
func (r *Recorder) redact(c *capture.Capture) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
			r.log.Error("capture redactor panicked; capture dropped", "route", c.Route, "status", c.Response.Status)
		}
	}()
	r.redactor.Capture(c)
	return true
}

// storeFailed logs a store error: the first at once, then at most one line
// per ErrorLogInterval with the count of failures in between.
func (r *Recorder) storeFailed(err error, dropped int) {
	now := r.opts.Now()
	if !r.failing {
		r.failing, r.failedSince = true, now
	} else if now.Sub(r.lastErrorLog) < r.opts.ErrorLogInterval {
		r.suppressed += dropped
		return
	}
	r.log.Error("capture store failing; captures are dropped until it recovers",
		"err", err, "dropped", dropped+r.suppressed)
	r.lastErrorLog, r.suppressed = now, 0
}
