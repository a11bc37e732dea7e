package proxy

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/sidecar/exchange"
)

// cannedTransport answers every request with the same small response, so
// the benchmarks measure the proxy's own per-request work.
type cannedTransport struct{ body string }

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode:    200,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(c.body)),
		ContentLength: int64(len(c.body)),
		Request:       r,
	}, nil
}

// discardWriter is a minimal http.ResponseWriter.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

type nopObserver struct{}

func (nopObserver) Begin(*exchange.Exchange) {}
func (nopObserver) End(*exchange.Exchange)   {}

// BenchmarkServeHTTP is the proxy's own cost per request, with a canned
// upstream: header copies, X-Forwarded-*, pooled exchange and buffers.
func BenchmarkServeHTTP(b *testing.B) {
	for _, bc := range []struct {
		name string
		taps exchange.Taps
	}{
		{"taps-off", exchange.Taps{}},
		{"taps-armed", exchange.Taps{Limit: 64 << 10, Request: true, Response: func(s int) bool { return s >= 400 }}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			u, _ := url.Parse("http://127.0.0.1:8000")
			h := New(Options{Upstream: u, Transport: cannedTransport{`{"item_id":1,"name":"item 1","price":9.5}`},
				Observer: nopObserver{}, Taps: bc.taps, Route: func(string) string { return "/items/{item_id}" }})
			req, _ := http.NewRequest("GET", "http://sidecar/items/1?q=x", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("User-Agent", "wrk")
			req.Header.Set("Accept", "*/*")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
}
