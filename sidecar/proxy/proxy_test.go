package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/sidecar/exchange"
	"github.com/faultline-dev/faultline/sidecar/h1"
	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// seen is a copy of what an observer saw, safe to keep after End.
type seen struct {
	Route, Source         string
	Status                int
	BytesIn, BytesOut     int64
	Credentials, Upgraded bool
	ReqTap, RespTap       string
	ReqTrunc, RespTrunc   bool
	RespArmed             bool
}

type recorder struct {
	mu    sync.Mutex
	begun int
	ended []seen
	done  chan struct{}
}

func newRecorder() *recorder { return &recorder{done: make(chan struct{}, 100)} }

func (r *recorder) Begin(x *exchange.Exchange) {
	r.mu.Lock()
	r.begun++
	r.mu.Unlock()
}

func (r *recorder) End(x *exchange.Exchange) {
	r.mu.Lock()
	r.ended = append(r.ended, seen{
		Route: x.Route, Source: x.Source, Status: x.Status, BytesIn: x.BytesIn, BytesOut: x.BytesOut,
		Credentials: x.Credentials, Upgraded: x.Upgraded,
		ReqTap: string(x.RequestBody.Data), RespTap: string(x.ResponseBody.Data),
		ReqTrunc: x.RequestBody.Truncated, RespTrunc: x.ResponseBody.Truncated, RespArmed: x.ResponseBody.Armed,
	})
	r.mu.Unlock()
	r.done <- struct{}{}
}

// last waits for the next End and returns what it saw.
func (r *recorder) last(t *testing.T) seen {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		t.Fatal("no exchange ended")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ended[len(r.ended)-1]
}

// front is the proxy's server in a test: h1's, as on the plain listener
// in production (the e2e TLS tests cover net/http's in front).
type front struct {
	URL string
	srv *h1.Server
}

func (f *front) Close() { f.srv.Close() }

func serveH1(t *testing.T, h http.Handler) *front {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &front{URL: "http://" + ln.Addr().String(), srv: &h1.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}}
	done := make(chan struct{})
	go func() { f.srv.Serve(ln); close(done) }()
	t.Cleanup(func() { f.srv.Close(); <-done })
	return f
}

// setup starts backend and a proxy in front of it.
func setup(t *testing.T, backend http.Handler, mod func(*Options)) (*front, *recorder) {
	t.Helper()
	be := httptest.NewServer(backend)
	t.Cleanup(be.Close)
	u, _ := url.Parse(be.URL)
	rec := newRecorder()
	tr := NewFastTransport(TransportOptions{})
	t.Cleanup(tr.CloseIdleConnections)
	opts := Options{Upstream: u, Observer: rec, Transport: tr,
		Route: func(p string) string { return "/r" + p }}
	if mod != nil {
		mod(&opts)
	}
	return serveH1(t, New(opts)), rec
}

