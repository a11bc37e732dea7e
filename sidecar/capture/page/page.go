// Package page serves the capture browser, the web page on the admin
// listener (SPEC: GET / on --admin-listen), and its live-update stream.
//
// Everything the page needs is embedded in the binary: it loads nothing
// from elsewhere and works offline. The page's files hold no captured data;
// the browser reads captures from the admin API, sending the admin token
// that the user types once and that the page keeps in the tab's session
// storage. Public tells which requests are for those files, so that the
// token check can let them through; GET /events, the live stream of new
// captures, carries captured data and must stay behind it.
//
// The page never interprets captured content. Every captured value becomes
// DOM text, never markup, and the Content-Security-Policy forbids inline
// script and, with Trusted Types, every string-to-HTML sink, so that a bug
// that tried would fail closed.
package page

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

//go:embed assets
var assets embed.FS

// Lister lists capture summaries, newest first; *store.Store is one. It is
// called concurrently, once per poll of each live-update stream.
type Lister interface {
	List(ctx context.Context, q store.Query) ([]capture.Summary, error)
}

// Options configures the page. The zero value shows trace ids as text and
// allows DefaultMaxStreams live-update streams.
type Options struct {
	// TraceURL, when set, turns trace ids into links: an http or https URL
	// in which {trace_id} is replaced by the id, for example
	// "http://grafana:3000/explore?left=...{trace_id}..." for Tempo or
	// "http://jaeger:16686/trace/{trace_id}". A template that CheckTraceURL
	// rejects is ignored with a warning; validate it at start-up.
	TraceURL string
	// MaxStreams bounds the live-update streams served at once; more are
	// answered 503 and the page retries. Zero means DefaultMaxStreams.
	MaxStreams int
	// PollInterval is how often each stream looks for new captures; zero
	// means one second.
	PollInterval time.Duration
	// Logger receives errors reading the store. Nil discards them.
	Logger *slog.Logger
}

// DefaultMaxStreams is the default bound on live-update streams: a few
// developers with a tab or two each.
const DefaultMaxStreams = 16

// TracePlaceholder is replaced by the trace id in Options.TraceURL.
const TracePlaceholder = "{trace_id}"

// CheckTraceURL reports why s is not a usable trace link template, or nil:
// it must be an absolute http or https URL with a host, containing
// {trace_id}.
func CheckTraceURL(s string) error {
	if !strings.Contains(s, TracePlaceholder) {
		return fmt.Errorf("%q has no %s placeholder", s, TracePlaceholder)
	}
	u, err := url.Parse(strings.ReplaceAll(s, TracePlaceholder, "0af7651916cd43dd8448eb211c80319c"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL", s)
	}
	return nil
}

// contentSecurityPolicy allows the page's own script, style and API calls
// and nothing else: no inline script or style, no other origin, no frames,
// no forms, no plugins. Trusted Types with no policy make innerHTML and
// every other string-to-script sink throw.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// staticFiles are the page's files: path served, file in assets, type.
var staticFiles = map[string][2]string{
	"/assets/app.js":     {"assets/app.js", "text/javascript; charset=utf-8"},
	"/assets/capture.js": {"assets/capture.js", "text/javascript; charset=utf-8"},
	"/assets/dom.js":     {"assets/dom.js", "text/javascript; charset=utf-8"},
	"/assets/app.css":    {"assets/app.css", "text/css; charset=utf-8"},
	"/favicon.svg":       {"assets/favicon.svg", "image/svg+xml"},
}

// Public reports whether r asks for one of the page's files (GET or HEAD
// of /, /assets/... or /favicon.svg), which hold no captured data and can
// be served without the admin token: the page asks for the token itself.
// Any query is allowed, since deep links carry filters in it.
func Public(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	_, ok := staticFiles[r.URL.Path]
	return ok || r.URL.Path == "/"
}

type handler struct {
	index  []byte
	files  map[string][]byte
	events *events
}

// Handler returns the page: GET / (the page), its scripts, style and icon,
// and GET /events, the live updates: the summaries of new captures as
// server-sent events, read from src once per PollInterval for each open
// stream, at most MaxStreams at once. Mount it as the admin API's
// Options.Page, behind the API's token and Host checks. It is safe for
// concurrent use.
func Handler(src Lister, opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.TraceURL != "" {
		if err := CheckTraceURL(opts.TraceURL); err != nil {
			log.Warn("trace links off", "err", err)
			opts.TraceURL = ""
		}
	}
	h := &handler{index: renderIndex(opts.TraceURL), files: map[string][]byte{}, events: newEvents(src, opts, log)}
	for path, f := range staticFiles {
		b, err := fs.ReadFile(assets, f[0])
		if err != nil {
			panic("page: embedded file missing: " + f[0]) // a build error, not a runtime one
		}
		h.files[path] = b
	}
	return h
}

// indexTemplate is parsed once; html/template escapes the trace URL as an
// attribute value.
var indexTemplate = template.Must(template.ParseFS(assets, "assets/index.html"))

func renderIndex(traceURL string) []byte {
	var b bytes.Buffer
	if err := indexTemplate.Execute(&b, struct{ TraceURL string }{traceURL}); err != nil {
		panic("page: index template: " + err.Error())
	}
	return b.Bytes()
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	// The admin API sets these too; the page sets them itself so that it
	// is safe wherever it is mounted.
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	switch path := r.URL.Path; {
	case path == "/":
		serveBytes(w, r, "text/html; charset=utf-8", h.index)
	case path == "/events":
		h.events.ServeHTTP(w, r)
	default:
		b, ok := h.files[path]
		if !ok {
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		serveBytes(w, r, staticFiles[path][1], b)
	}
}

func serveBytes(w http.ResponseWriter, r *http.Request, contentType string, b []byte) {
	w.Header().Set("Content-Type", contentType)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

// writeError answers like the admin API does: {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}
