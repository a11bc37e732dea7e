package reliability

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echoUpstream answers every request 200 with the path and the number of
// body bytes it read, and records, per path, how the body ended.
type echoUpstream struct {
	*fakeUpstream
	bodies sync.Map // path -> bodyResult
}

type bodyResult struct {
	n   int64
	err error
	at  time.Time
}

func startEcho(t *testing.T) *echoUpstream {
	t.Helper()
	e := &echoUpstream{}
	e.fakeUpstream = startUpstream(t, func(c net.Conn, br *bufio.Reader, req *http.Request) bool {
		n, err := io.Copy(io.Discard, req.Body)
		e.bodies.Store(req.URL.Path, bodyResult{n, err, time.Now()})
		if err != nil {
			return false
		}
		body := fmt.Sprintf("%s %d", req.URL.Path, n)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		return true
	})
	return e
}

// waitBody waits for the upstream to finish reading the body of path.
func (e *echoUpstream) waitBody(t *testing.T, path string, d time.Duration) (bodyResult, bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if v, ok := e.bodies.Load(path); ok {
			return v.(bodyResult), true
		}
		if time.Now().After(deadline) {
			return bodyResult{}, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSlowlorisHeaders opens connections that send their request head a
// byte at a time, and connections that send nothing. ReadHeaderTimeout
// (10 s) must close each of them; while they hang, other clients are
// served at once; the upstream never sees them.
func TestSlowlorisHeaders(t *testing.T) {
	long(t, "waits out the 10 s header timeout")
	up := startEcho(t)
	s := startSidecar(t, "--upstream", up.URL, "--routes", routesFile(t, "/ok"))
	c := client(5 * time.Second)
	baseline := warmBaseline(t, c, s.URL+"/ok")
	seen := up.requests.Load()

	const n = 300
	start := time.Now()
	var closedAfter sync.Map
	var wg sync.WaitGroup
	for i := range n {
		conn, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer conn.Close()
			if i%3 != 0 {
				// Slowloris: a valid head, one byte every 500 ms, forever.
				head := "GET /slowloris HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("a", 1000)
				for j := 0; j < len(head); j++ {
					if _, err := conn.Write([]byte{head[j]}); err != nil {
						break
					}
					time.Sleep(500 * time.Millisecond)
				}
			} else {
				// Connects and says nothing.
				conn.SetReadDeadline(time.Now().Add(30 * time.Second))
				io.Copy(io.Discard, conn)
			}
			closedAfter.Store(i, time.Since(start))
		})
	}
	// Others are served meanwhile, quickly.
	for i := range 20 {
		t0 := time.Now()
		code, body, err := get(c, fmt.Sprintf("%s/ok%d", s.URL, i))
		if err != nil || code != 200 {
			t.Fatalf("request while %d slow clients hang: %d %q %v", n, code, body, err)
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Errorf("request took %v while slow clients hang", d)
		}
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()
	var worst time.Duration
	closedAfter.Range(func(_, v any) bool {
		worst = max(worst, v.(time.Duration))
		return true
	})
	if worst > 13*time.Second {
		t.Errorf("a slow client held its connection %v; ReadHeaderTimeout is 10s", worst.Round(time.Millisecond))
	}
	if got := up.requests.Load() - seen; got != 20 {
		t.Errorf("the upstream saw %d requests, want the 20 complete ones", got)
	}
	c.CloseIdleConnections()
	checkNoLeak(t, baseline)
}

// TestClientStopsReadingBackpressure: a client asks for a large body and
// stops reading. The sidecar must not buffer the body: the upstream's
// writes must block once the socket buffers are full.
func TestClientStopsReadingBackpressure(t *testing.T) {
	var written atomic.Int64
	var released atomic.Bool
	up := startUpstream(t, func(c net.Conn, br *bufio.Reader, req *http.Request) bool {
		const size = 512 << 20
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", size)
		buf := make([]byte, 64<<10)
		c.SetWriteDeadline(time.Now().Add(60 * time.Second))
		for written.Load() < size {
			n, err := c.Write(buf)
			written.Add(int64(n))
			if err != nil {
				released.Store(true)
				return false
			}
		}
		return true
	})
	s := startSidecar(t, "--upstream", up.URL, "--routes", routesFile(t, "/big"))
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A small receive buffer, as a slow mobile client has.
	conn.(*net.TCPConn).SetReadBuffer(16 << 10)
	io.WriteString(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	head := make([]byte, 512)
	if _, err := conn.Read(head); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(head), "HTTP/1.1 200") {
		t.Fatalf("head %q", head)
	}
	// Let the sidecar and the upstream fill every buffer between them.
	var last int64
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		if n := written.Load(); n == last && n > 0 {
			break
		} else {
			last = n
		}
	}
	time.Sleep(500 * time.Millisecond)
	if n := written.Load(); n > 64<<20 {
		t.Errorf("the upstream wrote %d MiB to a client that stopped reading: the sidecar buffers bodies", n>>20)
	} else {
		t.Logf("upstream blocked after %d KiB (socket buffers)", n>>10)
	}
	if m := scrape(t, s.MetricsURL)["faultline_http_requests_in_flight"]; m != 1 {
		t.Errorf("in flight %v, want 1", m)
	}
	// The client goes away: everything is released.
	conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !released.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the upstream connection was not closed after the client left")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitMetric(t, s.MetricsURL, 5*time.Second, "no request in flight", func(m samples) bool { return m["faultline_http_requests_in_flight"] == 0 })
	line := s.waitAccess(t, "/big", 5*time.Second)
	if line["status"] != float64(499) {
		t.Errorf("access log status %v, want 499 for a client that left", line["status"])
	}
}

