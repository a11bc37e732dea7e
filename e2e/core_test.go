package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/testkit"
)

// TestMetricDeltas checks the exact increments of every dedicated series
// for a known mix of answers from the real app.
func TestMetricDeltas(t *testing.T) {
	a := startApp(t, "")
	s := startSidecar(t, "--upstream", a.URL)
	s.waitRoutes(t)
	before := scrape(t, s.MetricsURL)

	for i := range 3 {
		if code, _ := do(t, "GET", fmt.Sprintf("%s/items/%d", s.URL, 100+i), nil, nil); code != 200 {
			t.Fatalf("GET /items: %d", code)
		}
	}
	if code, _ := do(t, "GET", s.URL+"/secure", nil, nil); code != 401 {
		t.Fatalf("GET /secure without credentials: %d", code)
	}
	for range 2 {
		if code, _ := do(t, "GET", s.URL+"/secure", nil, map[string]string{"Authorization": "Bearer wrong"}); code != 401 {
			t.Fatalf("GET /secure with a wrong token: %d", code)
		}
	}
	code, body := do(t, "POST", s.URL+"/items", strings.NewReader(`{"price":-1,"tags":["a",{}]}`), map[string]string{"Content-Type": "application/json"})
	if code != 422 {
		t.Fatalf("POST /items: %d %s", code, body)
	}
	if code, _ := do(t, "GET", s.URL+"/boom", nil, nil); code != 500 {
		t.Fatalf("GET /boom: %d", code)
	}

	d := delta(before, scrape(t, s.MetricsURL))
	want := samples{
		`faultline_http_requests_total{code="200",method="GET",route="/items/{item_id}"}`:                          3,
		`faultline_http_requests_total{code="401",method="GET",route="/secure"}`:                                   3,
		`faultline_http_requests_total{code="422",method="POST",route="/items"}`:                                   1,
		`faultline_http_requests_total{code="500",method="GET",route="/boom"}`:                                     1,
		`faultline_auth_failures_total{credentials="absent",route="/secure"}`:                                      1,
		`faultline_auth_failures_total{credentials="present",route="/secure"}`:                                     2,
		`faultline_validation_errors_total{location="body.name",route="/items",type="value_error.missing"}`:        1,
		`faultline_validation_errors_total{location="body.price",route="/items",type="value_error.number.not_gt"}`: 1,
		`faultline_validation_errors_total{location="body.tags.*",route="/items",type="type_error.str"}`:           1,
		`faultline_server_errors_total{route="/boom",source="app"}`:                                                1,
		`faultline_http_request_duration_seconds_count{code="500",method="GET",route="/boom"}`:                     1,
		`faultline_http_request_size_bytes_count{method="POST",route="/items"}`:                                    1,
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s rose by %v, want %v", k, d[k], v)
		}
	}
	// Nothing else of the dedicated families moved.
	for k, v := range d {
		for _, fam := range []string{"faultline_auth_failures_total", "faultline_validation_errors_total", "faultline_server_errors_total"} {
			if strings.HasPrefix(k, fam+"{") && want[k] != v {
				t.Errorf("unexpected change %s by %v", k, v)
			}
		}
	}
	if got := scrape(t, s.MetricsURL)["faultline_upstream_up"]; got != 1 {
		t.Errorf("faultline_upstream_up = %v", got)
	}
}

// TestBoundedRouteCardinality sends hundreds of distinct ids and random
// 404 paths; the route label must stay within the templates and the cap.
func TestBoundedRouteCardinality(t *testing.T) {
	a := startApp(t, "")
	const maxRoutes = 20
	s := startSidecar(t, "--upstream", a.URL, "--max-routes", fmt.Sprint(maxRoutes), "--access-log", "off")
	s.waitRoutes(t)
	for i := range 300 {
		do(t, "GET", fmt.Sprintf("%s/items/%d", s.URL, i), nil, nil)
		do(t, "GET", fmt.Sprintf("%s/users/%d/orders/ord-%x", s.URL, i, rand.Uint64()), nil, nil)
		do(t, "GET", fmt.Sprintf("%s/%x/%x", s.URL, rand.Uint32(), rand.Uint32()), nil, nil)
	}
	routes := scrape(t, s.MetricsURL).Distinct("faultline_http_requests_total", "route")
	for _, r := range []string{"/items/{item_id}", "/users/{user_id}/orders/{order_id}", "__other__"} {
		if !routes[r] {
			t.Errorf("route %q missing from %v", r, routes)
		}
	}
	if len(routes) > maxRoutes+3 {
		t.Errorf("%d distinct routes after 900 distinct paths, cap %d: %v", len(routes), maxRoutes, routes)
	}
	for r := range routes {
		if strings.Contains(r, "ord-") {
			t.Errorf("raw path segment in a route label: %q", r)
		}
	}
}

// TestServerSentEventsStreamThrough reads the first event of a stream while
// the app is still producing it: the sidecar must not hold the body back.
func TestServerSentEventsStreamThrough(t *testing.T) {
	a := startApp(t, "")
	s := startSidecar(t, "--upstream", a.URL)
	resp, err := http.Get(s.URL + "/events?count=2&gap=3")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("content type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil || first != "id: 0\n" {
		t.Fatalf("first line %q %v", first, err)
	}
	// The stream is still open: the request is in flight at the sidecar.
	if n := scrape(t, s.MetricsURL)["faultline_http_requests_in_flight"]; n < 1 {
		t.Errorf("in flight %v while the stream is open; the first event came after the stream ended", n)
	}
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "data: event 1") {
		t.Errorf("rest of stream %q", rest)
	}
}

