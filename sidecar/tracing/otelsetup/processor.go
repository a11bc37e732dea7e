package otelsetup

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/faultline-dev/faultline/sidecar/tracing"
)

// Defaults of ProcessorOptions, those of the SDK's batch span processor.
const (
	DefaultMaxQueueSize       = 2048
	DefaultMaxExportBatchSize = 512
	DefaultScheduleDelay      = 5 * time.Second
	DefaultExportTimeout      = 30 * time.Second
)

// Reasons a span is dropped, passed to ProcessorOptions.OnDropped.
const (
	// DropQueueFull: the queue was full (the exporter is slower than the
	// traffic, or the collector is down and exports wait for it).
	DropQueueFull = "queue_full"
	// DropExportFailed: the exporter gave up on a batch (collector down or
	// refusing, past the export timeout).
	DropExportFailed = "export_failed"
)

// ProcessorOptions configures an EdgeProcessor. The zero value means the
// defaults.
type ProcessorOptions struct {
	// MaxQueueSize bounds the spans waiting for export (default 2048);
	// past it, spans are dropped, never waited for.
	MaxQueueSize int
	// MaxExportBatchSize is the most spans per export (default 512).
	MaxExportBatchSize int
	// ScheduleDelay is the longest a span waits for its batch to fill
	// (default 5s).
	ScheduleDelay time.Duration
	// ExportTimeout bounds one export, retries included (default 30s).
	ExportTimeout time.Duration
	// SlowThreshold exports every span at least this long. Zero means
	// tracing.DefaultSlowThreshold; a negative value exports none for
	// being slow.
	SlowThreshold time.Duration
	// OnDropped is called with the reason (DropQueueFull,
	// DropExportFailed) and count of spans lost. It is called on the
	// request path for DropQueueFull: it must be fast and safe for
	// concurrent use. Nil only counts them (Dropped).
	OnDropped func(reason string, n int)
	// Logger is told when exports start failing and when they recover
	// (once each, not per batch). Nil discards.
	Logger *slog.Logger
}

// EdgeProcessor is the span processor of error-biased sampling. It exports
// a span that is sampled, or has status Error, or carries tracing.KeepKey,
// or lasted at least SlowThreshold; it drops the others. The tracing
// Observer only makes the spans of sampled and kept requests, so it drops
// few of its spans; the rule still holds for any other span the RecordAll
// sampler records unsampled, and when the Observer's slow threshold is
// longer than this one.
//
// Exports are batched on one goroutine through a bounded queue: OnEnd
// never blocks, and a span that finds the queue full is dropped and
// counted. EdgeProcessor is safe for concurrent use; Shutdown stops its
// goroutine.
type EdgeProcessor struct {
	batcher
	exporter sdktrace.SpanExporter
	queue    chan sdktrace.ReadOnlySpan
}

// withDefaults fills in the zero fields.
func (o ProcessorOptions) withDefaults() ProcessorOptions {
	if o.MaxQueueSize <= 0 {
		o.MaxQueueSize = DefaultMaxQueueSize
	}
	if o.MaxExportBatchSize <= 0 {
		o.MaxExportBatchSize = DefaultMaxExportBatchSize
	}
	o.MaxExportBatchSize = min(o.MaxExportBatchSize, o.MaxQueueSize)
	if o.ScheduleDelay <= 0 {
		o.ScheduleDelay = DefaultScheduleDelay
	}
	if o.ExportTimeout <= 0 {
		o.ExportTimeout = DefaultExportTimeout
	}
	if o.SlowThreshold == 0 {
		o.SlowThreshold = tracing.DefaultSlowThreshold
	}
	return o
}

// NewEdgeProcessor returns a processor exporting to exp and starts its
// export goroutine.
func NewEdgeProcessor(exp sdktrace.SpanExporter, o ProcessorOptions) *EdgeProcessor {
	o = o.withDefaults()
	p := &EdgeProcessor{exporter: exp, queue: make(chan sdktrace.ReadOnlySpan, o.MaxQueueSize)}
	p.init(o)
	go p.run()
	return p
}

// OnStart does nothing: the decision needs the span's end.
func (p *EdgeProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues s for export when Keeps says so. It never blocks.
func (p *EdgeProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if p.stopped.Load() || !p.Keeps(s) {
		return
	}
	select {
	case p.queue <- s:
	default:
		p.drop(DropQueueFull, 1)
	}
}

// Keeps reports whether s is exported: sampled, an error, marked with
// tracing.KeepKey true, or slow and not marked with tracing.KeepKey false.
func (p *EdgeProcessor) Keeps(s sdktrace.ReadOnlySpan) bool {
	if s.SpanContext().IsSampled() || s.Status().Code == codes.Error {
		return true
	}
	for _, kv := range s.Attributes() {
		if kv.Key == tracing.KeepKey {
			// False vetoes the slow rule: a stream long by design.
			return kv.Value.AsBool()
		}
	}
	return p.o.SlowThreshold > 0 && s.EndTime().Sub(s.StartTime()) >= p.o.SlowThreshold
}

// Shutdown exports what is queued and stops the export goroutine, then
// shuts the exporter down. When ctx ends first, the export in flight is
// abandoned. Later calls do nothing.
func (p *EdgeProcessor) Shutdown(ctx context.Context) error {
	return p.shutdown(ctx, p.exporter.Shutdown)
}

// run batches the queue into exports until stop.
func (p *EdgeProcessor) run() {
	defer close(p.done)
	batch := make([]sdktrace.ReadOnlySpan, 0, p.o.MaxExportBatchSize)
	timer := time.NewTimer(p.o.ScheduleDelay)
	defer timer.Stop()
	export := func() {
		if len(batch) > 0 {
			p.export(batch)
			clear(batch)
			batch = batch[:0]
		}
		timer.Reset(p.o.ScheduleDelay)
	}
	// drain exports everything queued now.
	drain := func() {
		for {
			select {
			case s := <-p.queue:
				batch = append(batch, s)
				if len(batch) == cap(batch) {
					export()
				}
			default:
				export()
				return
			}
		}
	}
	for {
		select {
		case s := <-p.queue:
			batch = append(batch, s)
			if len(batch) == cap(batch) {
				export()
			}
		case <-timer.C:
			export()
		case ack := <-p.flush:
			drain()
			close(ack)
		case <-p.stop:
			drain()
			return
		}
	}
}

func (p *EdgeProcessor) export(batch []sdktrace.ReadOnlySpan) {
	ctx, cancel := p.exportTimeout()
	err := p.exporter.ExportSpans(ctx, batch)
	cancel()
	p.outcome(len(batch), 0, "", err)
}