// TestClientStopsReadingReleased: a client that stops reading, but keeps
// its connection open (a zero TCP window, which keep-alives do not end),
// must not hold the sidecar's goroutine and the upstream connection
// forever: past an idle timeout without progress (the upstream timeout,
// as nginx's send_timeout) the sidecar must give up on it.
func TestClientStopsReadingReleased(t *testing.T) {
	var released atomic.Bool
	up := startUpstream(t, func(c net.Conn, br *bufio.Reader, req *http.Request) bool {
		const size = 512 << 20
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", size)
		buf := make([]byte, 64<<10)
		c.SetWriteDeadline(time.Now().Add(60 * time.Second))
		for range size / len(buf) {
			if _, err := c.Write(buf); err != nil {
				released.Store(true)
				return false
			}
		}
		return true
	})
	s := startSidecar(t, "--upstream", up.URL, "--upstream-timeout", "1s", "--routes", routesFile(t, "/big"))
	baseline := leakBaseline()
	conn, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(16 << 10)
	io.WriteString(conn, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	conn.Read(make([]byte, 512))
	start := time.Now()
	for !released.Load() {
		if time.Since(start) > 10*time.Second {
			t.Fatal("a client that stopped reading still holds the upstream connection after 10s; the idle timeout is 1s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitMetric(t, s.MetricsURL, 5*time.Second, "no request in flight", func(m samples) bool { return m["faultline_http_requests_in_flight"] == 0 })
	conn.Close()
	checkNoLeak(t, baseline)
}

// TestClientDisconnectMidUpload: clients that go away in the middle of
// their upload. The exchange is logged as 499 (not as an upstream
// failure), the upstream request is cancelled (the app's body read ends
// in an error, it does not wait for bytes that will never come), and
// nothing is left behind.
func TestClientDisconnectMidUpload(t *testing.T) {
	up := startEcho(t)
	s := startSidecar(t, "--upstream", up.URL, "--routes", routesFile(t, "/up/{kind}"))
	c := client(5 * time.Second)
	baseline := warmBaseline(t, c, s.URL+"/up/warm")
	for _, tc := range []struct {
		name, head string
		sent       int
		bug        string
	}{
		// Small bodies take the fast path, large and chunked ones the
		// fallback transport.
		{name: "small", head: "POST /up/small HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n", sent: 5000},
		{name: "large", head: "POST /up/large HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n", sent: 1 << 20},
		{name: "chunked", head: "POST /up/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", sent: 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bug != "" {
				bug(t, tc.bug)
			}
			before := scrape(t, s.MetricsURL)
			conn, err := net.Dial("tcp", s.Addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(conn, tc.head)
			chunk := strings.Repeat("x", 1000)
			for sent := 0; sent < tc.sent; sent += len(chunk) {
				if strings.Contains(tc.head, "chunked") {
					fmt.Fprintf(conn, "%x\r\n%s\r\n", len(chunk), chunk)
				} else {
					io.WriteString(conn, chunk)
				}
			}
			time.Sleep(200 * time.Millisecond) // the upstream is reading
			closedAt := time.Now()
			conn.Close()

			path := "/up/" + tc.name
			res, ok := up.waitBody(t, path, 5*time.Second)
			if !ok {
				t.Errorf("the upstream is still reading the body 5s after the client left: its request was not cancelled")
			} else {
				if res.err == nil {
					t.Errorf("the upstream read a complete body of %d bytes: the broken upload looked whole", res.n)
				}
				if d := res.at.Sub(closedAt); d > 2*time.Second {
					t.Errorf("the upstream request was cancelled %v after the client left", d)
				}
			}
			line := s.waitAccess(t, path, 5*time.Second)
			if line["status"] != float64(499) {
				t.Errorf("access log status %v, want 499", line["status"])
			}
			after := waitMetric(t, s.MetricsURL, 5*time.Second, "no request in flight", func(m samples) bool { return m["faultline_http_requests_in_flight"] == 0 })
			if d := after.Sum("faultline_server_errors_total") - before.Sum("faultline_server_errors_total"); d != 0 {
				t.Errorf("a client that left was counted as %v server errors", d)
			}
			checkNoLeak(t, baseline)
		})
	}
}

// TestOversizedHeaders: a head over 1 MiB (MaxHeaderBytes) is answered 431
// and never forwarded.
func TestOversizedHeaders(t *testing.T) {
	up := startEcho(t)
	s := startSidecar(t, "--upstream", up.URL, "--routes", routesFile(t, "/ok"))
	baseline := leakBaseline()
	for _, tc := range []struct{ name, raw string }{
		{"one huge header", "GET /ok HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n"},
		{"many headers", "GET /ok HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Many: "+strings.Repeat("b", 1000)+"\r\n", 1500) + "\r\n"},
		{"huge cookie", "GET /ok HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("c=d; ", 300<<10) + "\r\n\r\n"},
		{"huge target", "GET /ok?" + strings.Repeat("q", 2<<20) + " HTTP/1.1\r\nHost: x\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := up.requests.Load()
			got := rawExchange(t, s.Addr, tc.raw, 10*time.Second)
			if !strings.HasPrefix(got, "HTTP/1.1 431 ") {
				t.Errorf("answered %q, want 431", firstLine(got))
			}
			if up.requests.Load() != seen {
				t.Error("the oversized request reached the upstream")
			}
		})
	}
	// Just under the limit is fine.
	raw := "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + strings.Repeat("a", 900<<10) + "\r\n\r\n"
	if got := rawExchange(t, s.Addr, raw, 10*time.Second); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Errorf("a 900 KiB header: %q, want 200", firstLine(got))
	}
	checkNoLeak(t, baseline)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\r\n")
	return l
}

// TestMalformedRequests: requests that are not HTTP/1.1 are answered 400
// (or 501/505) by the sidecar and never reach the upstream.
func TestMalformedRequests(t *testing.T) {
	up := startEcho(t)
	s := startSidecar(t, "--upstream", up.URL, "--routes", routesFile(t, "/ok"))
	baseline := leakBaseline()
	for _, tc := range []struct {
		name, raw string
		want      string // status code prefix
	}{
		{"not http", "HELLO WORLD\r\n\r\n", "400"},
		{"binary", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "400"},
		{"no host on 1.1", "GET /ok HTTP/1.1\r\n\r\n", "400"},
		{"two hosts", "GET /ok HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"},
		{"space in header name", "GET /ok HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", "400"},
		{"space before colon", "GET /ok HTTP/1.1\r\nHost: x\r\nX-A : v\r\n\r\n", "400"},
		{"NUL in value", "GET /ok HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", "400"},
		{"bare CR in value", "GET /ok HTTP/1.1\r\nHost: x\r\nX-A: a\rX-B: b\r\n\r\n", "400"},
		{"no colon", "GET /ok HTTP/1.1\r\nHost: x\r\nX-A\r\n\r\n", "400"},
		{"bad version", "GET /ok HTTP/9.9\r\nHost: x\r\n\r\n", "505"},
		{"bad content-length", "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "400"},
		{"negative content-length", "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "400"},
		{"signed content-length", "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", "400"},
		{"huge content-length", "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", "400"},
		{"control char in target", "GET /o\x01k HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
		{"unknown transfer-encoding", "POST /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "501"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := up.requests.Load()
			got := rawExchange(t, s.Addr, tc.raw, 5*time.Second)
			if !strings.HasPrefix(got, "HTTP/1.1 "+tc.want+" ") {
				t.Errorf("answered %q, want %s", firstLine(got), tc.want)
			}
			if up.requests.Load() != seen {
				t.Errorf("forwarded to the upstream: %q", up.Heads()[len(up.Heads())-1])
			}
		})
	}
	// RFC 9112 section 5.2 lets a server either reject an obs-fold or
	// replace it with spaces before forwarding; Go does the latter.
	t.Run("obs-fold", func(t *testing.T) {
		seen := up.requests.Load()
		got := rawExchange(t, s.Addr, "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-A: a\r\n b\r\n\r\n", 5*time.Second)
		switch {
		case strings.HasPrefix(got, "HTTP/1.1 400 "):
			if up.requests.Load() != seen {
				t.Error("rejected, and forwarded too")
			}
		case strings.HasPrefix(got, "HTTP/1.1 200 "):
			heads := up.Heads()
			if h := heads[len(heads)-1]; !strings.Contains(h, "\r\nX-A: a b\r\n") {
				t.Errorf("the fold reached the upstream: %q", h)
			}
		default:
			t.Errorf("answered %q", firstLine(got))
		}
	})
	checkNoLeak(t, baseline)
}

// TestMalformedChunkedBody: a request whose head is valid but whose
// chunked body is not. The head has been forwarded by then, so the
// upstream request must be cancelled and the client answered 400 — a
// client's bad body is not an upstream failure.
func TestMalformedChunkedBody(t *testing.T) {
	up := startEcho(t)
	s := startSidecar(t, "--upstream", up.URL, "--routes", routesFile(t, "/ok"))
	before := scrape(t, s.MetricsURL)
	got := rawExchange(t, s.Addr, "POST /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", 5*time.Second)
	res, ok := up.waitBody(t, "/ok", 5*time.Second)
	if ok && res.err == nil {
		t.Errorf("the upstream read a complete body of %d bytes from a broken chunked upload", res.n)
	}
	after := scrape(t, s.MetricsURL)
	unreachable := after.Sum("faultline_server_errors_total", `source="upstream_unreachable"`) - before.Sum("faultline_server_errors_total", `source="upstream_unreachable"`)
	t.Logf("client got %q; upstream_unreachable +%v", firstLine(got), unreachable)
	if !strings.HasPrefix(got, "HTTP/1.1 400 ") {
		t.Errorf("answered %q, want 400", firstLine(got))
	}
	if unreachable != 0 {
		t.Errorf("a client's bad body was counted as %v upstream_unreachable errors", unreachable)
	}
}
