package otelsetup

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
)

// batcher is what the Exporter and the EdgeProcessor share: one export
// goroutine that flushes on request and stops on Shutdown, the counts of
// spans exported and dropped, and a log of outages that says once when
// exports start failing and once when they recover.
type batcher struct {
	o   ProcessorOptions
	log *slog.Logger

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
	failing  bool // owned by the export goroutine
}

// init prepares b for a goroutine that selects on b.flush and b.stop and
// closes b.done when it returns.
func (b *batcher) init(o ProcessorOptions) {
	b.o, b.log = o, o.Logger
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.flush = make(chan chan struct{})
	b.stop = make(chan struct{})
	b.done = make(chan struct{})
	b.ctx, b.cancel = context.WithCancel(context.Background())
}

// Dropped returns the number of spans lost so far: found the queue full,
// in a failed export, or refused by the collector.
func (b *batcher) Dropped() uint64 { return b.dropped.Load() }

// Exported returns the number of spans the collector accepted.
func (b *batcher) Exported() uint64 { return b.exported.Load() }

func (b *batcher) drop(reason string, n int) {
	b.dropped.Add(uint64(n))
	if b.o.OnDropped != nil {
		b.o.OnDropped(reason, n)
	}
}

// ForceFlush exports what is queued, waiting until it is exported or ctx
// ends.
func (b *batcher) ForceFlush(ctx context.Context) error {
	if b.stopped.Load() {
		return nil
	}
	ack := make(chan struct{})
	select {
	case b.flush <- ack:
	case <-b.done:
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

// shutdown stops the goroutine once it has exported what is queued, then
// calls release (the exporter's or sender's own shutdown). When ctx ends
// first, the export in flight is abandoned. Later calls do nothing.
func (b *batcher) shutdown(ctx context.Context, release func(context.Context) error) error {
	var err error
	b.stopOnce.Do(func() {
		b.stopped.Store(true)
		close(b.stop)
		select {
		case <-b.done:
		case <-ctx.Done():
			b.cancel()
			<-b.done
			err = ctx.Err()
		}
		b.cancel()
		if rerr := release(ctx); err == nil {
			err = rerr
		}
	})
	return err
}

// exportTimeout is the context of one export.
func (b *batcher) exportTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, b.o.ExportTimeout)
}

// outcome counts an export of n spans that failed with err, or succeeded
// with rejected of them refused, and logs the start and end of outages.
func (b *batcher) outcome(n int, rejected int64, msg string, err error) {
	if err != nil {
		b.drop(DropExportFailed, n)
		if !b.failing {
			b.failing = true
			b.log.Warn("span export failing; spans are dropped until it recovers", "err", err)
		}
		return
	}
	if rejected > 0 {
		r := int(min(rejected, int64(n)))
		b.drop(DropExportFailed, r)
		b.log.Warn("the collector refused spans", "rejected", rejected, "reason", msg)
		n -= r
	}
	b.exported.Add(uint64(n))
	if b.failing {
		b.failing = false
		b.log.Info("span export recovered", "dropped_total", b.dropped.Load())
	}
}
