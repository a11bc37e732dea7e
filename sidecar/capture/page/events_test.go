package page

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

// fakeLister is a store of summaries; err, when set, fails every List.
type fakeLister struct {
	mu    sync.Mutex
	caps  []capture.Summary // newest first
	err   error
	calls int
}

func (f *fakeLister) List(ctx context.Context, q store.Query) ([]capture.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	n := min(q.Limit, len(f.caps))
	return slices.Clone(f.caps[:n]), nil
}

var clock = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// add stores n captures and returns their IDs, oldest first; each is a
// millisecond after the last.
func (f *fakeLister) add(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for range n {
		clock = clock.Add(time.Millisecond)
		s := capture.Summary{ID: makeID(clock), Time: clock, Route: "/items", Method: "POST", Path: "/items", Status: 422}
		f.caps = append([]capture.Summary{s}, f.caps...)
		ids = append(ids, s.ID)
	}
	return ids
}

// addLate stores a capture whose ID is older than the newest, as when the
// recorder writes one a moment after a later one.
func (f *fakeLister) addLate(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.caps = append(f.caps, capture.Summary{ID: id, Status: 500})
	slices.SortFunc(f.caps, func(a, b capture.Summary) int { return strings.Compare(b.ID, a.ID) })
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// makeID returns the smallest capture ID of t's millisecond. (capture.NewID
// would do, but its IDs never go back in time, and other tests make IDs
// for the present.)
func makeID(t time.Time) string {
	ms := t.UnixMilli()
	b := []byte(strings.Repeat("0", capture.IDLen))
	for i := 9; i >= 0; i-- {
		b[i] = crockford[ms&31]
		ms >>= 5
	}
	return string(b)
}

// successor returns the ID right after id: same millisecond, random part
// plus one.
func successor(id string) string {
	b := []byte(id)
	for i := len(b) - 1; i >= 10; i-- {
		if j := strings.IndexByte(crockford, b[i]); j < 31 {
			b[i] = crockford[j+1]
			return string(b)
		}
		b[i] = '0'
	}
	panic("no successor for " + id)
}

func (f *fakeLister) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

type event struct {
	name, id, data string
	comment        bool
}

// stream is one open GET /events.
type stream struct {
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

func openStream(t *testing.T, srv *httptest.Server, hdr ...string) *stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &stream{resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(s.close)
	return s
}

func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next reads one event (or comment) from the stream.
func (s *stream) next(t *testing.T) event {
	t.Helper()
	var ev event
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (after %+v)", err, ev)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev != (event{}) {
				return ev
			}
		case strings.HasPrefix(line, ":"):
			ev.comment = true
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		case strings.HasPrefix(line, "retry: "):
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
}

func (s *stream) expect(t *testing.T, name string) event {
	t.Helper()
	ev := s.next(t)
	if ev.name != name {
		t.Fatalf("event %+v, want %q", ev, name)
	}
	return ev
}

func newEventServer(t *testing.T, src Lister, opts Options) *httptest.Server {
	t.Helper()
	if opts.PollInterval == 0 {
		opts.PollInterval = 5 * time.Millisecond
	}
	srv := httptest.NewServer(Handler(src, opts))
	t.Cleanup(srv.Close)
	return srv
}

func TestEventsNewCaptures(t *testing.T) {
	src := &fakeLister{}
	src.add(3) // before the stream: never sent
	srv := newEventServer(t, src, Options{})
	s := openStream(t, srv)
	if ct := s.resp.Header.Get("Content-Type"); s.resp.StatusCode != 200 || ct != "text/event-stream; charset=utf-8" {
		t.Fatalf("%d %q", s.resp.StatusCode, ct)
	}
	checkHeaders(t, s.resp)
	s.expect(t, "ready")

	ids := src.add(2)
	for _, id := range ids { // oldest first
		ev := s.expect(t, "capture")
		var got capture.Summary
		if err := json.Unmarshal([]byte(ev.data), &got); err != nil {
			t.Fatal(err)
		}
		if ev.id != id || got.ID != id || got.Status != 422 || got.Route != "/items" {
			t.Errorf("event %+v, want capture %s", ev, id)
		}
	}

	// A capture written after a newer one is announced all the same.
	late := successor(ids[0]) // older than ids[1]
	src.addLate(late)
	if ev := s.expect(t, "capture"); ev.id != late {
		t.Errorf("late capture: got %+v, want %s", ev, late)
	}
	next := src.add(1)[0]
	if ev := s.expect(t, "capture"); ev.id != next {
		t.Errorf("got %+v, want %s (nothing sent twice)", ev, next)
	}
}

func TestEventsResume(t *testing.T) {
	src := &fakeLister{}
	ids := src.add(5)
	srv := newEventServer(t, src, Options{})
	s := openStream(t, srv, "Last-Event-ID", ids[2])
	s.expect(t, "ready")
	for _, id := range ids[3:] {
		if ev := s.expect(t, "capture"); ev.id != id {
			t.Errorf("resumed with %+v, want %s", ev, id)
		}
	}
	// A Last-Event-ID that is not an ID starts from now.
	s2 := openStream(t, srv, "Last-Event-ID", "bogus")
	s2.expect(t, "ready")
	id := src.add(1)[0]
	if ev := s2.expect(t, "capture"); ev.id != id {
		t.Errorf("got %+v, want %s", ev, id)
	}
}

func TestEventsGap(t *testing.T) {
	src := &fakeLister{}
	src.add(1)
	srv := newEventServer(t, src, Options{})
	s := openStream(t, srv)
	s.expect(t, "ready")
	src.add(window + 5)
	for range window {
		s.expect(t, "capture")
	}
	s.expect(t, "gap")
}

func TestEventsBounded(t *testing.T) {
	src := &fakeLister{}
	srv := newEventServer(t, src, Options{MaxStreams: 2})
	a := openStream(t, srv)
	a.expect(t, "ready")
	b := openStream(t, srv)
	b.expect(t, "ready")

	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	a.close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := openStream(t, srv)
		if c.resp.StatusCode == 200 {
			c.expect(t, "ready")
			break
		}
		c.close()
		if time.Now().After(deadline) {
			t.Fatal("a closed stream's slot was not freed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEventsKeepAliveAndMaxAge(t *testing.T) {
	src := &fakeLister{}
	srv := newEventServer(t, src, Options{})
	e := srv.Config.Handler.(*handler).events
	e.keepAlive = 20 * time.Millisecond
	e.maxAge = 300 * time.Millisecond
	s := openStream(t, srv)
	s.expect(t, "ready")
	if ev := s.next(t); !ev.comment {
		t.Errorf("got %+v, want a keep-alive comment", ev)
	}
	// The stream ends by itself after maxAge.
	done := make(chan error, 1)
	go func() {
		_, err := s.r.ReadString(0)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || strings.Contains(err.Error(), "context") {
			t.Errorf("stream ended with %v, want EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream did not end after maxAge")
	}
}

func TestEventsStoreErrors(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	src := &fakeLister{err: errors.New("disk I/O error at /var/lib/secret")}
	srv := newEventServer(t, src, Options{Logger: log})

	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 500 || body.Error != "internal error" {
		t.Errorf("store down at start: %d %q", resp.StatusCode, body.Error)
	}

	// Down while streaming: logged once, and the stream goes on.
	src.setErr(nil)
	s := openStream(t, srv)
	s.expect(t, "ready")
	src.setErr(errors.New("database is locked"))
	time.Sleep(50 * time.Millisecond) // several polls
	src.setErr(nil)
	id := src.add(1)[0]
	if ev := s.expect(t, "capture"); ev.id != id {
		t.Errorf("after the outage: %+v", ev)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "database is locked"); n != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "/var/lib/secret") {
		t.Error("the start-up error was not logged")
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