func TestForwardsRequestUnchanged(t *testing.T) {
	type got struct {
		method, uri, host, body string
		header                  http.Header
	}
	gotc := make(chan got, 1)
	px, rec := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotc <- got{r.Method, r.RequestURI, r.Host, string(b), r.Header.Clone()}
		w.Header().Set("X-App", "yes")
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "must-not-pass")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "created")
	}), nil)

	tests := []struct {
		name, method, path, body string
		header                   map[string]string
	}{
		{"get with query", "GET", "/items/7?q=a%20b&x=1&x=2", "", map[string]string{"X-Custom": "v", "Accept": "application/json"}},
		{"post json", "POST", "/items", `{"name":"a","price":1}`, map[string]string{"Content-Type": "application/json"}},
		{"delete", "DELETE", "/items/3", "", nil},
		{"odd method", "PURGE", "/cache", "", nil},
		{"encoded path", "GET", "/files/a%2Fb/c%20d", "", nil},
		{"hop-by-hop dropped", "PUT", "/x", "data", map[string]string{"Connection": "X-Secret-Hop", "X-Secret-Hop": "1", "Proxy-Authorization": "Basic Zm9v", "Te": "gzip", "X-Forwarded-For": "10.9.8.7"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, px.URL+tc.path, strings.NewReader(tc.body))
			if tc.body == "" {
				req.Body = nil
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			req.Host = "app.example.test"
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			g := <-gotc
			if g.method != tc.method || g.uri != tc.path || g.body != tc.body {
				t.Errorf("upstream got %s %s %q; want %s %s %q", g.method, g.uri, g.body, tc.method, tc.path, tc.body)
			}
			if g.host != "app.example.test" {
				t.Errorf("Host = %q, want the client's", g.host)
			}
			for k, v := range tc.header {
				hop := k == "Connection" || k == "X-Secret-Hop" || k == "Proxy-Authorization" || k == "Te" || k == "X-Forwarded-For"
				if hop {
					continue
				}
				if g.header.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, g.header.Get(k), v)
				}
			}
			for _, k := range []string{"X-Secret-Hop", "Proxy-Authorization", "Te"} {
				if v := g.header.Get(k); v != "" {
					t.Errorf("hop-by-hop header %s forwarded as %q", k, v)
				}
			}
			wantXFF := "127.0.0.1"
			if tc.header["X-Forwarded-For"] != "" {
				wantXFF = tc.header["X-Forwarded-For"] + ", 127.0.0.1"
			}
			if g.header.Get("X-Forwarded-For") != wantXFF || g.header.Get("X-Forwarded-Proto") != "http" || g.header.Get("X-Forwarded-Host") != "app.example.test" {
				t.Errorf("X-Forwarded-* = %q %q %q", g.header.Get("X-Forwarded-For"), g.header.Get("X-Forwarded-Proto"), g.header.Get("X-Forwarded-Host"))
			}
			if resp.StatusCode != 201 || string(body) != "created" || resp.Header.Get("X-App") != "yes" {
				t.Errorf("response %d %q X-App=%q", resp.StatusCode, body, resp.Header.Get("X-App"))
			}
			if resp.Header.Get("X-Hop") != "" || resp.Header.Get("Keep-Alive") != "" {
				t.Errorf("response hop-by-hop headers passed: %v", resp.Header)
			}
			s := rec.last(t)
			path, _ := url.PathUnescape(strings.SplitN(tc.path, "?", 2)[0])
			if s.Status != 201 || s.BytesOut != 7 || s.BytesIn != int64(len(tc.body)) || s.Route != "/r"+path {
				t.Errorf("observer saw %+v", s)
			}
		})
	}
}

func TestUpstreamFailures(t *testing.T) {
	// A port that refuses: listen, take the address, close.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := ln.Addr().String()
	ln.Close()

	stall := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	// Release the stalled handlers before Close waits for them: a handler
	// that did not read its request body is not told the client left.
	defer close(stall)

	tests := []struct {
		name     string
		upstream string
		status   int
		source   string
	}{
		{"refused", "http://" + refused, 502, metricnames.SourceUpstreamUnreachable},
		{"timeout", slow.URL, 504, metricnames.SourceUpstreamTimeout},
	}
	transports := map[string]func(TransportOptions) http.RoundTripper{
		"fast":      func(o TransportOptions) http.RoundTripper { return NewFastTransport(o) },
		"transport": func(o TransportOptions) http.RoundTripper { return NewTransport(o) },
	}
	for _, tc := range tests {
		for trName, newTr := range transports {
			for _, method := range []string{"GET", "POST"} {
				t.Run(tc.name+"/"+trName+"/"+method, func(t *testing.T) {
					testUpstreamFailure(t, tc.upstream, newTr, method, tc.status, tc.source)
				})
			}
		}
	}
}

