package otelsetup

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/faultline-dev/faultline/sidecar/tracing"
	"github.com/faultline-dev/faultline/sidecar/tracing/otlpwire"
)

// Sender posts one encoded ExportTraceServiceRequest to the collector,
// retrying as OTLP says; otlpsend.Sender is the real one. rejected is the
// number of spans the collector refused in a partial success, msg its
// reason.
type Sender interface {
	Send(ctx context.Context, req []byte) (rejected int64, msg string, err error)
	Close() error
}

// maxBatchBytes hands a batch to the export goroutine once its spans take
// this much, whatever their number: it bounds the memory of a batch of
// spans with long paths, and stays under the 4 MiB a gRPC server takes by
// default.
const maxBatchBytes = 1 << 20

// Exporter is the tracing Observer's exporter (tracing.Exporter) that
// FromEnv builds: it encodes each exchange's spans into an OTLP batch as
// the exchange ends (package otlpwire) and posts full batches from one
// goroutine. Against the SDK's span processor and OTLP exporter
// (tracing.Provider with NewEdgeProcessor), a sampled request costs a few
// hundred nanoseconds and no allocation instead of tens of allocations and
// microseconds, and a queued span a few hundred bytes instead of a few
// kilobytes of heap objects.
//
// The queue is bounded: ProcessorOptions.MaxQueueSize spans, in batches
// of MaxExportBatchSize. Export never blocks; the spans of an exchange
// that find every batch full or in flight are dropped and counted
// (DropQueueFull), and so are those of a failed export or refused by the
// collector (DropExportFailed). It is safe for concurrent use; Shutdown
// stops its goroutine.
type Exporter struct {
	head   tracing.HeadSampler
	env    *otlpwire.Envelope
	sender Sender
	o      ProcessorOptions
	log    *slog.Logger

	mu  sync.Mutex
	cur *otlpwire.Batch // filling; nil until a free batch is taken
	// free holds the empty batches, full the ones waiting for export.
	free, full chan *otlpwire.Batch

	flush chan chan struct{}
	stop  chan struct{}
	done  chan struct{}
	// ctx ends the export in flight when Shutdown runs out of time.
	ctx    context.Context
	cancel context.CancelFunc

	stopped  atomic.Bool
	stopOnce sync.Once
	dropped  atomic.Uint64
	exported atomic.Uint64
	// Owned by the export goroutine.
	failing bool
	req     []byte
}

