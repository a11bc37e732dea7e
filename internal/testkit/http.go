package testkit

import (
	"io"
	"net/http"
	"strings"
)

// CannedTransport answers every request with the same small 200 JSON
// response, so that benchmarks measure the proxy's own work. It reads and
// closes the request body, as a transport must.
type CannedTransport struct{ Body string }

// RoundTrip implements http.RoundTripper.
func (c CannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode:    200,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(c.Body)),
		ContentLength: int64(len(c.Body)),
		Request:       r,
	}, nil
}

// DiscardWriter is a minimal http.ResponseWriter that keeps nothing but its
// header map.
type DiscardWriter struct{ H http.Header }

func (d *DiscardWriter) Header() http.Header         { return d.H }
func (d *DiscardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *DiscardWriter) WriteHeader(int)             {}
