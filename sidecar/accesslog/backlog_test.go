package accesslog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// stuckWriter blocks every Write until release is closed, then records.
type stuckWriter struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
	writes  int
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

func (w *stuckWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestStalledWriterNeverBlocksRequests: with the writer stuck (a log pipe
// nobody reads), End returns at once however many lines come; the
// backlog stays under MaxBacklog; once the writer moves again, the
// backlog is written, with a line that counts the dropped ones, and the
// writer goroutine ends.
func TestStalledWriterNeverBlocksRequests(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, format := range []Format{JSON, Text} {
		t.Run(string(format), func(t *testing.T) {
			w := &stuckWriter{release: make(chan struct{})}
			l := New(w, format)
			const n = 20000
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := range n {
					l.End(exchangeFor(fmt.Sprintf("/items/%d", i)))
				}
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("End blocked on a stuck writer")
			}
			l.out.mu.Lock()
			backlog, dropped := len(l.out.pending), l.out.dropped
			l.out.mu.Unlock()
			if backlog > MaxBacklog || dropped == 0 {
				t.Errorf("backlog %d bytes (max %d), %d dropped", backlog, MaxBacklog, dropped)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			if err := l.Flush(ctx); err == nil {
				t.Error("Flush returned nil with the writer stuck")
			}
			cancel()
			close(w.release)
			if err := l.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			out := w.String()
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			var note string
			for _, line := range lines {
				if strings.Contains(line, "access log lines dropped") {
					note = line
				}
				if format == JSON {
					var v map[string]any
					if err := json.Unmarshal([]byte(line), &v); err != nil {
						t.Fatalf("not JSON: %q", line)
					}
				}
			}
			if note == "" {
				t.Fatal("no line reports the dropped lines")
			}
			if !strings.Contains(note, fmt.Sprint(dropped)) {
				t.Errorf("note %q does not count %d dropped lines", note, dropped)
			}
			if got := len(lines) - 1; got+dropped != n {
				t.Errorf("%d lines written + %d dropped != %d", got, dropped, n)
			}
			t.Logf("%d lines written in %d writes, %d dropped", len(lines)-1, w.writes, dropped)
		})
	}
}

// TestLinesNeverInterleave: many goroutines log at once; every line
// arrives whole, once.
func TestLinesNeverInterleave(t *testing.T) {
	defer goleak.VerifyNone(t)
	var buf bytes.Buffer
	l := New(&buf, JSON)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				l.End(exchangeFor(fmt.Sprintf("/g%d/%d", g, i)))
			}
		})
	}
	wg.Wait()
	l.Flush(context.Background())
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
		var v struct{ Path string }
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("broken line %q", line)
		}
		if seen[v.Path] {
			t.Fatalf("%s twice", v.Path)
		}
		seen[v.Path] = true
	}
	if len(seen) != 4000 {
		t.Errorf("%d lines, want 4000", len(seen))
	}
}