// TestLargeUpload streams 1 GiB through the sidecar to gunicorn; the
// sidecar's peak RSS must stay far below the body size.
func TestLargeUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB upload")
	}
	a := startApp(t, "")
	s := startSidecar(t, "--upstream", a.URL, "--upstream-timeout", "5m")
	const size = 1 << 30
	code, body := do(t, "POST", s.URL+"/upload", io.LimitReader(zeroReader{}, size), map[string]string{"Content-Type": "application/octet-stream"})
	if code != 200 || body != fmt.Sprintf(`{"bytes":%d}`, size) {
		t.Fatalf("upload: %d %s", code, body)
	}
	if rss := peakRSS(t, s.cmd.Process.Pid); rss > 128<<20 {
		t.Errorf("sidecar peak RSS %d MiB for a 1 GiB upload", rss>>20)
	}
	if got := scrape(t, s.MetricsURL)[`faultline_http_request_size_bytes_sum{method="POST",route="/upload"}`]; got != size {
		t.Errorf("request size sum %v, want %d", got, size)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestUpstreamDownThenUp starts the sidecar before the app: 502s and a
// failing /readyz, then the app comes up and both recover.
func TestUpstreamDownThenUp(t *testing.T) {
	needE2E(t)
	addr := testkit.FreeAddr(t)
	s := startSidecar(t, "--upstream", "http://"+addr)
	s.waitReady(t, 503)
	code, body := do(t, "GET", s.URL+"/items/1", nil, nil)
	if code != 502 || !strings.Contains(body, "upstream unreachable") {
		t.Errorf("with the app down: %d %q", code, body)
	}
	m := scrape(t, s.MetricsURL)
	if m["faultline_upstream_up"] != 0 {
		t.Errorf("faultline_upstream_up = %v with the app down", m["faultline_upstream_up"])
	}
	if m[`faultline_server_errors_total{route="/items/{id}",source="upstream_unreachable"}`] != 1 {
		t.Errorf("upstream_unreachable not counted: %v", m.Distinct("faultline_server_errors_total", "route"))
	}
	startApp(t, addr)
	s.waitReady(t, 200)
	if code, _ := do(t, "GET", s.URL+"/items/1", nil, nil); code != 200 {
		t.Errorf("after the app came up: %d", code)
	}
	if up := scrape(t, s.MetricsURL)["faultline_upstream_up"]; up != 1 {
		t.Errorf("faultline_upstream_up = %v after recovery", up)
	}
}

// TestDrainOnSIGTERM: requests in flight when SIGTERM arrives complete,
// the process exits 0.
func TestDrainOnSIGTERM(t *testing.T) {
	a := startApp(t, "")
	s := startSidecar(t, "--upstream", a.URL, "--drain-timeout", "20s")
	const n = 10
	results := make(chan int, n)
	for range n {
		go func() {
			resp, err := http.Get(s.URL + "/slow?seconds=1.5")
			if err != nil {
				results <- -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			results <- resp.StatusCode
		}()
	}
	// Wait until all are in flight at the sidecar.
	deadline := time.Now().Add(10 * time.Second)
	for scrape(t, s.MetricsURL)["faultline_http_requests_in_flight"] < n {
		if time.Now().After(deadline) {
			t.Fatal("requests never in flight")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	for range n {
		if code := <-results; code != 200 {
			t.Errorf("in-flight request ended with %d during drain", code)
		}
	}
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("sidecar did not exit after drain")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(s.Stderr.String(), `"drained"`) {
		t.Errorf("no drained log line:\n%s", s.Stderr.String())
	}
}

// TestAccessLog checks the JSON line of one request, and that query
// strings (which may carry secrets) stay out of it.
func TestAccessLog(t *testing.T) {
	a := startApp(t, "")
	s := startSidecar(t, "--upstream", a.URL)
	s.waitRoutes(t)
	do(t, "GET", s.URL+"/items/77?api_key=very-secret-value", nil, nil)
	var line map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for line == nil && time.Now().Before(deadline) {
		for _, l := range s.Stdout.Lines() {
			if strings.Contains(l, `"/items/77"`) {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatalf("access log line is not JSON: %q", l)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if line == nil {
		t.Fatalf("no access log line in:\n%s", s.Stdout.String())
	}
	for _, f := range []string{"time", "method", "route", "path", "status", "duration_ms", "bytes_in", "bytes_out", "client"} {
		if _, ok := line[f]; !ok {
			t.Errorf("access log line lacks %q: %v", f, line)
		}
	}
	if line["route"] != "/items/{item_id}" || line["status"] != float64(200) || line["method"] != "GET" {
		t.Errorf("access log line %v", line)
	}
	if strings.Contains(s.Stdout.String(), "very-secret-value") {
		t.Error("the query string reached the access log")
	}
}

// TestRoutesFileOverridesLearning: with --routes, the file's templates are
// used and /openapi.json is not.
func TestRoutesFileOverridesLearning(t *testing.T) {
	a := startApp(t, "")
	file := t.TempDir() + "/routes.txt"
	if err := os.WriteFile(file, []byte("# our own names\n/items/{id}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startSidecar(t, "--upstream", a.URL, "--routes", file)
	for i := range 5 {
		do(t, "GET", fmt.Sprintf("%s/items/%d", s.URL, i), nil, nil)
	}
	m := scrape(t, s.MetricsURL)
	if got := m[`faultline_http_requests_total{code="200",method="GET",route="/items/{id}"}`]; got != 5 {
		t.Errorf("route from the file counted %v times; routes %v", got, m.Distinct("faultline_http_requests_total", "route"))
	}
}
