package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
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
		{"bodiless post", &http.Request{Method: "POST", URL: u, Header: http.Header{}}, true},
		{"small body", &http.Request{Method: "POST", URL: u, Header: http.Header{}, Body: io.NopCloser(nil), ContentLength: 100}, true},
		{"large body", &http.Request{Method: "POST", URL: u, Header: http.Header{}, Body: io.NopCloser(nil), ContentLength: maxFastBody + 1}, false},
		{"streamed body", &http.Request{Method: "POST", URL: u, Header: http.Header{}, Body: io.NopCloser(nil), ContentLength: -1}, false},
		{"expect continue", &http.Request{Method: "PUT", URL: u, Header: http.Header{"Expect": {"100-continue"}}}, false},
		{"upgrade", &http.Request{Method: "GET", URL: u, Header: http.Header{"Upgrade": {"websocket"}}}, false},
		{"https", &http.Request{Method: "GET", URL: &url.URL{Scheme: "https", Host: "app"}, Header: http.Header{}}, false},
	}
	for _, tc := range tests {
		if got := fastEligible(tc.req); got != tc.want {
			t.Errorf("%s: fastEligible = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestFastTransportNoReuseAfterServerError reproduces uvicorn after an
// unhandled exception: a 500 without "Connection: close", then the
// connection closes a moment later. The next request, a POST that must not
// be retried, must not be sent on that connection.
func TestFastTransportNoReuseAfterServerError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					if req.URL.Path == "/boom" {
						io.WriteString(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nerror")
						time.Sleep(50 * time.Millisecond)
						return // closes, unannounced
					}
					io.WriteString(c, "HTTP/1.1 422 Unprocessable Entity\r\nContent-Length: 2\r\n\r\nno")
				}
			}(c)
		}
	}()
	tr := NewFastTransport(TransportOptions{})
	defer tr.CloseIdleConnections()
	send := func(method, path, body string) int {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, "http://"+ln.Addr().String()+path, rd)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 3 {
		if code := send("GET", "/boom", ""); code != 500 {
			t.Fatalf("GET /boom: %d", code)
		}
		if code := send("POST", "/items", `{"price":0}`); code != 422 {
			t.Fatalf("POST after a 500: %d", code)
		}
	}
}

// TestClosedByPeer: a pooled connection whose peer closed is detected
// before use.
func TestClosedByPeer(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); accepted <- c }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := <-accepted
	raw, _ := c.(*net.TCPConn).SyscallConn()
	if closedByPeer(raw) {
		t.Error("healthy connection reported closed")
	}
	srv.Close()
	time.Sleep(20 * time.Millisecond)
	if !closedByPeer(raw) {
		t.Error("closed connection reported healthy")
	}
}

// TestFastTransportConcurrentReuse: connections pass between goroutines
// through the pool; every body must be the one its request asked for.
func TestFastTransportConcurrentReuse(t *testing.T) {
	be, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	tr := NewFastTransport(TransportOptions{})
	defer tr.CloseIdleConnections()
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 200 {
				path := "/" + string(rune('a'+g)) + "/" + strings.Repeat("x", i%7)
				req, _ := http.NewRequest("GET", be.URL+path, nil)
				resp, err := tr.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != path {
					errs <- fmt.Errorf("asked %s, got %s", path, b)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load(); n > 8 {
		t.Errorf("%d connections for 8 concurrent clients", n)
	}
}
