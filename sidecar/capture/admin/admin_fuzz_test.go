package admin

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

// oneCapture is a Source with one capture whose fields carry a marker.
type oneCapture struct{ c *capture.Capture }

const fuzzMarker = "mArKeR-4f1d"

func (o oneCapture) List(ctx context.Context, q store.Query) ([]capture.Summary, error) {
	return []capture.Summary{o.c.Summarize()}, nil
}

func (o oneCapture) Get(ctx context.Context, id string) (*capture.Capture, error) {
	if id != o.c.ID {
		return nil, store.ErrNotFound
	}
	c := *o.c
	return &c, nil
}

// FuzzAdminRequest sends hostile requests (method, target, Host and
// Authorization as a client writes them) to the admin API, with a token
// and without. It never panics or answers 500; it never sends a CORS
// header; every answer is nosniff and no-store; and no request without
// the right token (or, without a token, from a non-loopback Host) ever
// gets captured data.
//
// The seed corpus is in testdata/fuzz/FuzzAdminRequest; run for example
//
//	go test -run '^$' -fuzz FuzzAdminRequest -fuzztime 1m ./sidecar/capture/admin/
func FuzzAdminRequest(f *testing.F) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c := &capture.Capture{
		ID: capture.NewID(at), Time: at, Route: "/r/" + fuzzMarker,
		Request:  capture.Request{Method: "GET", URL: "/r/" + fuzzMarker, Host: "api"},
		Response: capture.Response{Status: 500, Body: capture.Body{Text: fuzzMarker}},
	}
	const token = "t0ken-" + fuzzMarker
	withToken := New(oneCapture{c}, Options{Token: token, Now: func() time.Time { return at }})
	noToken := New(oneCapture{c}, Options{Now: func() time.Time { return at }})
	for _, s := range []struct{ method, target, host, auth string }{
		{"GET", "/api/captures", "127.0.0.1:9901", "Bearer " + token},
		{"GET", "/api/captures/" + c.ID + "/curl", "localhost", ""},
		{"GET", "/api/captures/" + c.ID + "/har", "evil.example", "Bearer x"},
		{"GET", "//api/captures", "[::1]:9901", "bearer " + token},
		{"HEAD", "/api/captures?code=5xx&since=7d&limit=1000&before=" + c.ID, "127.0.0.1", ""},
		{"OPTIONS", "*", "127.0.0.1", ""},
		{"GET", "http://evil.example/api/captures", "127.0.0.1", ""},
		{"GET", "/api/captures/..%2f..%2fapi/captures", "localhost:1", "Basic " + token},
		{"CONNECT", "127.0.0.1:9901", "127.0.0.1:9901", ""},
		{"POST", "/api/captures", "127.0.0.1", "Bearer " + token},
	} {
		f.Add(s.method, s.target, s.host, s.auth)
	}
	f.Fuzz(func(t *testing.T, method, target, host, auth string) {
		raw := method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: " + auth + "\r\n\r\n"
		for _, tc := range []struct {
			h      http.Handler
			mayGet bool
		}{
			{withToken, auth == "Bearer "+token || strings.EqualFold(strings.SplitN(auth, " ", 2)[0], "bearer") && strings.TrimSpace(strings.SplitN(auth+" ", " ", 2)[1]) == token},
			{noToken, true},
		} {
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
			if err != nil {
				return // net/http would answer 400 before the handler
			}
			req.RemoteAddr = "127.0.0.1:40000"
			rec := httptest.NewRecorder()
			tc.h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%q: %d %s", raw, rec.Code, rec.Body)
			}
			for k := range rec.Header() {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					t.Fatalf("%q: CORS header %s", raw, k)
				}
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("%q: headers %v", raw, rec.Header())
			}
			leaked := strings.Contains(rec.Body.String(), fuzzMarker)
			if leaked && !tc.mayGet {
				t.Fatalf("%q: served captured data without the token: %d %s", raw, rec.Code, rec.Body)
			}
			if leaked && tc.h == noToken && !loopbackHost(req.Host) {
				t.Fatalf("%q: served captured data to Host %q", raw, req.Host)
			}
		}
	})
}

func loopbackHost(h string) bool {
	return (&handler{}).allowedHost(h)
}
