// Package admin serves the capture API (SPEC: Captures): the list, one
// capture, and its HAR and curl exports. It is an http.Handler that the
// caller mounts on the admin listener; it registers nothing globally.
//
// Captures hold user data, so every response is marked no-store and
// nosniff, no CORS header is ever sent, a configured token is required on
// every request, and without a token only loopback Host names are served,
// so that a web page cannot reach the API through DNS rebinding.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

// Source is where the captures come from; *store.Store is one. Get returns
// store.ErrNotFound for an unknown ID. Both are called concurrently.
type Source interface {
	List(ctx context.Context, q store.Query) ([]capture.Summary, error)
	Get(ctx context.Context, id string) (*capture.Capture, error)
}

// Options configures the handler. The zero value serves the API without a
// token to loopback clients, and no page.
type Options struct {
	// Token, when set, is required on every request as
	// "Authorization: Bearer <token>".
	Token string
	// Page serves GET / and every other path outside /api/ (the web page).
	// Nil answers them 404. It gets the same token check and headers.
	Page http.Handler
	// Public, when set, reports the requests served without the token: the
	// page's own files, which hold no captured data (a browser cannot send
	// a bearer token when it navigates to a page). The Host check still
	// applies to them.
	Public func(*http.Request) bool
	// AllowedHosts are Host names (without port) served without a token,
	// besides localhost and loopback addresses. Ignored when Token is set.
	AllowedHosts []string
	// Logger receives internal errors, which clients only see as
	// "internal error". Nil discards them.
	Logger *slog.Logger
	// Now is the clock for relative "since" values; nil means time.Now.
	Now func() time.Time
}

// maxQuery bounds the query string; the API's parameters are short.
const maxQuery = 4 << 10

// maxBody bounds a request body; the API reads none.
const maxBody = 1 << 10

type handler struct {
	src       Source
	opts      Options
	log       *slog.Logger
	tokenHash [sha256.Size]byte
	mux       *http.ServeMux
}

// New returns the admin API handler over src.
func New(src Source, opts Options) http.Handler {
	h := &handler{src: src, opts: opts, log: opts.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.opts.Now == nil {
		h.opts.Now = time.Now
	}
	h.tokenHash = sha256.Sum256([]byte(opts.Token))
	h.mux = http.NewServeMux()
	h.mux.HandleFunc("/api/captures", h.list)
	h.mux.HandleFunc("/api/captures/{id}", h.withCapture(h.get))
	h.mux.HandleFunc("/api/captures/{id}/har", h.withCapture(h.har))
	h.mux.HandleFunc("/api/captures/{id}/curl", h.withCapture(h.curl))
	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint", "")
	})
	page := opts.Page
	if page == nil {
		page = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "not found", "")
		})
	}
	h.mux.Handle("/", page)
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	if strings.HasPrefix(r.URL.Path, "/api/") {
		hdr.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	}

	public := h.opts.Public != nil && h.opts.Public(r)
	if !public && !h.authorized(r) {
		hdr.Set("WWW-Authenticate", `Bearer realm="faultline"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong token", "")
		return
	}
	if h.opts.Token == "" && !h.allowedHost(r.Host) {
		writeError(w, http.StatusMisdirectedRequest, "host not allowed; use localhost or set an admin token", "")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed", "")
		return
	}
	if r.ContentLength > maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, "request body too large", "")
		return
	}
	if len(r.URL.RawQuery) > maxQuery {
		writeError(w, http.StatusRequestURITooLong, "query too long", "")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	h.mux.ServeHTTP(w, r)
}

// authorized checks the bearer token in constant time. Hashing both sides
// first keeps the comparison from revealing the token's length.
func (h *handler) authorized(r *http.Request) bool {
	if h.opts.Token == "" {
		return true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], h.tokenHash[:]) == 1
}

func (h *handler) allowedHost(hostport string) bool {
	host := hostport
	if hst, _, err := net.SplitHostPort(hostport); err == nil {
		host = hst
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || slices.ContainsFunc(h.opts.AllowedHosts, func(a string) bool { return strings.EqualFold(a, host) }) {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listResponse is GET /api/captures. Next, when set, is the before= value
// of the next page.
type listResponse struct {
	Captures []capture.Summary `json:"captures"`
	Next     string            `json:"next,omitempty"`
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	q, err := store.ParseQuery(r.URL.Query(), h.opts.Now())
	if err != nil {
		var pe *store.ParamError
		if errors.As(err, &pe) {
			writeError(w, http.StatusBadRequest, pe.Error(), pe.Param)
			return
		}
		writeError(w, http.StatusBadRequest, "bad query", "")
		return
	}
	if q.Limit == 0 {
		q.Limit = store.DefaultLimit
	}
	caps, err := h.src.List(r.Context(), q)
	if err != nil {
		h.internal(w, r, err)
		return
	}
	resp := listResponse{Captures: caps}
	if len(caps) == q.Limit {
		resp.Next = caps[len(caps)-1].ID
	}
	writeJSON(w, http.StatusOK, resp)
}

// withCapture loads the capture named by the {id} path value.
func (h *handler) withCapture(next func(http.ResponseWriter, *http.Request, *capture.Capture)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if !capture.ValidID(id) {
			writeError(w, http.StatusBadRequest, "not a capture id", "id")
			return
		}
		c, err := h.src.Get(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, http.StatusNotFound, "no capture with this id", "id")
			return
		}
		if err != nil {
			h.internal(w, r, err)
			return
		}
		next(w, r, c)
	}
}

func (h *handler) get(w http.ResponseWriter, r *http.Request, c *capture.Capture) {
	// Lists are arrays, never null, so that clients need no special case.
	for _, l := range []*[]capture.Field{&c.Request.Headers, &c.Request.Cookies, &c.Response.Headers} {
		if *l == nil {
			*l = []capture.Field{}
		}
	}
	if c.Redacted == nil {
		c.Redacted = []capture.Redaction{}
	}
	writeJSON(w, http.StatusOK, c)
}

func (h *handler) har(w http.ResponseWriter, r *http.Request, c *capture.Capture) {
	writeJSON(w, http.StatusOK, capture.NewHAR(c))
}

func (h *handler) curl(w http.ResponseWriter, r *http.Request, c *capture.Capture) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(capture.Curl(c)))
}

// internal logs err and answers 500 without it.
func (h *handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	h.log.Error("admin API", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error", "")
}

// apiError is the body of every error response.
type apiError struct {
	Error string `json:"error"`
	Param string `json:"param,omitempty"`
}

func writeError(w http.ResponseWriter, status int, msg, param string) {
	writeJSON(w, status, apiError{msg, param})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
