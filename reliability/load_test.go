package reliability

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/faultline-dev/faultline/internal/testkit"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

// scraper scrapes /metrics every interval until stopped, as Prometheus
// does during the load, and checks each scrape: it answers, parses, and
// no counter goes down.
type scraper struct {
	n, failed atomic.Int64
	slowest   atomic.Int64 // ns
	mu        sync.Mutex
	errs      []string
	stop      context.CancelFunc
	done      chan struct{}
}

func startScraper(metricsURL string, interval time.Duration) *scraper {
	ctx, cancel := context.WithCancel(context.Background())
	s := &scraper{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		var last samples
		for ctx.Err() == nil {
			start := time.Now()
			m, err := testkit.Scrape(metricsURL)
			took := time.Since(start)
			s.n.Add(1)
			if int64(took) > s.slowest.Load() {
				s.slowest.Store(int64(took))
			}
			if err != nil {
				s.failed.Add(1)
				s.note(err.Error())
			} else {
				for k, v := range last {
					if strings.HasSuffix(strings.SplitN(k, "{", 2)[0], "_total") && m[k] < v {
						s.note(fmt.Sprintf("counter %s went down: %v then %v", k, v, m[k]))
					}
				}
				last = m
			}
			select {
			case <-ctx.Done():
			case <-time.After(interval):
			}
		}
	}()
	return s
}

func (s *scraper) note(msg string) {
	s.mu.Lock()
	if len(s.errs) < 5 {
		s.errs = append(s.errs, msg)
	}
	s.mu.Unlock()
}

// check stops the scraper and reports what it saw.
func (s *scraper) check(t *testing.T) {
	t.Helper()
	s.stop()
	<-s.done
	t.Logf("%d scrapes during the load, slowest %v", s.n.Load(), time.Duration(s.slowest.Load()).Round(time.Millisecond))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errs {
		t.Errorf("scrape: %s", e)
	}
	if time.Duration(s.slowest.Load()) > 5*time.Second {
		t.Errorf("a scrape took %v", time.Duration(s.slowest.Load()))
	}
}