func testUpstreamFailure(t *testing.T, upstream string, newTr func(TransportOptions) http.RoundTripper, method string, status int, source string) {
	u, _ := url.Parse(upstream)
	rec := newRecorder()
	tr := newTr(TransportOptions{ResponseHeaderTimeout: 200 * time.Millisecond})
	defer tr.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	px := httptest.NewServer(New(Options{Upstream: u, Observer: rec, Transport: tr}))
	defer px.Close()
	var body io.Reader
	if method == "POST" {
		body = strings.NewReader("{}")
	}
	req, _ := http.NewRequest(method, px.URL+"/x", body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status || !strings.HasPrefix(string(got), "faultline: upstream") {
		t.Errorf("got %d %q, want %d", resp.StatusCode, got, status)
	}
	if s := rec.last(t); s.Status != status || s.Source != source {
		t.Errorf("observer saw %+v, want status %d source %s", s, status, source)
	}
}

func TestAppErrorSource(t *testing.T) {
	px, rec := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Internal Server Error", 500)
	}), nil)
	resp, err := http.Get(px.URL + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := rec.last(t); s.Status != 500 || s.Source != metricnames.SourceApp {
		t.Errorf("observer saw %+v", s)
	}
}

func TestServerSentEventsStream(t *testing.T) {
	release := make(chan struct{})
	px, _ := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release // the stream goes on only after the client saw the first event
		io.WriteString(w, "data: second\n\n")
	}), nil)
	resp, err := http.Get(px.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event: %q %v", line, err)
	}
	close(release)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: second\n\n" {
		t.Errorf("rest of stream %q", rest)
	}
}

func TestChunkedResponseFlushed(t *testing.T) {
	release := make(chan struct{})
	px, _ := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part1;")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "part2")
	}), nil)
	resp, err := http.Get(px.URL + "/chunks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("transfer encoding %v, want chunked", resp.TransferEncoding)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "part1;" {
		t.Fatalf("first chunk %q %v", buf, err)
	}
	close(release)
	rest, _ := io.ReadAll(resp.Body)
	if string(rest) != "part2" {
		t.Errorf("rest %q", rest)
	}
}

func TestTrailersPass(t *testing.T) {
	px, _ := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Grpc-Status")
		io.WriteString(w, "body")
		w.Header().Set("Grpc-Status", "0")
	}), nil)
	resp, err := http.Get(px.URL + "/t")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := resp.Trailer.Get("Grpc-Status"); got != "0" {
		t.Errorf("trailer Grpc-Status = %q, want 0", got)
	}
}

func TestTaps(t *testing.T) {
	px, rec := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/bad" {
			w.WriteHeader(422)
		}
		io.WriteString(w, `{"detail":[{"loc":["body","price"],"msg":"field required","type":"value_error.missing"}]}`)
	}), func(o *Options) {
		o.Taps = exchange.Taps{Limit: 16, Request: true, Response: func(s int) bool { return s == 422 }}
	})
	tests := []struct {
		path, body          string
		reqTap, respTap     string
		reqTrunc, respTrunc bool
		respArmed           bool
	}{
		{"/bad", `{"price":1}`, `{"price":1}`, `{"detail":[{"loc`, false, true, true},
		{"/ok", strings.Repeat("x", 40), strings.Repeat("x", 16), "", true, false, false},
	}
	for _, tc := range tests {
		resp, err := http.Post(px.URL+tc.path, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		s := rec.last(t)
		if s.ReqTap != tc.reqTap || s.ReqTrunc != tc.reqTrunc || s.RespTap != tc.respTap || s.RespTrunc != tc.respTrunc || s.RespArmed != tc.respArmed {
			t.Errorf("%s: taps %+v", tc.path, s)
		}
	}
}

