package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is a store with three captures behind the handler.
type fixture struct {
	srv *httptest.Server
	ids []string // oldest first
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{}
	for i, tc := range []struct {
		status int
		route  string
	}{{401, "/me"}, {422, "/items/{id}"}, {500, "/items/{id}"}} {
		at := t0.Add(time.Duration(i) * time.Minute)
		c := &capture.Capture{
			ID: capture.NewID(at), Time: at, Route: tc.route,
			Request: capture.Request{Method: "POST", URL: "/items/1?x=1", Host: "api", Headers: []capture.Field{
				{Name: "Authorization", Value: capture.Placeholder}},
				Body: capture.Body{Text: `{"a":1}`}},
			Response: capture.Response{Status: tc.status, Body: capture.Body{Text: `{"detail":"x"}`}},
		}
		if _, err := st.Put(context.Background(), []*capture.Capture{c}); err != nil {
			t.Fatal(err)
		}
		f.ids = append(f.ids, c.ID)
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0.Add(10 * time.Minute) }
	}
	f.srv = httptest.NewServer(New(st, opts))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	checkSecurityHeaders(t, resp)
	return resp, body
}

func checkSecurityHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: security headers missing: %v", resp.Request.URL.Path, resp.Header)
	}
	for k := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("CORS header %s sent", k)
		}
	}
}

func TestRoutes(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		name, path  string
		status      int
		contentType string
		check       func(t *testing.T, body []byte)
	}{
		{"list newest first", "/api/captures", 200, "application/json", func(t *testing.T, b []byte) {
			wantIDs(t, b, f.ids[2], f.ids[1], f.ids[0])
		}},
		{"list by class", "/api/captures?code=4xx", 200, "application/json", func(t *testing.T, b []byte) {
			wantIDs(t, b, f.ids[1], f.ids[0])
		}},
		{"list by code and route", "/api/captures?code=500&route=/items/{id}", 200, "application/json", func(t *testing.T, b []byte) {
			wantIDs(t, b, f.ids[2])
		}},
		{"list since a duration", "/api/captures?since=9m", 200, "application/json", func(t *testing.T, b []byte) {
			wantIDs(t, b, f.ids[2], f.ids[1])
		}},
		{"list since a time", "/api/captures?since=2025-03-01T12:02:00Z", 200, "application/json", func(t *testing.T, b []byte) {
			wantIDs(t, b, f.ids[2])
		}},
		{"list pages", "/api/captures?limit=2", 200, "application/json", func(t *testing.T, b []byte) {
			wantIDs(t, b, f.ids[2], f.ids[1])
			var r listResponse
			json.Unmarshal(b, &r)
			if r.Next != f.ids[1] {
				t.Errorf("next = %q, want %q", r.Next, f.ids[1])
			}
		}},
		{"list next page", "/api/captures?limit=2&before=" + f.ids[1], 200, "application/json", func(t *testing.T, b []byte) {
			wantIDs(t, b, f.ids[0])
		}},
		{"empty list is an array", "/api/captures?route=/none", 200, "application/json", func(t *testing.T, b []byte) {
			if !strings.Contains(string(b), `"captures":[]`) {
				t.Errorf("body %s", b)
			}
		}},
		{"one capture", "/api/captures/" + f.ids[1], 200, "application/json", func(t *testing.T, b []byte) {
			var c capture.Capture
			if err := json.Unmarshal(b, &c); err != nil || c.ID != f.ids[1] || c.Response.Status != 422 ||
				c.Request.Headers[0].Value != capture.Placeholder {
				t.Errorf("capture %s (%v)", b, err)
			}
			if !strings.Contains(string(b), `"redacted":[]`) || !strings.Contains(string(b), `"cookies":[]`) {
				t.Errorf("empty lists are not arrays: %s", b)
			}
		}},
		{"har", "/api/captures/" + f.ids[1] + "/har", 200, "application/json", func(t *testing.T, b []byte) {
			var h capture.HAR
			if err := json.Unmarshal(b, &h); err != nil || h.Log.Version != "1.2" || len(h.Log.Entries) != 1 ||
				h.Log.Entries[0].Request.URL != "http://api/items/1?x=1" {
				t.Errorf("har %s (%v)", b, err)
			}
		}},
		{"curl", "/api/captures/" + f.ids[1] + "/curl", 200, "text/plain; charset=utf-8", func(t *testing.T, b []byte) {
			if !strings.Contains(string(b), "curl --globoff -X 'POST'") || !strings.Contains(string(b), "--data-raw '{\"a\":1}'") {
				t.Errorf("curl %s", b)
			}
		}},
		{"unknown id", "/api/captures/" + capture.NewID(t0), 404, "application/json", wantError("id")},
		{"unknown id har", "/api/captures/" + capture.NewID(t0) + "/har", 404, "application/json", wantError("id")},
		{"malformed id", "/api/captures/..%2f..%2fetc", 400, "application/json", wantError("id")},
		{"bad code", "/api/captures?code=banana", 400, "application/json", wantError("code")},
		{"bad since", "/api/captures?since=yesterday", 400, "application/json", wantError("since")},
		{"bad limit", "/api/captures?limit=100000", 400, "application/json", wantError("limit")},
		{"bad before", "/api/captures?before=x", 400, "application/json", wantError("before")},
		{"unknown api path", "/api/other", 404, "application/json", wantError("")},
		{"no page yet", "/", 404, "application/json", nil},
		{"too long a query", "/api/captures?route=" + strings.Repeat("a", 5000), 414, "application/json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "GET", tt.path)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			if tt.check != nil {
				tt.check(t, body)
			}
		})
	}
}

