package reliability

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDrain500InFlight: SIGTERM while 500 requests are in flight. Every
// one completes with 200, new connections are refused once the listener
// is closed, and the process exits 0.
func TestDrain500InFlight(t *testing.T) {
	a := startApp(t, "")
	p := startBinary(t, nil, "--upstream", a.URL, "--drain-timeout", "30s", "--access-log", "off")
	const n = 500
	type result struct {
		code int
		body string
		err  error
	}
	results := make(chan result, n)
	tr := &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: n}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	for i := range n {
		go func() {
			// Some requests are uploads still streaming when SIGTERM comes.
			var resp *http.Response
			var err error
			if i%5 == 0 {
				resp, err = c.Post(p.URL+"/upload", "application/octet-stream", &slowBody{chunk: 10 << 10, n: 10, gap: 400 * time.Millisecond})
			} else {
				resp, err = c.Get(p.URL + "/slow?seconds=4")
			}
			if err != nil {
				results <- result{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- result{resp.StatusCode, string(b), err}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for scrape(t, p.MetricsURL)["faultline_http_requests_in_flight"] < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %v requests in flight", scrape(t, p.MetricsURL)["faultline_http_requests_in_flight"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	inFlight := scrape(t, p.MetricsURL)["faultline_http_requests_in_flight"]
	sigAt := time.Now()
	p.signal(syscall.SIGTERM)

	// The listener closes: a new client is refused (after DrainDelay,
	// zero here), while the in-flight requests go on.
	refused := false
	for range 100 {
		conn, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err != nil {
			refused = true
			break
		}
		conn.Close()
		time.Sleep(10 * time.Millisecond)
	}
	if !refused {
		t.Error("the sidecar still accepts connections during the drain")
	}
	failed := 0
	for range n {
		r := <-results
		if r.err != nil || r.code != 200 {
			failed++
			if failed <= 5 {
				t.Errorf("in-flight request failed during the drain: %d %q %v", r.code, r.body, r.err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d requests failed", failed, n)
	}
	code := p.wait(t, 30*time.Second)
	t.Logf("%v in flight at SIGTERM; all done and exited %v after it", inFlight, time.Since(sigAt).Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit code %d after a clean drain", code)
	}
	if !strings.Contains(p.Stderr.String(), `"msg":"drained"`) {
		t.Error("no drained line")
	}
}

// startSlow sends one request for /slow?seconds=30 and reports how it ends.
func startSlow(t *testing.T, url string) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		c := &http.Client{Transport: &http.Transport{}, Timeout: 60 * time.Second}
		resp, err := c.Get(url + "/slow?seconds=30")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				err = fmt.Errorf("completed with %d", resp.StatusCode)
			}
		}
		done <- err
	}()
	return done
}

func waitInFlight(t *testing.T, metricsURL string, n float64) {
	t.Helper()
	waitMetric(t, metricsURL, 10*time.Second, "requests in flight", func(m samples) bool {
		return m["faultline_http_requests_in_flight"] >= n
	})
}

// TestSecondSIGTERMForcesExit: a drain waiting on a slow request ends at
// once on a second SIGTERM; the client sees its connection close.
func TestSecondSIGTERMForcesExit(t *testing.T) {
	a := startApp(t, "")
	p := startBinary(t, nil, "--upstream", a.URL, "--drain-timeout", "60s")
	done := startSlow(t, p.URL)
	waitInFlight(t, p.MetricsURL, 1)
	p.signal(syscall.SIGTERM)
	time.Sleep(500 * time.Millisecond)
	select {
	case <-p.exited:
		t.Fatal("exited on the first SIGTERM with a request in flight")
	default:
	}
	at := time.Now()
	p.signal(syscall.SIGTERM)
	code := p.wait(t, 5*time.Second)
	t.Logf("exited %v after the second SIGTERM, code %d", time.Since(at).Round(time.Millisecond), code)
	if code == 0 {
		t.Error("exit code 0 after a forced exit")
	}
	wantCutShort(t, done)
}

// wantCutShort wants the in-flight request of done to have failed once the
// sidecar exited, rather than to complete or to hang.
func wantCutShort(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err == nil || strings.Contains(err.Error(), "completed") {
			t.Errorf("the in-flight request: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the client still waits after the sidecar exited")
	}
}

// TestDrainTimeoutForcesExit: a drain that passes --drain-timeout closes
// the remaining connections and exits non-zero, on time.
func TestDrainTimeoutForcesExit(t *testing.T) {
	a := startApp(t, "")
	p := startBinary(t, nil, "--upstream", a.URL, "--drain-timeout", "1s")
	var dones []<-chan error
	for range 3 {
		dones = append(dones, startSlow(t, p.URL))
	}
	waitInFlight(t, p.MetricsURL, 3)
	at := time.Now()
	p.signal(syscall.SIGTERM)
	code := p.wait(t, 10*time.Second)
	took := time.Since(at)
	t.Logf("exited %v after SIGTERM, code %d", took.Round(time.Millisecond), code)
	if took > 4*time.Second {
		t.Errorf("a 1s drain took %v", took)
	}
	if code == 0 {
		t.Error("exit code 0 after a drain that timed out")
	}
	if !strings.Contains(p.Stderr.String(), "drain timed out") {
		t.Error("no log line says the drain timed out")
	}
	for _, done := range dones {
		wantCutShort(t, done)
	}
}

// TestDrainWithIdleKeepAlive: idle keep-alive clients do not hold the
// drain: SIGTERM with 1000 idle connections and nothing in flight exits
// at once.
func TestDrainWithIdleKeepAlive(t *testing.T) {
	a := startApp(t, "")
	p := startBinary(t, nil, "--upstream", a.URL, "--drain-timeout", "30s", "--access-log", "off")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Go(func() {
			c, err := net.Dial("tcp", p.Addr)
			if err != nil {
				t.Error(err)
				return
			}
			fmt.Fprintf(c, "GET /items/%d HTTP/1.1\r\nHost: x\r\n\r\n", i%100)
			resp, err := http.ReadResponse(bufioReader(c), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("request %d: %v", i, err)
				c.Close()
				return
			}
			io.Copy(io.Discard, resp.Body)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		})
	}
	wg.Wait()
	at := time.Now()
	p.signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if d := time.Since(at); d > 3*time.Second {
		t.Errorf("idle connections held the drain %v", d)
	}
}

// slowBody is an upload of n chunks of chunk bytes, gap apart.
type slowBody struct {
	chunk, n int
	gap      time.Duration
	sent     int
}

func (b *slowBody) Read(p []byte) (int, error) {
	if b.sent == b.n {
		return 0, io.EOF
	}
	time.Sleep(b.gap)
	b.sent++
	return copy(p, strings.Repeat("u", min(b.chunk, len(p)))), nil
}
