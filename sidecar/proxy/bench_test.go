package proxy

import (
	"github.com/faultline-dev/faultline/internal/testkit"
	"net/http"
	"net/url"
	"testing"

	"github.com/faultline-dev/faultline/sidecar/exchange"
)

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
			h := New(Options{Upstream: u, Transport: testkit.CannedTransport{Body: `{"item_id":1,"name":"item 1","price":9.5}`},
				Observer: nopObserver{}, Taps: bc.taps, Route: func(string) string { return "/items/{item_id}" }})
			req, _ := http.NewRequest("GET", "http://sidecar/items/1?q=x", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("User-Agent", "wrk")
			req.Header.Set("Accept", "*/*")
			w := &testkit.DiscardWriter{H: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.H)
				h.ServeHTTP(w, req)
			}
		})
	}
}
