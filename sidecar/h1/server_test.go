package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/testkit"
)

// start serves h on a loopback listener until the test ends.
func start(t testing.TB, h http.Handler) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h, ReadHeaderTimeout: 2 * time.Second, IdleTimeout: 5 * time.Second}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String()
}

// roundTrip writes raw on a new connection and returns all the server
// sent until it closed or went quiet.
func roundTrip(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, raw)
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	got, _ := io.ReadAll(c)
	return string(got)
}

// echo answers with what the handler saw of the request.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "%s %s q=%s host=%s len=%d te=%v close=%v proto=%s x=%q body=%q",
		r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.ContentLength, r.TransferEncoding, r.Close, r.Proto, r.Header["X-A"], body)
})

func TestRequests(t *testing.T) {
	_, addr := start(t, echo)
	for _, tc := range []struct {
		name, raw string
		status    string
		seen      string // in the body the handler wrote
	}{
		{"get", "GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n", "200", `GET /a/b q=x=1 host=h len=0 te=[] close=false proto=HTTP/1.1 x=["1"] body=""`},
		{"lower-case names", "GET / HTTP/1.1\r\nhost: h\r\nx-a: v\r\n\r\n", "200", `x=["v"]`},
		{"repeated field", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-A: 2\r\n\r\n", "200", `x=["1" "2"]`},
		{"escaped path", "GET /a%20b/c HTTP/1.1\r\nHost: h\r\n\r\n", "200", "GET /a b/c "},
		{"absolute form", "GET http://other:8/p HTTP/1.1\r\nHost: h\r\n\r\n", "200", "GET /p q= host=other:8"},
		{"body", "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", "200", `len=5 te=[] close=false proto=HTTP/1.1 x=[] body="hello"`},
		{"chunked body", "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", "200", `len=-1 te=[chunked] close=false proto=HTTP/1.1 x=[] body="abcde"`},
		{"chunked and length", "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "200", `te=[chunked] close=true`},
		{"HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", "200", "close=true proto=HTTP/1.0"},
		{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", "200", "GET / "},
		{"no host", "GET / HTTP/1.1\r\n\r\n", "400", ""},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400", ""},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "400", ""},
		{"space before colon", "GET / HTTP/1.1\r\nHost: h\r\nX-A : 1\r\n\r\n", "400", ""},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n", "400", ""},
		{"control in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n", "400", ""},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", "400", ""},
		{"two lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "400", ""},
		{"length list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\na", "400", ""},
		{"signed length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\na", "400", ""},
		{"unknown coding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", "501", ""},
		{"coding list", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "501", ""},
		{"chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", "400", ""},
		{"chunked on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400", ""},
		{"HTTP/2 line", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", "505", ""},
		{"garbage version", "GET / FOO\r\nHost: h\r\n\r\n", "400", ""},
		{"no target", "GET  HTTP/1.1\r\nHost: h\r\n\r\n", "400", ""},
		{"space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", "400", ""},
		{"bad method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", "400", ""},
		{"odd expect", "GET / HTTP/1.1\r\nHost: h\r\nExpect: teapot\r\n\r\n", "417", ""},
		{"huge head", "GET / HTTP/1.1\r\nHost: h\r\nX-A: " + strings.Repeat("a", 2<<20) + "\r\n\r\n", "431", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := roundTrip(t, addr, tc.raw)
			if !strings.HasPrefix(got, "HTTP/1.1 "+tc.status+" ") {
				t.Fatalf("got %.200q, want status %s", got, tc.status)
			}
			if !strings.Contains(got, tc.seen) {
				t.Errorf("got %q, want the handler to see %q", got, tc.seen)
			}
		})
	}
}

func TestResponses(t *testing.T) {
	_, addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", "2")
			io.WriteString(w, "ok")
		case "/stream":
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			io.WriteString(w, "bc")
		case "/empty":
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/trailer":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "data")
			w.Header().Set("X-Sum", "42")
			w.Header().Set(http.TrailerPrefix+"X-Late", "7")
		case "/short":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "abc")
		case "/early-hints":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "x")
		case "/newline":
			w.Header().Set("X-A", "a\r\nInjected: yes")
		case "/close":
			w.Header().Set("Connection", "close")
		}
	}))
	for _, tc := range []struct {
		raw  string
		want []string
		not  []string
	}{
		{"GET /length HTTP/1.1\r\nHost: h\r\n\r\n", []string{"HTTP/1.1 200 OK\r\n", "Content-Length: 2\r\n", "\r\n\r\nok"}, []string{"chunked"}},
		{"GET /stream HTTP/1.1\r\nHost: h\r\n\r\n", []string{"Transfer-Encoding: chunked\r\n", "\r\n\r\n1\r\na\r\n2\r\nbc\r\n0\r\n\r\n"}, nil},
		{"GET /stream HTTP/1.0\r\n\r\n", []string{"Connection: close\r\n", "\r\n\r\nabc"}, []string{"chunked"}},
		{"GET /empty HTTP/1.1\r\nHost: h\r\n\r\n", []string{"Content-Length: 0\r\n", "Date: "}, []string{"chunked"}},
		{"GET /nocontent HTTP/1.1\r\nHost: h\r\n\r\n", []string{"HTTP/1.1 204 No Content\r\n"}, []string{"Content-Length", "chunked"}},
		{"HEAD /length HTTP/1.1\r\nHost: h\r\n\r\n", []string{"Content-Length: 2\r\n"}, []string{"ok"}},
		{"GET /trailer HTTP/1.1\r\nHost: h\r\n\r\n", []string{"Trailer: X-Sum\r\n", "4\r\ndata\r\n0\r\n", "X-Sum: 42\r\n", "X-Late: 7\r\n"}, nil},
		{"GET /short HTTP/1.1\r\nHost: h\r\n\r\nGET /length HTTP/1.1\r\nHost: h\r\n\r\n", []string{"abc"}, []string{"ok"}},
		{"GET /early-hints HTTP/1.1\r\nHost: h\r\n\r\n", []string{"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n"}, nil},
		{"GET /newline HTTP/1.1\r\nHost: h\r\n\r\n", []string{"X-A: a  Injected: yes\r\n"}, []string{"\nInjected"}},
		{"GET /close HTTP/1.1\r\nHost: h\r\n\r\nGET /length HTTP/1.1\r\nHost: h\r\n\r\n", []string{"Connection: close\r\n"}, []string{"ok"}},
		{"GET /length HTTP/1.1\r\nHost: h\r\n\r\nGET /length HTTP/1.1\r\nHost: h\r\n\r\n", []string{"ok", "\r\n\r\nokHTTP/1.1 200 OK\r\n"}, nil},
	} {
		got := roundTrip(t, addr, tc.raw)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%q: got %q, want %q in it", tc.raw, got, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(got, w) {
				t.Errorf("%q: got %q, want no %q in it", tc.raw, got, w)
			}
		}
	}
}

