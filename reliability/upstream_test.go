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

	"github.com/faultline-dev/faultline/internal/testkit"
)

// misbehave is the fake upstream's script for TestUpstreamFaults: the
// request path names the fault.
func misbehave(released *sync.Map) func(c net.Conn, br *bufio.Reader, req *http.Request) bool {
	return func(c net.Conn, br *bufio.Reader, req *http.Request) bool {
		io.Copy(io.Discard, req.Body)
		// waitClose blocks until the sidecar closes the connection (or
		// 30 s pass) and records when, so the test can see that nothing
		// was left hanging.
		waitClose := func() bool {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			io.Copy(io.Discard, c)
			released.Store(req.URL.Path, time.Now())
			return false
		}
		switch req.URL.Path {
		case "/ok":
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return true
		case "/close-before-head":
			return false
		case "/reset-before-head":
			reset(c)
			return false
		case "/garbage-head":
			io.WriteString(c, "HELLO THERE\r\n\r\n")
			return false
		case "/bad-content-length":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 12, 13\r\n\r\nhello world!")
			return false
		case "/stall-head":
			return waitClose()
		case "/reset-mid-body":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n")
			c.Write(make([]byte, 1000))
			time.Sleep(50 * time.Millisecond)
			reset(c)
			return false
		case "/close-mid-body":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n")
			c.Write(make([]byte, 1000))
			return false
		case "/reset-mid-chunked":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
			io.WriteString(c, "6\r\ndata 1\r\n")
			time.Sleep(50 * time.Millisecond)
			io.WriteString(c, "6\r\ndata 2\r\n")
			time.Sleep(50 * time.Millisecond)
			reset(c)
			return false
		case "/bad-chunk":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\ndata 1\r\nzz\r\n")
			return waitClose()
		case "/trickle":
			// 20 bytes, one every 150 ms: 3 s in all, three times the
			// upstream timeout, which bounds the head, not the body.
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\n")
			for i := range 20 {
				time.Sleep(150 * time.Millisecond)
				if _, err := c.Write([]byte{'a' + byte(i)}); err != nil {
					return false
				}
			}
			return true
		case "/trickle-head":
			// The head itself trickles in past the upstream timeout.
			for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") {
				time.Sleep(100 * time.Millisecond)
				if _, err := c.Write([]byte{b}); err != nil {
					released.Store(req.URL.Path, time.Now())
					return false
				}
			}
			return waitClose()
		case "/stall-body":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789")
			return waitClose()
		case "/early-hints-forever":
			for {
				if _, err := io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"); err != nil {
					return false
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		fmt.Fprintf(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
		return true
	}
}

// TestUpstreamFaults drives the sidecar against an upstream that fails in
// every way an app or its server can: it checks the status the client
// gets (502 or 504, or a truncated body that the client sees as
// truncated), how long it took, the source the 5xx is counted under, the
// access log line, that the upstream connection was released, and that no
// goroutine is left behind.
func TestUpstreamFaults(t *testing.T) {
	var released sync.Map
	up := startUpstream(t, misbehave(&released))
	s := startSidecar(t, "--upstream", up.URL, "--upstream-timeout", "1s", "--routes", routesFile(t, "/ok"))
	c := client(15 * time.Second)
	if code, body, err := get(c, s.URL+"/ok"); err != nil || code != 200 || body != "ok" {
		t.Fatalf("warm-up: %d %q %v", code, body, err)
	}
	c.CloseIdleConnections()
	baseline := leakBaseline()

	for _, tc := range []struct {
		path string
		// want is the status the client sees; truncated means a 200 head
		// and a body that ends in an error.
		want      int
		truncated bool
		body      string
		source    string
		max       time.Duration // longest the request may take
		min       time.Duration
		logged    int // status in the access log
		bug       string
	}{
		{path: "/close-before-head", want: 502, body: "faultline: upstream unreachable\n", source: "upstream_unreachable", max: 2 * time.Second, logged: 502},
		{path: "/reset-before-head", want: 502, body: "faultline: upstream unreachable\n", source: "upstream_unreachable", max: 2 * time.Second, logged: 502},
		{path: "/garbage-head", want: 502, body: "faultline: upstream unreachable\n", source: "upstream_unreachable", max: 2 * time.Second, logged: 502},
		{path: "/bad-content-length", want: 502, body: "faultline: upstream unreachable\n", source: "upstream_unreachable", max: 2 * time.Second, logged: 502},
		{path: "/stall-head", want: 504, body: "faultline: upstream timed out\n", source: "upstream_timeout", min: 900 * time.Millisecond, max: 3 * time.Second, logged: 504},
		{path: "/trickle-head", want: 504, body: "faultline: upstream timed out\n", source: "upstream_timeout", min: 900 * time.Millisecond, max: 3 * time.Second, logged: 504},
		{path: "/early-hints-forever", want: 504, body: "faultline: upstream timed out\n", source: "upstream_timeout", min: 900 * time.Millisecond, max: 3 * time.Second, logged: 504},
		{path: "/reset-mid-body", want: 200, truncated: true, max: 2 * time.Second, logged: 200},
		{path: "/close-mid-body", want: 200, truncated: true, max: 2 * time.Second, logged: 200},
		{path: "/reset-mid-chunked", want: 200, truncated: true, body: "data 1data 2", max: 2 * time.Second, logged: 200},
		{path: "/bad-chunk", want: 200, truncated: true, body: "data 1", max: 2 * time.Second, logged: 200},
		{path: "/trickle", want: 200, body: "abcdefghijklmnopqrst", min: 2900 * time.Millisecond, max: 6 * time.Second, logged: 200},
	} {
		t.Run(strings.TrimPrefix(tc.path, "/"), func(t *testing.T) {
			if tc.bug != "" {
				bug(t, tc.bug)
			}
			before := scrape(t, s.MetricsURL)
			start := time.Now()
			var body []byte
			var rerr error
			status := 0
			resp, err := c.Get(s.URL + tc.path)
			switch {
			case err == nil:
				status = resp.StatusCode
				body, rerr = io.ReadAll(resp.Body)
				resp.Body.Close()
			case tc.truncated:
				// The body broke before the sidecar flushed the head: the
				// client sees the connection close without a response,
				// which no client takes for a complete one.
				status, rerr = tc.want, err
			default:
				t.Fatalf("GET: %v (want %d)", err, tc.want)
			}
			took := time.Since(start)
			if status != tc.want {
				t.Errorf("status %d, want %d (body %q)", status, tc.want, body)
			}
			if tc.truncated {
				t.Logf("client saw: %d, %d bytes, then %v", status, len(body), rerr)
				if rerr == nil {
					t.Errorf("the body read %d bytes and ended cleanly: a truncated upstream body must reach the client as truncated", len(body))
				}
				if tc.body != "" && string(body) != tc.body && err == nil {
					t.Errorf("streamed %q before the break, want %q", body, tc.body)
				}
			} else {
				if rerr != nil {
					t.Errorf("reading the body: %v", rerr)
				}
				if tc.body != "" && string(body) != tc.body {
					t.Errorf("body %q, want %q", body, tc.body)
				}
			}
			if took > tc.max || took < tc.min {
				t.Errorf("took %v, want %v to %v", took.Round(time.Millisecond), tc.min, tc.max)
			}
			line := s.waitAccess(t, tc.path, 5*time.Second)
			if line["status"] != float64(tc.logged) {
				t.Errorf("access log status %v, want %d", line["status"], tc.logged)
			}
			after := scrape(t, s.MetricsURL)
			for _, src := range []string{"app", "upstream_unreachable", "upstream_timeout", "sidecar"} {
				d := after.Sum("faultline_server_errors_total", `source="`+src+`"`) - before.Sum("faultline_server_errors_total", `source="`+src+`"`)
				want := 0.0
				if src == tc.source {
					want = 1
				}
				if d != want {
					t.Errorf("faultline_server_errors_total{source=%q} rose by %v, want %v", src, d, want)
				}
			}
			if n := after["faultline_http_requests_in_flight"]; n != 0 {
				t.Errorf("%v requests still in flight", n)
			}
			if _, waits := map[string]bool{"/stall-head": true, "/trickle-head": true, "/bad-chunk": true}[tc.path]; waits {
				deadline := time.Now().Add(5 * time.Second)
				for {
					if _, ok := released.Load(tc.path); ok {
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("the sidecar still holds the upstream connection of %s", tc.path)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			c.CloseIdleConnections()
			checkNoLeak(t, baseline)
		})
	}
	// The sidecar still serves, and keeps only healthy connections.
	if code, body, err := get(c, s.URL+"/ok"); err != nil || code != 200 || body != "ok" {
		t.Fatalf("after the faults: %d %q %v", code, body, err)
	}
	c.CloseIdleConnections()
	if err := s.stop(t); err != nil {
		t.Errorf("drain: %v", err)
	}
	checkNoLeak(t, baseline)
}

// TestUpstreamRefused: nothing listens on the upstream port. Every method
// gets a quick 502 counted as upstream_unreachable, and /readyz says so.
func TestUpstreamRefused(t *testing.T) {
	addr := testkit.FreeAddr(t)
	s := startSidecar(t, "--upstream", "http://"+addr, "--routes", routesFile(t, "/items/{id}"))
	c := client(10 * time.Second)
	baseline := leakBaseline()
	before := scrape(t, s.MetricsURL)
	for _, m := range []struct{ method, body string }{{"GET", ""}, {"POST", `{"a":1}`}, {"PUT", strings.Repeat("x", 200<<10)}, {"DELETE", ""}} {
		var body io.Reader
		if m.body != "" {
			body = strings.NewReader(m.body)
		}
		req, _ := http.NewRequest(m.method, s.URL+"/items/1", body)
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", m.method, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 502 || string(b) != "faultline: upstream unreachable\n" {
			t.Errorf("%s: %d %q", m.method, resp.StatusCode, b)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: a refused connection took %v to report", m.method, d)
		}
	}
	after := scrape(t, s.MetricsURL)
	if d := after.Sum("faultline_server_errors_total", `source="upstream_unreachable"`) - before.Sum("faultline_server_errors_total", `source="upstream_unreachable"`); d != 4 {
		t.Errorf("upstream_unreachable rose by %v, want 4", d)
	}
	waitMetric(t, s.MetricsURL, 5*time.Second, "faultline_upstream_up 0", func(m samples) bool { return m["faultline_upstream_up"] == 0 })
	resp, err := http.Get(s.MetricsURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/readyz %d with the upstream down", resp.StatusCode)
	}
	c.CloseIdleConnections()
	checkNoLeak(t, baseline)
}

// TestUpstreamStalledBody: the upstream sends its head and part of the
// body, then nothing, forever, without closing. The sidecar must not hold
// the client and the upstream connection forever: past an idle timeout
// (the upstream timeout, as nginx's proxy_read_timeout bounds the time
// between two reads) it must end the exchange, the client must see a
// truncated body, and the upstream connection must be closed.
func TestUpstreamStalledBody(t *testing.T) {
	var released sync.Map
	up := startUpstream(t, misbehave(&released))
	s := startSidecar(t, "--upstream", up.URL, "--upstream-timeout", "1s", "--routes", routesFile(t, "/ok"))
	c := client(20 * time.Second)
	baseline := leakBaseline()
	start := time.Now()
	var body []byte
	resp, err := c.Get(s.URL + "/stall-body")
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	took := time.Since(start)
	// Whether the head was flushed before the stall or not, the client
	// must see an error, soon.
	if err == nil || strings.Contains(err.Error(), "Client.Timeout") {
		t.Errorf("client saw %q, %v: want the exchange cut by the sidecar", body, err)
	}
	if took > 5*time.Second {
		t.Errorf("a stalled upstream body held the client %v; the upstream timeout is 1s", took.Round(time.Millisecond))
	}
	// The upstream failed, not the client.
	if line := s.waitAccess(t, "/stall-body", 5*time.Second); line["status"] == float64(499) {
		t.Error("a stalled upstream body was logged as 499, a client that went away")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := released.Load("/stall-body"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Error("the upstream connection is still open")
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.CloseIdleConnections()
	checkNoLeak(t, baseline)
}

// TestUpstreamHugeResponseHead: an upstream that never ends its response
// head (a bug in a cookie loop, say) must cost the sidecar a bounded
// amount of memory: it must give up after about 1 MiB of head (what
// --max-header-bytes would allow a client) with a 502.
func TestUpstreamHugeResponseHead(t *testing.T) {
	var written atomic.Int64
	up := startUpstream(t, func(c net.Conn, br *bufio.Reader, req *http.Request) bool {
		if req.URL.Path == "/ok" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return true
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := []byte("Set-Cookie: c=" + strings.Repeat("v", 4000) + "\r\n")
		c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		for written.Load() < 256<<20 {
			n, err := c.Write(line)
			written.Add(int64(n))
			if err != nil {
				return false
			}
		}
		return false
	})
	s := startSidecar(t, "--upstream", up.URL, "--upstream-timeout", "30s", "--routes", routesFile(t, "/ok"))
	c := client(60 * time.Second)
	start := time.Now()
	code, _, err := get(c, s.URL+"/huge-head")
	if err != nil {
		t.Fatal(err)
	}
	if code != 502 {
		t.Errorf("status %d, want 502", code)
	}
	// Loopback socket buffers hold a few MiB; beyond them every byte was
	// read by the sidecar.
	if n := written.Load(); n > 32<<20 {
		t.Errorf("the sidecar read %d MiB of response head before giving up (%v)", n>>20, time.Since(start).Round(time.Millisecond))
	}
}