func wantIDs(t *testing.T, body []byte, ids ...string) {
	t.Helper()
	var r listResponse
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range r.Captures {
		got = append(got, c.ID)
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("ids %v, want %v", got, ids)
	}
}

func wantError(param string) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		t.Helper()
		var e apiError
		if err := json.Unmarshal(b, &e); err != nil || e.Error == "" || e.Param != param {
			t.Errorf("error body %s, want param %q", b, param)
		}
	}
}

func TestMethods(t *testing.T) {
	f := newFixture(t, Options{})
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		resp, _ := f.do(t, m, "/api/captures", "Origin", "http://evil.example", "Access-Control-Request-Method", "GET")
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, Allow %q", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	if resp, body := f.do(t, "HEAD", "/api/captures"); resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("HEAD: %d %q", resp.StatusCode, body)
	}
}

func TestToken(t *testing.T) {
	f := newFixture(t, Options{Token: "s3cret"})
	tests := []struct {
		name, auth string
		status     int
	}{
		{"none", "", 401},
		{"wrong", "Bearer nope", 401},
		{"prefix of the token", "Bearer s3cre", 401},
		{"basic scheme", "Basic czNjcmV0", 401},
		{"right", "Bearer s3cret", 200},
		{"scheme in lower case", "bearer s3cret", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.auth != "" {
				hdr = []string{"Authorization", tt.auth}
			}
			// With a token, any Host is served.
			hdr = append(hdr, "Host", "faultline.internal:9901")
			resp, body := f.do(t, "GET", "/api/captures", hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == 401 {
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
				}
				if strings.Contains(string(body), "s3cret") {
					t.Error("the token is echoed")
				}
			}
		})
	}
	// The page needs the token too.
	if resp, _ := f.do(t, "GET", "/"); resp.StatusCode != 401 {
		t.Errorf("page without token: %d", resp.StatusCode)
	}
}

func TestHostCheckWithoutToken(t *testing.T) {
	f := newFixture(t, Options{AllowedHosts: []string{"faultline.local"}})
	tests := []struct {
		host   string
		status int
	}{
		{"localhost:9901", 200},
		{"LOCALHOST", 200},
		{"127.0.0.1:9901", 200},
		{"127.1.2.3", 200},
		{"[::1]:9901", 200},
		{"faultline.local:9901", 200},
		{"evil.example", 421},
		{"10.0.0.5:9901", 421},
	}
	for _, tt := range tests {
		resp, _ := f.do(t, "GET", "/api/captures", "Host", tt.host)
		if resp.StatusCode != tt.status {
			t.Errorf("Host %s: %d, want %d", tt.host, resp.StatusCode, tt.status)
		}
	}
}

func TestPageMounted(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<h1>captures</h1>")
	})
	f := newFixture(t, Options{Page: page})
	resp, body := f.do(t, "GET", "/")
	if resp.StatusCode != 200 || string(body) != "<h1>captures</h1>" {
		t.Errorf("page: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Content-Security-Policy") != "" {
		t.Error("the API's CSP is forced on the page")
	}
	if resp, _ := f.do(t, "GET", "/api/nothing"); resp.StatusCode != 404 {
		t.Errorf("/api/nothing went to the page: %d", resp.StatusCode)
	}
}

func TestRequestBodyLimit(t *testing.T) {
	f := newFixture(t, Options{})
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/captures", strings.NewReader(strings.Repeat("x", 4096)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
}

// failing is a Source whose store is broken.
type failing struct{}

func (failing) List(context.Context, store.Query) ([]capture.Summary, error) {
	return nil, errors.New("disk I/O error at /var/lib/faultline/captures.db")
}

func (failing) Get(context.Context, string) (*capture.Capture, error) {
	return nil, errors.New("disk I/O error at /var/lib/faultline/captures.db")
}

func TestInternalErrorsNotEchoed(t *testing.T) {
	var logs strings.Builder
	srv := httptest.NewServer(New(failing{}, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}))
	defer srv.Close()
	for _, path := range []string{"/api/captures", "/api/captures/" + capture.NewID(t0)} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || strings.Contains(string(body), "disk") || strings.Contains(string(body), "/var/lib") {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	if !strings.Contains(logs.String(), "disk I/O error") {
		t.Error("the error was not logged")
	}
}

// TestPublicPaths: with a token, the paths Options.Public names (the page's
// own files) are served without it, and nothing else is.
func TestPublicPaths(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "page") })
	f := newFixture(t, Options{Token: "s3cret", Page: page, Public: func(r *http.Request) bool { return r.URL.Path == "/" }})
	for _, tc := range []struct {
		path   string
		status int
	}{{"/", 200}, {"/events", 401}, {"/api/captures", 401}} {
		if resp, _ := f.do(t, "GET", tc.path); resp.StatusCode != tc.status {
			t.Errorf("GET %s without token: %d, want %d", tc.path, resp.StatusCode, tc.status)
		}
	}
}