// TestUnreadBody: a body the handler left is read past before the next
// request; one too large to read closes the connection instead.
func TestUnreadBody(t *testing.T) {
	_, addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) }))
	small := "POST /one HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /two HTTP/1.1\r\nHost: h\r\n\r\n"
	if got := roundTrip(t, addr, small); !strings.Contains(got, "/one") || !strings.Contains(got, "/two") {
		t.Errorf("small unread body: got %q", got)
	}
	big := fmt.Sprintf("POST /one HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%sGET /two HTTP/1.1\r\nHost: h\r\n\r\n", maxDrain+1, strings.Repeat("a", maxDrain+1))
	if got := roundTrip(t, addr, big); !strings.Contains(got, "/one") || strings.Contains(got, "/two") {
		t.Errorf("big unread body: got %q", got)
	}
}

func TestExpectContinue(t *testing.T) {
	_, addr := start(t, echo)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q %v, want a 100 Continue before the body is sent", line, err)
	}
	io.WriteString(c, "hi")
	rest, _ := br.ReadString('"')
	rest2, _ := br.ReadString('}')
	if !strings.Contains(rest+rest2, "200 OK") {
		t.Errorf("after the body: %q", rest+rest2)
	}
}

func TestHijack(t *testing.T) {
	_, addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n\r\n")
		brw.Flush()
		// Echo one line: bytes sent right after the head are in brw.
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo " + line)
		brw.Flush()
	}))
	got := roundTrip(t, addr, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\nping\n")
	if got != "HTTP/1.1 101 Switching Protocols\r\n\r\necho ping\n" {
		t.Errorf("got %q", got)
	}
}

