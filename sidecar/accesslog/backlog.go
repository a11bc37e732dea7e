package accesslog

import (
	"context"
	"io"
	"sync"
)

// MaxBacklog is the most bytes of lines that wait for a slow writer.
const MaxBacklog = 1 << 20

// Backlog is an io.Writer that never blocks its callers: each Write
// appends a whole line to a bounded backlog, and one writer goroutine,
// running only while there is a backlog, writes it out in batches. Stdout
// and stderr are pipes to the container runtime, which can stop reading (a
// restarting runtime, a full node disk); a synchronous write would then
// block every request that logs. Past MaxBacklog bytes, lines are dropped,
// and a note saying how many is written once the writer catches up. Lines
// never interleave. It is safe for concurrent use.
type Backlog struct {
	w    io.Writer
	note func(b []byte, dropped int) []byte

	mu      sync.Mutex
	idle    sync.Cond // signalled when the writer stops
	pending []byte    // lines waiting for the writer
	spare   []byte    // the writer's last batch, reused for pending
	writing bool      // the writer goroutine runs
	dropped int       // lines dropped since the last note
}

// NewBacklog returns a Backlog writing to w. note appends the line that
// reports dropped lines to b.
func NewBacklog(w io.Writer, note func(b []byte, dropped int) []byte) *Backlog {
	q := &Backlog{w: w, note: note}
	q.idle.L = &q.mu
	return q
}

// Write queues p, one or more whole lines, or drops it when the backlog is
// full. It never fails and never waits for the writer.
func (q *Backlog) Write(p []byte) (int, error) {
	q.mu.Lock()
	start := false
	if len(q.pending)+len(p) > MaxBacklog {
		q.dropped++
	} else {
		q.pending = append(q.pending, p...)
		start, q.writing = !q.writing, true
	}
	q.mu.Unlock()
	if start {
		go q.drain()
	}
	return len(p), nil
}

// drain writes the backlog until it is empty, then ends.
func (q *Backlog) drain() {
	q.mu.Lock()
	for len(q.pending) > 0 || q.dropped > 0 {
		out := q.pending
		q.pending, q.spare = q.spare[:0], nil
		dropped := q.dropped
		q.dropped = 0
		q.mu.Unlock()
		if dropped > 0 {
			out = q.note(out, dropped)
		}
		_, _ = q.w.Write(out)
		q.mu.Lock()
		if cap(out) <= 2*MaxBacklog {
			q.spare = out[:0]
		}
	}
	q.writing = false
	q.idle.Broadcast()
	q.mu.Unlock()
}

// Flush waits until every queued line is written, or ctx ends.
func (q *Backlog) Flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.idle.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.writing {
		if err := ctx.Err(); err != nil {
			return err
		}
		q.idle.Wait()
	}
	return nil
}
