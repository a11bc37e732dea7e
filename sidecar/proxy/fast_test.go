package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer counts the connections its clients opened.
func countingServer(t *testing.T, h http.Handler, idle ...time.Duration) (*httptest.Server, *atomic.Int32) {
	var conns atomic.Int32
	s := httptest.NewUnstartedServer(h)
	if len(idle) > 0 {
		s.Config.IdleTimeout = idle[0]
	}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &conns
}

func TestFastTransportReusesConnections(t *testing.T) {
	be, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Method+" "+r.URL.Path)
	}))
	tr := NewFastTransport(TransportOptions{})
	defer tr.CloseIdleConnections()
	for i, method := range []string{"GET", "HEAD", "OPTIONS", "GET", "GET"} {
		req, _ := http.NewRequest(method, be.URL+"/p", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := method + " /p"
		if method == "HEAD" {
			want = ""
		}
		if string(b) != want {
			t.Errorf("request %d: body %q, want %q", i, b, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 sequential requests, want 1", n)
	}
}

// TestFastTransportRetriesClosedIdleConnection: the app closes idle
// keep-alive connections (gunicorn after 2s); the next request must not
// fail because its pooled connection is dead.
func TestFastTransportRetriesClosedIdleConnection(t *testing.T) {
	be, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), 50*time.Millisecond)
	tr := NewFastTransport(TransportOptions{})
	defer tr.CloseIdleConnections()
	get := func() {
		req, _ := http.NewRequest("GET", be.URL+"/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("request after the app closed the idle connection: %v", err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	get()
	time.Sleep(200 * time.Millisecond) // the server closes the idle connection
	get()
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (one replaced after the idle close)", n)
	}
}

// TestFastTransportUnreadBodyClosesConnection: a response abandoned
// mid-body must not put its connection back with bytes left on it.
func TestFastTransportUnreadBodyClosesConnection(t *testing.T) {
	be, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 1<<20))
	}))
	tr := NewFastTransport(TransportOptions{})
	defer tr.CloseIdleConnections()
	for range 2 {
		req, _ := http.NewRequest("GET", be.URL+"/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(resp.Body, make([]byte, 10))
		resp.Body.Close()
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestFastEligible(t *testing.T) {
	u, _ := url.Parse("http://app/x")
	tests := []struct {
		name string
		req  *http.Request
		want bool
	}{
		{"get", &http.Request{Method: "GET", URL: u, Header: http.Header{}}, true},
		{"head", &http.Request{Method: "HEAD", URL: u, Header: http.Header{}}, true},
		{"post", &http.Request{Method: "POST", URL: u, Header: http.Header{}}, false},
		{"get with body", &http.Request{Method: "GET", URL: u, Header: http.Header{}, Body: io.NopCloser(nil)}, false},
		{"upgrade", &http.Request{Method: "GET", URL: u, Header: http.Header{"Upgrade": {"websocket"}}}, false},
		{"https", &http.Request{Method: "GET", URL: &url.URL{Scheme: "https", Host: "app"}, Header: http.Header{}}, false},
	}
	for _, tc := range tests {
		if got := fastEligible(tc.req); got != tc.want {
			t.Errorf("%s: fastEligible = %v, want %v", tc.name, got, tc.want)
		}
	}
}