// TestTenThousandKeepAliveConnections holds 10 000 client connections
// open to the sidecar in front of gunicorn, and sends two requests on
// each, keep-alive, in two waves, while Prometheus scrapes. Every request
// passes on its own connection; a new client is served at once meanwhile;
// the sidecar's memory stays bounded; when the clients leave, its
// goroutines and files go back to what they were.
func TestTenThousandKeepAliveConnections(t *testing.T) {
	long(t, "10 000 connections")
	const conns = 10000
	// This process holds the client ends, the sidecar (which inherits the
	// limit TestMain raised) the server ends and its upstream connections.
	if lim := fileLimit(); lim < conns+1000 {
		t.Fatalf("RLIMIT_NOFILE is %d and cannot be raised; the test needs %d (ulimit -n)", lim, conns+1000)
	}
	a := startApp(t, "")
	p := startBinary(t, nil, "--upstream", a.URL, "--access-log", "off", "--routes", routesFile(t, "/items/{id}"))
	pid := p.cmd.Process.Pid
	warm := client(10 * time.Second)
	for i := range 20 {
		get(warm, fmt.Sprintf("%s/items/%d", p.URL, i))
	}
	warm.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)
	startGoroutines := goroutines(t, p.MetricsURL)
	startFiles := openFiles(pid)
	startRSS := procStatus(t, pid, "VmRSS")

	type cconn struct {
		c  net.Conn
		br *bufio.Reader
	}
	cs := make([]cconn, conns)
	var dialWG sync.WaitGroup
	var dialErrs atomic.Int64
	sem := make(chan struct{}, 200)
	dialStart := time.Now()
	for i := range cs {
		dialWG.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", p.Addr, 10*time.Second)
			if err != nil {
				dialErrs.Add(1)
				return
			}
			cs[i] = cconn{c, bufio.NewReaderSize(c, 1024)}
		})
	}
	dialWG.Wait()
	defer func() {
		for _, c := range cs {
			if c.c != nil {
				c.c.Close()
			}
		}
	}()
	if n := dialErrs.Load(); n > 0 {
		t.Fatalf("%d of %d connections failed", n, conns)
	}
	t.Logf("%d connections open in %v", conns, time.Since(dialStart).Round(time.Millisecond))

	sc := startScraper(p.MetricsURL, 100*time.Millisecond)
	var failed atomic.Int64
	var slowest atomic.Int64
	wave := func(window time.Duration) {
		var wg sync.WaitGroup
		for i := range cs {
			wg.Go(func() {
				time.Sleep(rand.N(window))
				c := cs[i]
				c.c.SetDeadline(time.Now().Add(30 * time.Second))
				start := time.Now()
				fmt.Fprintf(c.c, "GET /items/%d HTTP/1.1\r\nHost: x\r\n\r\n", i%1000)
				resp, err := http.ReadResponse(c.br, nil)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if took := time.Since(start); int64(took) > slowest.Load() {
					slowest.Store(int64(took))
				}
				if err != nil || resp.StatusCode != 200 {
					if failed.Add(1) <= 5 {
						t.Errorf("connection %d: %v %v", i, err, resp)
					}
				}
			})
		}
		wg.Wait()
	}
	for w := range 2 {
		start := time.Now()
		wave(8 * time.Second)
		t.Logf("wave %d: %d requests in %v, slowest %v", w+1, conns, time.Since(start).Round(time.Millisecond), time.Duration(slowest.Load()).Round(time.Millisecond))
		// Every connection is still open and idle at the sidecar.
		if files := openFiles(pid); files < conns {
			t.Errorf("the sidecar holds %d files with %d client connections open", files, conns)
		}
		// A new client is served quickly, with 10 000 others connected.
		start = time.Now()
		if code, _, err := get(warm, p.URL+"/items/1"); err != nil || code != 200 {
			t.Errorf("a new client with %d connections open: %d %v", conns, code, err)
		} else if d := time.Since(start); d > 2*time.Second {
			t.Errorf("a new client waited %v", d)
		}
	}
	sc.check(t)
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed", n, 2*conns)
	}
	rss, hwm := procStatus(t, pid, "VmRSS"), procStatus(t, pid, "VmHWM")
	g := goroutines(t, p.MetricsURL)
	t.Logf("sidecar with %d connections: RSS %d MiB (peak %d, %d at the start), %v goroutines, %d files",
		conns, rss>>20, hwm>>20, startRSS>>20, g, openFiles(pid))
	if hwm > 400<<20 {
		t.Errorf("peak RSS %d MiB for %d connections", hwm>>20, conns)
	}

	for _, c := range cs {
		c.c.Close()
	}
	cs = nil
	warm.CloseIdleConnections()
	waitGoroutines(t, p.MetricsURL, startGoroutines+5, 20*time.Second)
	// The upstream pool keeps up to 256 idle connections (MaxIdleConns).
	deadline := time.Now().Add(10 * time.Second)
	for openFiles(pid) > startFiles+256+10 {
		if time.Now().After(deadline) {
			t.Errorf("the sidecar holds %d files after the clients left, %d before (and up to 256 pooled)", openFiles(pid), startFiles)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCaptureFlood sends failing requests as fast as the machine allows
// for 20 s (the issue asks for a minute; 20 s keeps CI within its budget
// and already passes the queue and the store's bound many times over):
// half to one hot route, half spread over 200 routes, each with a 32 KiB
// body and a 32 KiB answer. Requests pass unchanged; the sidecar's RSS
// and the store's files stay within their bounds all along; and every
// failing request is accounted for: stored, or dropped with a reason.
func TestCaptureFlood(t *testing.T) {
	long(t, "20 s flood")
	duration := 20 * time.Second
	const maxBytes = 4 << 20
	respBody := strings.Repeat("E", 32<<10)
	up := startUpstream(t, func(c net.Conn, br *bufio.Reader, req *http.Request) bool {
		io.Copy(io.Discard, req.Body)
		status := 500
		if strings.HasSuffix(req.URL.Path, "/v") {
			status = 422
		}
		fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", status, http.StatusText(status), len(respBody), respBody)
		return true
	})
	dataDir := t.TempDir()
	p := startBinary(t, nil, "--upstream", up.URL, "--data-dir", dataDir, "--access-log", "off",
		"--capture-max-bytes", fmt.Sprint(maxBytes), "--capture-rate", "100", "--routes", routesFile(t, "/ok"))
	pid := p.cmd.Process.Pid
	db := filepath.Join(dataDir, "captures.db")

	var (
		sent, wrong atomic.Int64
		stop        atomic.Bool
		wg          sync.WaitGroup
		maxRSS      atomic.Int64
		maxStore    atomic.Int64
	)
	sc := startScraper(p.MetricsURL, time.Second)
	// Sample the sidecar's RSS and the store's files.
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for !stop.Load() {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				for line := range strings.Lines(string(b)) {
					if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
						var kb int64
						fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
						maxRSS.Store(max(maxRSS.Load(), kb<<10))
					}
				}
			}
			var size int64
			for _, f := range []string{db, db + "-wal"} {
				if fi, err := os.Stat(f); err == nil {
					size += fi.Size()
				}
			}
			maxStore.Store(max(maxStore.Load(), size))
			time.Sleep(100 * time.Millisecond)
		}
	}()
	reqBody := `{"password":"hunter2-flood","note":"` + strings.Repeat("n", 32<<10) + `"}`
	start := time.Now()
	for w := range 24 {
		wg.Go(func() {
			c := client(10 * time.Second)
			defer c.CloseIdleConnections()
			for i := 0; !stop.Load(); i++ {
				path := "/hot"
				if (i+w)%2 == 1 {
					path = fmt.Sprintf("/r%d", (i*24+w)%200)
				}
				if i%3 == 0 {
					path += "/v"
				}
				req, _ := http.NewRequest("POST", p.URL+path, strings.NewReader(reqBody))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer flood-secret-token")
				resp, err := c.Do(req)
				sent.Add(1)
				if err != nil {
					wrong.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if (resp.StatusCode != 500 && resp.StatusCode != 422) || len(b) != len(respBody) {
					if wrong.Add(1) <= 5 {
						t.Errorf("%s: %d, %d bytes", path, resp.StatusCode, len(b))
					}
				}
			}
		})
	}
	time.Sleep(duration)
	stop.Store(true)
	wg.Wait()
	<-sampled
	elapsed := time.Since(start)
	sc.check(t)
	if n := wrong.Load(); n > 0 {
		t.Errorf("%d of %d requests did not pass unchanged", n, sent.Load())
	}
	// Let the writer drain its queue, then account for every failure.
	var m samples
	deadline := time.Now().Add(20 * time.Second)
	for {
		m = scrape(t, p.MetricsURL)
		accounted := m.Sum("faultline_captures_total") + m[`faultline_captures_dropped_total{reason="queue_full"}`] +
			m[`faultline_captures_dropped_total{reason="rate_limited"}`] + m[`faultline_captures_dropped_total{reason="store_error"}`]
		if int64(accounted) == sent.Load() {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d failing requests, %v accounted for (stored or dropped)", sent.Load(), accounted)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d failing requests in %v (%.0f/s); stored %v, dropped: queue_full %v, rate_limited %v, store_error %v; evicted %v",
		sent.Load(), elapsed.Round(time.Millisecond), float64(sent.Load())/elapsed.Seconds(), m.Sum("faultline_captures_total"),
		m[`faultline_captures_dropped_total{reason="queue_full"}`], m[`faultline_captures_dropped_total{reason="rate_limited"}`],
		m[`faultline_captures_dropped_total{reason="store_error"}`], m[`faultline_captures_dropped_total{reason="evicted"}`])
	t.Logf("peak RSS %d MiB (VmHWM %d MiB); store files at most %d KiB (bound %d KiB); store gauge %v",
		maxRSS.Load()>>20, procStatus(t, pid, "VmHWM")>>20, maxStore.Load()>>10, maxBytes>>10, m["faultline_capture_store_bytes"])
	if maxStore.Load() > maxBytes+maxBytes/4 {
		t.Errorf("the store's files reached %d KiB; the bound is %d KiB", maxStore.Load()>>10, maxBytes>>10)
	}
	if hwm := procStatus(t, pid, "VmHWM"); hwm > 256<<20 {
		t.Errorf("the sidecar's RSS peaked at %d MiB during the flood", hwm>>20)
	}
	if m.Sum("faultline_captures_total") == 0 || m[`faultline_captures_dropped_total{reason="evicted"}`] == 0 {
		t.Error("the flood neither stored nor evicted captures: it did not reach the store's bound")
	}
	// No secret reached the store.
	p.signal(os.Interrupt)
	p.wait(t, 30*time.Second)
	st, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sums, err := st.List(context.Background(), store.Query{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, sum := range sums {
		c, err := st.Get(context.Background(), sum.ID)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(c)
		if strings.Contains(string(js), "hunter2-flood") || strings.Contains(string(js), "flood-secret-token") {
			t.Fatalf("a secret reached the store: %s", sum.ID)
		}
	}
	t.Logf("%d captures in the store at the end, none with a secret", len(sums))
}
