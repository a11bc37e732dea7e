package page

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

// Stream timing. A comment line after defaultKeepAlive of silence lets a
// proxy or the browser notice a dead connection. After defaultMaxAge the
// stream ends and the page reconnects with Last-Event-ID, so that streams
// are not held for ever and a slot frees up now and then when the bound is
// reached.
const (
	defaultPollInterval = time.Second
	defaultKeepAlive    = 15 * time.Second
	defaultMaxAge       = 10 * time.Minute
	// window is how many of the newest captures each poll reads. A capture
	// is announced when it first appears among them, so one that the
	// recorder writes a little late (IDs are made when a request ends, and
	// written in batches) is still announced.
	window = 100
)

// events is GET /events: a text/event-stream of the summaries of captures
// stored after the stream began. Events:
//
//	event: ready    data: {}              once, when the stream starts
//	event: capture  data: <summary JSON>  id: the capture ID
//	event: gap      data: {}              more captures arrived in one poll
//	                                      than a poll reads; reload the list
//
// A Last-Event-ID header (a capture ID) resumes after that capture. The
// page filters the summaries itself, so one stream serves every view.
type events struct {
	src      Lister
	slots    chan struct{}
	interval time.Duration
	// keepAlive and maxAge are the defaults but for tests.
	keepAlive, maxAge time.Duration
	log               *slog.Logger
	now               func() time.Time
}

func newEvents(src Lister, opts Options, log *slog.Logger) *events {
	n := opts.MaxStreams
	if n <= 0 {
		n = DefaultMaxStreams
	}
	e := &events{
		src: src, slots: make(chan struct{}, n), interval: opts.PollInterval,
		keepAlive: defaultKeepAlive, maxAge: defaultMaxAge, log: log, now: time.Now,
	}
	if e.interval <= 0 {
		e.interval = defaultPollInterval
	}
	return e
}

func (e *events) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		return
	}
	select {
	case e.slots <- struct{}{}:
		defer func() { <-e.slots }()
	default:
		w.Header().Set("Retry-After", "10")
		writeError(w, http.StatusServiceUnavailable, "too many live-update streams; retry later")
		return
	}
	ctx := r.Context()
	top, err := e.src.List(ctx, store.Query{Limit: window})
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("live updates", "err", err)
			writeError(w, http.StatusInternalServerError, "internal error")
		}
		return
	}
	// seen holds the IDs within the window already announced, or present
	// when the stream began; floor is the ID below which nothing is new.
	seen := map[string]bool{}
	floor := ""
	if last := r.Header.Get("Last-Event-ID"); capture.ValidID(last) {
		floor = last
		for _, s := range top {
			if s.ID <= last {
				seen[s.ID] = true
			}
		}
	} else {
		for _, s := range top {
			seen[s.ID] = true
		}
		if len(top) == window {
			floor = top[len(top)-1].ID
		}
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // tell a buffering proxy in front not to
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(s string) bool {
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 2000\nevent: ready\ndata: {}\n\n") {
		return
	}

	poll := time.NewTicker(e.interval)
	defer poll.Stop()
	end := time.NewTimer(e.maxAge)
	defer end.Stop()
	lastWrite := e.now()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-end.C:
			return
		case <-poll.C:
		}
		top, err := e.src.List(ctx, store.Query{Limit: window})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing { // once per outage, not once a second
				e.log.Error("live updates", "err", err)
			}
			failing = true
			continue
		}
		failing = false
		var b strings.Builder
		fresh := 0
		// Oldest first, so that the page can keep the newest last seen.
		for _, s := range slices.Backward(top) {
			if seen[s.ID] || s.ID <= floor {
				continue
			}
			data, err := json.Marshal(s)
			if err != nil {
				continue
			}
			fresh++
			fmt.Fprintf(&b, "id: %s\nevent: capture\ndata: %s\n\n", s.ID, data)
		}
		if fresh == window {
			// Every capture in the window is new: some between it and the
			// last poll may never have been in a window.
			b.WriteString("event: gap\ndata: {}\n\n")
		}
		clear(seen)
		for _, s := range top {
			seen[s.ID] = true
		}
		if b.Len() == 0 && e.now().Sub(lastWrite) >= e.keepAlive {
			b.WriteString(": keep-alive\n\n")
		}
		if b.Len() == 0 {
			continue
		}
		if !send(b.String()) {
			return
		}
		lastWrite = e.now()
	}
}