// NewExporter returns an exporter that takes head decisions with head
// (FromEnv's is OTEL_TRACES_SAMPLER's Sampler), frames batches with env
// and posts them with s, and starts its goroutine.
func NewExporter(head tracing.HeadSampler, env *otlpwire.Envelope, s Sender, o ProcessorOptions) *Exporter {
	o = o.withDefaults()
	batches := max(1, o.MaxQueueSize/o.MaxExportBatchSize) + 1 // +1: the one in flight
	e := &Exporter{
		head: head, env: env, sender: s, o: o, log: o.Logger,
		free:  make(chan *otlpwire.Batch, batches),
		full:  make(chan *otlpwire.Batch, batches),
		flush: make(chan chan struct{}),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for range batches {
		e.free <- new(otlpwire.Batch)
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	go e.run()
	return e
}

// SampleHead is the head decision of a request (tracing.HeadSampler).
func (e *Exporter) SampleHead(parent context.Context, traceID trace.TraceID) bool {
	return e.head.SampleHead(parent, traceID)
}

// Export encodes spans into the batch being filled (tracing.Exporter). It
// never blocks on the export: a full batch is handed to the goroutine,
// and without a free batch the spans are dropped.
func (e *Exporter) Export(spans []tracing.Span) {
	if e.stopped.Load() {
		return
	}
	e.mu.Lock()
	if e.cur == nil {
		select {
		case e.cur = <-e.free:
		default:
			e.mu.Unlock()
			e.drop(DropQueueFull, len(spans))
			return
		}
	}
	e.cur.Append(spans)
	if e.cur.Len() >= e.o.MaxExportBatchSize || e.cur.Size() >= maxBatchBytes {
		e.full <- e.cur // never blocks: it has room for every batch
		e.cur = nil
	}
	e.mu.Unlock()
}

// Dropped returns the number of spans lost so far: found the queue full,
// in a failed export, or refused by the collector.
func (e *Exporter) Dropped() uint64 { return e.dropped.Load() }

// Exported returns the number of spans the collector accepted.
func (e *Exporter) Exported() uint64 { return e.exported.Load() }

func (e *Exporter) drop(reason string, n int) {
	e.dropped.Add(uint64(n))
	if e.o.OnDropped != nil {
		e.o.OnDropped(reason, n)
	}
}

// ForceFlush exports every span queued or in the batch being filled,
// waiting until they are sent or ctx ends.
func (e *Exporter) ForceFlush(ctx context.Context) error {
	if e.stopped.Load() {
		return nil
	}
	return flushVia(ctx, e.flush, e.done)
}

// flushVia asks a batching goroutine to drain, through flush, and waits
// for its answer, or for it to stop (done), or for ctx.
func flushVia(ctx context.Context, flush chan<- chan struct{}, done <-chan struct{}) error {
	ack := make(chan struct{})
	select {
	case flush <- ack:
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown exports what is queued, stops the goroutine and closes the
// sender. When ctx ends first, the export in flight is abandoned and its
// spans counted as dropped. Later calls do nothing.
func (e *Exporter) Shutdown(ctx context.Context) error {
	var err error
	e.stopOnce.Do(func() {
		e.stopped.Store(true)
		close(e.stop)
		select {
		case <-e.done:
		case <-ctx.Done():
			e.cancel()
			<-e.done
			err = ctx.Err()
		}
		e.cancel()
		if cerr := e.sender.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// run exports the batches that fill up, and the one being filled every
// ScheduleDelay, until stop.
func (e *Exporter) run() {
	defer close(e.done)
	timer := time.NewTimer(e.o.ScheduleDelay)
	defer timer.Stop()
	// drain exports every full batch, then the one being filled.
	drain := func() {
		for {
			select {
			case b := <-e.full:
				e.export(b)
			default:
				e.export(e.take())
				return
			}
		}
	}
	for {
		select {
		case b := <-e.full:
			e.export(b)
		case <-timer.C:
			e.export(e.take())
			timer.Reset(e.o.ScheduleDelay)
		case ack := <-e.flush:
			drain()
			close(ack)
		case <-e.stop:
			drain()
			return
		}
	}
}

// take removes the batch being filled, if any.
func (e *Exporter) take() *otlpwire.Batch {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.cur
	e.cur = nil
	return b
}

// export sends b's spans, counts them, and frees b.
func (e *Exporter) export(b *otlpwire.Batch) {
	if b == nil {
		return
	}
	defer func() {
		if b.Size() > maxBatchBytes {
			b = new(otlpwire.Batch) // do not keep a batch of huge spans' memory
		}
		b.Reset()
		e.free <- b
	}()
	n := b.Len()
	if n == 0 {
		return
	}
	e.req = e.env.AppendRequest(e.req[:0], b)
	ctx, cancel := context.WithTimeout(e.ctx, e.o.ExportTimeout)
	rejected, msg, err := e.sender.Send(ctx, e.req)
	cancel()
	if cap(e.req) > 2*maxBatchBytes {
		e.req = nil // a batch of huge spans: do not keep its memory
	}
	if err != nil {
		e.drop(DropExportFailed, n)
		if !e.failing {
			e.failing = true
			e.log.Warn("span export failing; spans are dropped until it recovers", "err", err)
		}
		return
	}
	if rejected > 0 {
		e.drop(DropExportFailed, int(min(rejected, int64(n))))
		e.log.Warn("the collector refused spans", "rejected", rejected, "reason", msg)
		n -= int(min(rejected, int64(n)))
	}
	e.exported.Add(uint64(n))
	if e.failing {
		e.failing = false
		e.log.Info("span export recovered", "dropped_total", e.dropped.Load())
	}
}
