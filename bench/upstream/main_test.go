package main

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestServe(t *testing.T) {
	tests := []struct {
		method, path string
		body         string
		wantStatus   int
		wantBody     []byte // nil: not checked beyond being empty when wantEmpty
		wantEmpty    bool
	}{
		{"GET", "/items/42", "", 200, body, false},
		{"GET", "/openapi.json", "", 200, openAPI, false},
		{"GET", "/status/422", "", 422, body, false},
		{"POST", "/status/422/items/7", `{"item_id":7}`, 422, body, false},
		{"GET", "/status/500/users/3/orders", "", 500, body, false},
		{"PUT", "/status/503", "x", 503, body, false},
		{"GET", "/status/200", "", 200, body, false},
		{"HEAD", "/status/404", "", 404, nil, true},
		{"GET", "/status/204", "", 204, nil, true},
		{"GET", "/status/304/x", "", 304, nil, true},
		{"GET", "/status/", "", 400, nil, false},
		{"GET", "/status/abc", "", 400, nil, false},
		{"GET", "/status/199", "", 400, nil, false},
		{"GET", "/status/600", "", 400, nil, false},
		{"GET", "/status/4220", "", 400, nil, false},
		{"GET", "/statuses/500", "", 200, body, false},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			rec := httptest.NewRecorder()
			serve(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.wantEmpty && rec.Body.Len() != 0 {
				t.Errorf("body %q, want none", rec.Body)
			}
			if tc.wantBody == nil {
				return
			}
			if got := rec.Body.String(); got != string(tc.wantBody) {
				t.Errorf("body %q, want %q", got, tc.wantBody)
			}
			if got, want := rec.Header().Get("Content-Length"), strconv.Itoa(len(tc.wantBody)); got != want {
				t.Errorf("Content-Length %q, want %q", got, want)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
		})
	}
}

// TestServeNoBodyStatuses checks that 204 and 304 declare no body, which
// a client would otherwise wait for.
func TestServeNoBodyStatuses(t *testing.T) {
	for _, code := range []int{http.StatusNoContent, http.StatusNotModified} {
		rec := httptest.NewRecorder()
		serve(rec, httptest.NewRequest("GET", "/status/"+strconv.Itoa(code), nil))
		if cl := rec.Header().Get("Content-Length"); cl != "" {
			t.Errorf("%d: Content-Length %q, want none", code, cl)
		}
	}
}