// TestClientGoneCancels: a client that closes while its request waits
// cancels the request's context, and Interrupt's connection is cut.
func TestClientGoneCancels(t *testing.T) {
	cancelled := make(chan struct{})
	upC, upS := net.Pipe()
	defer upS.Close()
	_, addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Interrupt(r.Context(), upC) {
			t.Error("Interrupt: not a request of this server")
		}
		var b [1]byte
		_, err := upC.Read(b[:]) // blocks until interrupted
		if !isTimeout(err) {
			t.Errorf("upstream read: %v, want a timeout", err)
		}
		<-r.Context().Done()
		close(cancelled)
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(2 * watchAfter)
	c.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the request's context was not cancelled after its client left")
	}
}

// TestShutdown: idle connections close at once, an active request ends
// with Connection: close, and Shutdown returns after it.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Bool
	s, addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started.Store(true)
			<-release
		}
		io.WriteString(w, "done")
	}))
	idle, _ := net.Dial("tcp", addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	idleR := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(idleR, nil); err != nil {
		t.Fatal(err)
	} else {
		io.ReadAll(resp.Body)
	}
	active, _ := net.Dial("tcp", addr)
	io.WriteString(active, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	for !started.Load() {
		time.Sleep(time.Millisecond)
	}
	done := make(chan error)
	go func() { done <- s.Shutdown(context.Background()) }()
	idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := idleR.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: %v, want it closed", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(active), nil)
	if err != nil || !resp.Close {
		t.Fatalf("active request: %v, close=%v; want an answer with Connection: close", err, resp != nil && resp.Close)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestNoAllocations: a keep-alive request costs the server nothing on the
// heap (the client and handler allocate nothing either).
func TestNoAllocations(t *testing.T) {
	_, addr := start(t, okHandler)
	c, err := testkit.DialRaw(addr, "GET /items/1?q=x HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\nAccept: */*\r\nX-Custom-Field: 1\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Do() // the connection's own memory
	if n := testing.AllocsPerRun(200, func() {
		if code, err := c.Do(); err != nil || code != 200 {
			t.Fatalf("%d %v", code, err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
}

var textPlain, two = []string{"text/plain"}, []string{"2"}

// okHandler answers "ok" without allocating.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = textPlain
	h["Content-Length"] = two
	io.WriteString(w, "ok")
})

// BenchmarkServer is the server's own cost per keep-alive request.
func BenchmarkServer(b *testing.B) {
	_, addr := start(b, okHandler)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c, err := testkit.DialRaw(addr, "GET /items/1?q=x HTTP/1.1\r\nHost: h\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		for pb.Next() {
			if _, err := c.Do(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// FuzzRequestHead: any head is answered or refused without a panic, and
// a parsed request's framing is one of the two the server supports.
func FuzzRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /p?q HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET http://x/y HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	s := &Server{}
	s.init()
	f.Fuzz(func(t *testing.T, head []byte) {
		c := newConn(s, a)
		c.head = append(c.head[:0], head...)
		if err := c.parse(); err != nil {
			return
		}
		r := c.req
		if r.ContentLength < -1 || (r.ContentLength == -1) != (r.TransferEncoding != nil) {
			t.Fatalf("framing: length %d, coding %v", r.ContentLength, r.TransferEncoding)
		}
		if r.URL == nil || r.Method == "" {
			t.Fatal("parsed without a method or URL")
		}
		if _, ok := r.Header["Host"]; ok {
			t.Fatal("Host left in the header map")
		}
	})
}

// TestSlowBodyOutlivesHeaderTimeout: ReadHeaderTimeout bounds the head
// only; an upload may take longer (net/http's rule without ReadTimeout).
func TestSlowBodyOutlivesHeaderTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: echo, ReadHeaderTimeout: 100 * time.Millisecond}
	go s.Serve(ln)
	defer s.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n")
	for _, b := range "slow" {
		time.Sleep(100 * time.Millisecond)
		io.WriteString(c, string(b))
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(got), `body="slow"`) {
		t.Errorf("got %q", got)
	}
}

// TestIdleTimeout: a keep-alive connection that stays silent is closed
// (after between IdleTimeout/2 and IdleTimeout), also when its deadline
// was left in place by the requests before.
func TestIdleTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: okHandler, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 300 * time.Millisecond}
	go s.Serve(ln)
	defer s.Close()
	c, err := testkit.DialRaw(ln.Addr().String(), "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		if code, err := c.Do(); err != nil || code != 200 {
			t.Fatalf("%d %v", code, err)
		}
	}
	if _, err := c.Do(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if _, err := c.Do(); err == nil {
		t.Error("a request after a second of silence was answered; IdleTimeout is 300ms")
	}
}
