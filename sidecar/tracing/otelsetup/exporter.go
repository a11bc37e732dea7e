package otelsetup

import (
	"context"
	"sync"
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
	batcher
	head   tracing.HeadSampler
	env    *otlpwire.Envelope
	sender Sender

	mu  sync.Mutex
	cur *otlpwire.Batch // filling; nil until a free batch is taken
	// free holds the empty batches, full the ones waiting for export.
	free, full chan *otlpwire.Batch
	req        []byte // owned by the export goroutine
}

// NewExporter returns an exporter that takes head decisions with head
// (FromEnv's is OTEL_TRACES_SAMPLER's Sampler), frames batches with env
// and posts them with s, and starts its goroutine.
func NewExporter(head tracing.HeadSampler, env *otlpwire.Envelope, s Sender, o ProcessorOptions) *Exporter {
	o = o.withDefaults()
	batches := max(1, o.MaxQueueSize/o.MaxExportBatchSize) + 1 // +1: the one in flight
	e := &Exporter{head: head, env: env, sender: s,
		free: make(chan *otlpwire.Batch, batches),
		full: make(chan *otlpwire.Batch, batches),
	}
	for range batches {
		e.free <- new(otlpwire.Batch)
	}
	e.init(o)
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

// Shutdown exports what is queued, stops the goroutine and closes the
// sender. When ctx ends first, the export in flight is abandoned and its
// spans counted as dropped. Later calls do nothing.
func (e *Exporter) Shutdown(ctx context.Context) error {
	return e.shutdown(ctx, func(context.Context) error { return e.sender.Close() })
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
	ctx, cancel := e.exportTimeout()
	rejected, msg, err := e.sender.Send(ctx, e.req)
	cancel()
	if cap(e.req) > 2*maxBatchBytes {
		e.req = nil // a batch of huge spans: do not keep its memory
	}
	e.outcome(n, rejected, msg, err)
}
