package route

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeApp serves an OpenAPI document the way a FastAPI app does, and can
// be made to fail.
type fakeApp struct {
	mu       sync.Mutex
	status   int    // 0 means 200
	doc      string // served with 200
	requests []time.Time
	paths    []string
	accept   []string
}

func (a *fakeApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests = append(a.requests, time.Now())
	a.paths = append(a.paths, r.URL.Path)
	a.accept = append(a.accept, r.Header.Get("Accept"))
	if a.status != 0 && a.status != http.StatusOK {
		http.Error(w, "Internal Server Error", a.status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(a.doc))
}

func (a *fakeApp) set(status int, doc string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status, a.doc = status, doc
}

func (a *fakeApp) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.requests)
}

func startApp(t *testing.T, status int, doc string) (*fakeApp, *httptest.Server) {
	t.Helper()
	app := &fakeApp{status: status, doc: doc}
	srv := httptest.NewServer(app)
	t.Cleanup(func() {
		srv.Client().CloseIdleConnections()
		srv.Close()
	})
	return app, srv
}

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// runLearner runs l until the test ends.
func runLearner(t *testing.T, l *Learner) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context was cancelled")
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestLearnerLearnsAtStart(t *testing.T) {
	app, srv := startApp(t, 200, readTestdata(t, "fastapi-0.92-openapi.json"))
	var logs logBuffer
	m := NewMatcher(Options{})
	runLearner(t, &Learner{Upstream: srv.URL + "/", Client: srv.Client(), Matcher: m, Logger: logs.logger()})
	waitFor(t, "a table", func() bool { return m.Table() != nil })
	if got := m.Match("/users/7/orders/9"); got != "/users/{user_id}/orders/{order_id}" {
		t.Errorf("Match = %q after learning", got)
	}
	app.mu.Lock()
	path, accept := app.paths[0], app.accept[0]
	app.mu.Unlock()
	if path != "/openapi.json" || accept != "application/json" {
		t.Errorf("fetched %q with Accept %q", path, accept)
	}
	// Run logs after it sets the table.
	waitFor(t, "the log line", func() bool {
		return strings.Contains(logs.String(), `msg="route templates learned"`) && strings.Contains(logs.String(), "templates=12")
	})
}

func TestLearnerBacksOffWhileAppIsDown(t *testing.T) {
	app, srv := startApp(t, http.StatusServiceUnavailable, "")
	var logs logBuffer
	m := NewMatcher(Options{})
	runLearner(t, &Learner{
		Upstream: srv.URL, Path: "/api/openapi.json", Client: srv.Client(), Matcher: m, Logger: logs.logger(),
		RetryMin: 5 * time.Millisecond, Interval: 80 * time.Millisecond,
	})
	waitFor(t, "five attempts", func() bool { return app.count() >= 5 })
	app.set(200, readTestdata(t, "fastapi-0.92-openapi.json"))
	waitFor(t, "a table", func() bool { return m.Table() != nil })

	app.mu.Lock()
	times, path := app.requests[:5], app.paths[0]
	app.mu.Unlock()
	if path != "/api/openapi.json" {
		t.Errorf("fetched %q, want /api/openapi.json", path)
	}
	// Waits of 5, 10, 20 and 40 ms. A timer never fires early, so each
	// gap is at least its wait however busy the machine is.
	for i, want := range []time.Duration{5, 10, 20, 40} {
		want *= time.Millisecond
		if gap := times[i+1].Sub(times[i]); gap < want {
			t.Errorf("attempt %d came %v after the one before, want at least %v", i+1, gap, want)
		}
	}
	// One warning, not one per attempt.
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings while the app was down, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "503 Service Unavailable") {
		t.Errorf("log does not say why:\n%s", logs.String())
	}
}

func TestLearnerKeepsLastGoodTable(t *testing.T) {
	app, srv := startApp(t, 200, readTestdata(t, "fastapi-0.92-openapi.json"))
	m := NewMatcher(Options{})
	l := &Learner{Upstream: srv.URL, Client: srv.Client(), Matcher: m}
	ctx := context.Background()
	n, err := l.Refresh(ctx)
	if err != nil || n != 12 {
		t.Fatalf("Refresh() = %d, %v; want 12 templates", n, err)
	}
	good := m.Table()

	// An unchanged document keeps the very same Table.
	if _, err := l.Refresh(ctx); err != nil || m.Table() != good {
		t.Errorf("unchanged document: err %v, table swapped: %v", err, m.Table() != good)
	}
	for _, tt := range []struct {
		name   string
		status int
		doc    string
		want   string
	}{
		{"app error", 500, "", "500 Internal Server Error"},
		{"not JSON", 200, "<html>", "route: openapi: "},
		{"no paths", 200, `{"openapi":"3.0.2","info":{"title":"x","version":"1"},"paths":{}}`, "no usable path templates"},
		{"only malformed paths", 200, `{"openapi":"3.0.2","info":{"title":"x","version":"1"},"paths":{"x":{}}}`, "no usable path templates"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app.set(tt.status, tt.doc)
			if _, err := l.Refresh(ctx); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Refresh() error = %v, want %q", err, tt.want)
			}
			if m.Table() != good {
				t.Error("the last good table was replaced")
			}
		})
	}

	// A changed document replaces it; a malformed path in it is skipped.
	app.set(200, `{"openapi":"3.0.2","info":{"title":"x","version":"1"},"paths":{"/v2/items/{id}":{},"bad{":{}}}`)
	if n, err := l.Refresh(ctx); err != nil || n != 1 {
		t.Fatalf("Refresh() = %d, %v; want 1 template", n, err)
	}
	if got := m.Match("/v2/items/3"); got != "/v2/items/{id}" {
		t.Errorf("Match = %q after the change", got)
	}
}

func TestLearnerRefreshesEveryInterval(t *testing.T) {
	app, srv := startApp(t, 200, `{"openapi":"3.0.2","info":{"title":"x","version":"1"},"paths":{"/a":{}}}`)
	m := NewMatcher(Options{})
	runLearner(t, &Learner{Upstream: srv.URL, Client: srv.Client(), Matcher: m, Interval: 10 * time.Millisecond})
	waitFor(t, "a table", func() bool { return m.Table() != nil })
	app.set(200, `{"openapi":"3.0.2","info":{"title":"x","version":"1"},"paths":{"/b":{}}}`)
	waitFor(t, "the new table", func() bool { s, _ := m.Table().Match("/b"); return s == "/b" })
}

func TestLearnerStops(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-r.Context().Done() // hang until the learner gives up
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&Learner{Upstream: srv.URL, Client: srv.Client(), Matcher: NewMatcher(Options{})}).Run(ctx)
	}()
	waitFor(t, "a request", func() bool { return hits.Load() > 0 })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return while a fetch hung")
	}
	srv.Client().CloseIdleConnections()
}

func TestLearnerNoMatcher(t *testing.T) {
	if _, err := (&Learner{Upstream: "http://127.0.0.1:1"}).Refresh(context.Background()); err == nil {
		t.Error("Refresh without a Matcher succeeded")
	}
}