func TestCredentials(t *testing.T) {
	px, rec := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) }),
		func(o *Options) { o.AuthCookies = []string{"session"} })
	tests := []struct {
		name   string
		header map[string]string
		want   bool
	}{
		{"none", nil, false},
		{"authorization", map[string]string{"Authorization": "Bearer x"}, true},
		{"auth cookie", map[string]string{"Cookie": "theme=dark; session=abc"}, true},
		{"other cookie", map[string]string{"Cookie": "theme=dark"}, false},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest("GET", px.URL+"/secure", nil)
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if s := rec.last(t); s.Credentials != tc.want || s.Status != 401 {
			t.Errorf("%s: credentials %v, want %v", tc.name, s.Credentials, tc.want)
		}
	}
}

// TestLargeUploadStreams sends 256 MiB through the proxy and checks that the
// heap does not grow with it: the body must stream, not be buffered.
func TestLargeUploadStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("large upload")
	}
	const size = 256 << 20
	var got int64
	px, rec := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}), func(o *Options) { o.Taps = exchange.Taps{Limit: 64 << 10, Request: true} })
	runtime.GC()
	var before, peak runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var maxHeap uint64
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				runtime.ReadMemStats(&peak)
				maxHeap = max(maxHeap, peak.HeapInuse)
			}
		}
	})
	resp, err := http.Post(px.URL+"/upload", "application/octet-stream", io.LimitReader(zeros{}, size))
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != size {
		t.Fatalf("upstream got %d bytes, want %d", got, size)
	}
	if s := rec.last(t); s.BytesIn != size || !s.ReqTrunc || len(s.ReqTap) != 64<<10 {
		t.Errorf("observer saw bytes in %d, tap %d truncated %v", s.BytesIn, len(s.ReqTap), s.ReqTrunc)
	}
	if grown := int64(maxHeap) - int64(before.HeapInuse); grown > 32<<20 {
		t.Errorf("heap grew by %d MiB during a %d MiB upload", grown>>20, size>>20)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestWebSocketUpgrade(t *testing.T) {
	px, rec := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	}), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(px.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 {
		t.Errorf("status %d", resp.StatusCode)
	}
	for _, m := range []string{"one", "two"} {
		if err := c.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || string(got) != "echo: "+m {
			t.Fatalf("read %q %v", got, err)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")
	if s := rec.last(t); s.Status != 101 || !s.Upgraded {
		t.Errorf("observer saw %+v", s)
	}
}

func TestClientGoneIs499(t *testing.T) {
	started := make(chan struct{})
	px, rec := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	}), nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	req, _ := http.NewRequestWithContext(ctx, "GET", px.URL+"/hang", nil)
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	if s := rec.last(t); s.Status != exchange.StatusClientClosed {
		t.Errorf("status %d, want 499", s.Status)
	}
}

func TestBrokenUpstreamBodyAbortsClient(t *testing.T) {
	px, _ := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "only part")
		// The handler returns early: net/http closes the connection short.
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}), nil)
	resp, err := http.Get(px.URL + "/cut")
	if err != nil {
		return // the abort may come before the head: also a visible failure
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Error("client read a complete body from a broken upstream response")
	}
}

func TestUpstreamPathPrefix(t *testing.T) {
	got := make(chan string, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.RequestURI }))
	defer be.Close()
	u, _ := url.Parse(be.URL + "/api/")
	tr := NewTransport(TransportOptions{})
	defer tr.CloseIdleConnections()
	px := httptest.NewServer(New(Options{Upstream: u, Transport: tr}))
	defer px.Close()
	resp, err := http.Get(px.URL + "/items/1?a=b")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if g := <-got; g != "/api/items/1?a=b" {
		t.Errorf("upstream got %q", g)
	}
}

func TestEmptyBodyNotChunked(t *testing.T) {
	got := make(chan []string, 1)
	px, _ := setup(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.TransferEncoding }), nil)
	resp, err := http.Post(px.URL+"/x", "text/plain", bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if te := <-got; len(te) != 0 {
		t.Errorf("empty body forwarded with transfer encoding %v", te)
	}
}
