package reliability

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// goroutines is the sidecar binary's go_goroutines.
func goroutines(t *testing.T, metricsURL string) float64 {
	return scrape(t, metricsURL)["go_goroutines"]
}

// waitGoroutines waits until the sidecar's goroutine count is back to at
// most limit, and fails with the count otherwise.
func waitGoroutines(t *testing.T, metricsURL string, limit float64, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		n := goroutines(t, metricsURL)
		if n <= limit {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("the sidecar runs %v goroutines, %v at the start: a leak", n, limit)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWorkerKilledMidRequest kills the gunicorn worker serving a request
// (SIGKILL, as the OOM killer does), before it answers and while it
// streams. The client gets a quick 502 counted as upstream_unreachable,
// or a stream that ends in an error; the sidecar recovers as soon as
// gunicorn has replaced the worker, and keeps no goroutine or connection.
func TestWorkerKilledMidRequest(t *testing.T) {
	a := startApp(t, "")
	p := startBinary(t, nil, "--upstream", a.URL, "--routes", routesFile(t, "/items/{id}", "/die", "/die-stream"))
	c := client(30 * time.Second)
	for i := range 20 {
		if code, _, err := get(c, fmt.Sprintf("%s/items/%d", p.URL, i)); err != nil || code != 200 {
			t.Fatalf("warm-up: %d %v", code, err)
		}
	}
	c.CloseIdleConnections()
	startGoroutines := goroutines(t, p.MetricsURL)
	startFiles := openFiles(p.cmd.Process.Pid)

	t.Run("before the answer", func(t *testing.T) {
		workers := a.workers(t)
		before := scrape(t, p.MetricsURL)
		start := time.Now()
		code, body, err := get(c, p.URL+"/die?after=0.3")
		took := time.Since(start)
		if err != nil || code != 502 || body != "faultline: upstream unreachable\n" {
			t.Errorf("got %d %q %v, want 502", code, body, err)
		}
		if took > 3*time.Second {
			t.Errorf("took %v", took)
		}
		after := scrape(t, p.MetricsURL)
		if d := after.Sum("faultline_server_errors_total", `route="/die"`, `source="upstream_unreachable"`) - before.Sum("faultline_server_errors_total", `route="/die"`, `source="upstream_unreachable"`); d != 1 {
			t.Errorf("upstream_unreachable for /die rose by %v, want 1", d)
		}
		// How many workers did one request kill? A GET that failed on a
		// reused connection is retried once on a new one.
		alive := 0
		for _, w := range workers {
			if syscall.Kill(w, 0) == nil {
				alive++
			}
		}
		t.Logf("workers killed by one request: %d of %d", len(workers)-alive, len(workers))
	})
	t.Run("while streaming", func(t *testing.T) {
		resp, err := c.Get(p.URL + "/die-stream?chunks=3")
		if err != nil {
			t.Fatal(err)
		}
		body, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || rerr == nil {
			t.Errorf("got %d %q, body error %v: want a 200 stream that ends in an error", resp.StatusCode, body, rerr)
		}
		if !strings.HasPrefix(string(body), "chunk 0\nchunk 1\nchunk 2\n") {
			t.Errorf("streamed %q before the worker died", body)
		}
	})
	t.Run("recovers", func(t *testing.T) {
		deadline := time.Now().Add(20 * time.Second)
		ok := 0
		for ok < 20 {
			code, _, err := get(c, p.URL+"/items/7")
			if err == nil && code == 200 {
				ok++
			} else {
				ok = 0
				if time.Now().After(deadline) {
					t.Fatalf("no recovery: %d %v\n%s", code, err, a.log.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	})
	c.CloseIdleConnections()
	waitGoroutines(t, p.MetricsURL, startGoroutines+2, 10*time.Second)
	if n := openFiles(p.cmd.Process.Pid); n > startFiles+4 {
		t.Errorf("the sidecar holds %d files, %d at the start", n, startFiles)
	}
}

// TestUpstreamRestartUnderLoad keeps clients busy while gunicorn reloads
// its workers (SIGHUP) and then restarts altogether (SIGTERM, a new
// gunicorn on the same port). Every request must get an answer, 200 or a
// quick 502 counted as upstream_unreachable; none may hang; and once the
// app is back, everything passes again.
func TestUpstreamRestartUnderLoad(t *testing.T) {
	a := startApp(t, "")
	p := startBinary(t, nil, "--upstream", a.URL, "--access-log", "off", "--routes", routesFile(t, "/items/{id}", "/items"))
	warm := client(10 * time.Second)
	for i := range 10 {
		get(warm, fmt.Sprintf("%s/items/%d", p.URL, i))
	}
	warm.CloseIdleConnections()
	startGoroutines := goroutines(t, p.MetricsURL)
	before := scrape(t, p.MetricsURL)

	type outcome struct {
		phase  string
		code   int
		err    error
		took   time.Duration
		method string
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		phase    atomic.Value
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	phase.Store("steady")
	for w := range 8 {
		wg.Go(func() {
			c := client(15 * time.Second)
			defer c.CloseIdleConnections()
			for i := 0; !stop.Load(); i++ {
				var req *http.Request
				if (i+w)%3 == 0 {
					req, _ = http.NewRequest("POST", p.URL+"/items", strings.NewReader(`{"name":"x","price":1.5}`))
					req.Header.Set("Content-Type", "application/json")
				} else {
					req, _ = http.NewRequest("GET", fmt.Sprintf("%s/items/%d", p.URL, i%500), nil)
				}
				ph := phase.Load().(string)
				start := time.Now()
				resp, err := c.Do(req)
				o := outcome{phase: ph, err: err, took: time.Since(start), method: req.Method}
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					o.code = resp.StatusCode
				}
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	time.Sleep(2 * time.Second)
	phase.Store("reload")
	syscall.Kill(a.cmd.Process.Pid, syscall.SIGHUP)
	time.Sleep(4 * time.Second)
	phase.Store("restart")
	a.stop()
	a2 := startApp(t, a.Addr)
	phase.Store("after")
	time.Sleep(3 * time.Second)
	stop.Store(true)
	wg.Wait()
	_ = a2

	counts := map[string]map[string]int{}
	var slowest time.Duration
	errs502 := 0
	for _, o := range outcomes {
		if counts[o.phase] == nil {
			counts[o.phase] = map[string]int{}
		}
		k := fmt.Sprint(o.method, " ", o.code)
		if o.err != nil {
			k = o.method + " error: " + o.err.Error()
			t.Errorf("%s: a request got no answer: %v", o.phase, o.err)
		}
		counts[o.phase][k]++
		slowest = max(slowest, o.took)
		if o.code == 502 {
			errs502++
		}
		if o.code != 200 && o.code != 502 {
			t.Errorf("%s: %s %d", o.phase, o.method, o.code)
		}
	}
	if testing.Verbose() {
		for line := range strings.Lines(p.Stderr.String()) {
			if strings.Contains(line, "upstream request failed") {
				t.Log(strings.TrimSpace(line))
			}
		}
	}
	js, _ := json.Marshal(counts)
	t.Logf("outcomes by phase: %s; slowest %v", js, slowest.Round(time.Millisecond))
	if slowest > 7*time.Second {
		t.Errorf("a request took %v", slowest)
	}
	for k, n := range counts["steady"] {
		if !strings.HasSuffix(k, " 200") {
			t.Errorf("steady state: %d × %s", n, k)
		}
	}
	// The last second is all 200.
	tailOK := 0
	for i := len(outcomes) - 1; i >= 0 && outcomes[i].phase == "after"; i-- {
		if outcomes[i].code != 200 {
			break
		}
		tailOK++
	}
	if tailOK < 50 {
		t.Errorf("only the last %d requests passed after the restart", tailOK)
	}
	after := scrape(t, p.MetricsURL)
	if d := after.Sum("faultline_server_errors_total", `source="upstream_unreachable"`) - before.Sum("faultline_server_errors_total", `source="upstream_unreachable"`); int(d) != errs502 {
		t.Errorf("clients got %d 502s, upstream_unreachable rose by %v", errs502, d)
	}
	if d := after.Sum("faultline_server_errors_total", `source="upstream_timeout"`) - before.Sum("faultline_server_errors_total", `source="upstream_timeout"`); d != 0 {
		t.Errorf("upstream_timeout rose by %v", d)
	}
	waitGoroutines(t, p.MetricsURL, startGoroutines+2, 10*time.Second)
}
