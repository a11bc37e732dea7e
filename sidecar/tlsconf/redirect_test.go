package tlsconf

import (
	"net/http/httptest"
	"testing"
)

func TestRedirect(t *testing.T) {
	tests := []struct {
		port, method, target, host string
		code                       int
		location                   string
	}{
		{"8443", "GET", "/items/1?q=a%20b", "example.com:8080", 301, "https://example.com:8443/items/1?q=a%20b"},
		{"443", "GET", "/", "example.com", 301, "https://example.com/"},
		{"443", "POST", "/items", "example.com:80", 308, "https://example.com/items"},
		{"8443", "HEAD", "/x", "[::1]:8080", 301, "https://[::1]:8443/x"},
		{"443", "GET", "/x", "[::1]", 301, "https://[::1]/x"},
		{"8443", "GET", "/x", "", 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.host+tc.target, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			r.Host = tc.host
			w := httptest.NewRecorder()
			Redirect(tc.port).ServeHTTP(w, r)
			if w.Code != tc.code {
				t.Errorf("status %d, want %d", w.Code, tc.code)
			}
			if got := w.Header().Get("Location"); got != tc.location {
				t.Errorf("Location %q, want %q", got, tc.location)
			}
		})
	}
}
