package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/alerts"
	"github.com/faultline-dev/faultline/dashboards"
	"github.com/faultline-dev/faultline/internal/testkit"
	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// prometheus is a running Prometheus 2.42 (Debian's package).
type prometheus struct {
	URL string
	cmd *exec.Cmd
	log *syncBuffer
}

// startPrometheus scrapes target every second and evaluates rules (a rule
// file, or "") every second.
func startPrometheus(t *testing.T, target, rules string) *prometheus {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: run the README's test command, which installs Debian's prometheus")
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: faultline
    static_configs:
      - targets: [%q]
`, target)
	if rules != "" {
		cfg += fmt.Sprintf("rule_files: [%q]\n", rules)
	}
	os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600)
	addr := testkit.FreeAddr(t)
	p := &prometheus{URL: "http://" + addr, log: &syncBuffer{}}
	p.cmd = exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr,
		"--enable-feature=exemplar-storage")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", p.log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(p.URL + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready:\n%s", p.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type promResult struct {
	Status string
	Error  string
	Data   struct {
		ResultType string
		Result     []json.RawMessage
	}
}

func (p *prometheus) query(t *testing.T, expr string, instant bool) promResult {
	t.Helper()
	v := url.Values{"query": {expr}}
	path := "/api/v1/query"
	if !instant {
		now := time.Now()
		path = "/api/v1/query_range"
		v.Set("start", strconv.FormatInt(now.Add(-2*time.Minute).Unix(), 10))
		v.Set("end", strconv.FormatInt(now.Unix(), 10))
		v.Set("step", "1")
	}
	resp, err := http.Get(p.URL + path + "?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r promResult
	json.NewDecoder(resp.Body).Decode(&r)
	return r
}

// TestDashboardsAndRulesAgainstRealPrometheus: a real Prometheus 2.42
// scrapes a real sidecar in front of the real FastAPI app while 200, 401,
// 422 and 500 traffic flows, with the generated rules loaded. Every rule
// loads healthy, and every dashboard query returns data, except the ones
// the dashboards declare empty for this kind of traffic (listed in the log).
func TestDashboardsAndRulesAgainstRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	a := startApp(t, "")
	s := startSidecar(t, "--upstream", a.URL, "--access-log", "off")
	s.waitRoutes(t)

	groups, err := alerts.Generate(alerts.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ruleYAML, err := alerts.MarshalRules(groups)
	if err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(t.TempDir(), "faultline-rules.yaml")
	os.WriteFile(rules, ruleYAML, 0o600)
	p := startPrometheus(t, strings.TrimPrefix(s.MetricsURL, "http://"), rules)

	// Traffic for 12 s: every kind of answer, several times a second.
	stop := time.Now().Add(12 * time.Second)
	for time.Now().Before(stop) {
		do(t, "GET", s.URL+"/items/7", nil, nil)
		do(t, "GET", s.URL+"/secure", nil, nil)
		do(t, "GET", s.URL+"/secure", nil, map[string]string{"Authorization": "Bearer nope"})
		do(t, "POST", s.URL+"/items", strings.NewReader(`{"price":-1}`), map[string]string{"Content-Type": "application/json"})
		do(t, "GET", s.URL+"/boom", nil, nil)
		do(t, "GET", s.URL+"/slow?seconds=0.05", nil, nil)
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // a last scrape and rule evaluation

	// The rules load, and evaluate without error.
	resp, err := http.Get(p.URL + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	var rr struct {
		Data struct {
			Groups []struct {
				Name  string
				Rules []struct {
					Name, Health, LastError, Type string
				}
			}
		}
	}
	json.NewDecoder(resp.Body).Decode(&rr)
	resp.Body.Close()
	nRules := 0
	for _, g := range rr.Data.Groups {
		for _, r := range g.Rules {
			nRules++
			if r.Health != "ok" {
				t.Errorf("rule %s/%s health %q: %s", g.Name, r.Name, r.Health, r.LastError)
			}
		}
	}
	if nRules == 0 {
		t.Fatal("Prometheus loaded no rules")
	}

	boards, err := dashboards.Build(dashboards.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var checked, declaredEmpty int
	for _, b := range boards {
		for _, q := range dashboards.Queries(b, dashboards.Values{Range: 2 * time.Minute}) {
			r := p.query(t, q.Expr, q.Instant)
			if r.Status != "success" {
				t.Errorf("%s / %s: query failed: %s\n%s", q.Board, q.Panel, r.Error, q.Expr)
				continue
			}
			if len(r.Data.Result) > 0 {
				checked++
				continue
			}
			if q.EmptyWhenHealthy != "" {
				declaredEmpty++
				t.Logf("empty, as declared (%s): %s / %s", q.EmptyWhenHealthy, q.Board, q.Panel)
				continue
			}
			t.Errorf("%s / %s returned no data:\n%s", q.Board, q.Panel, q.Expr)
		}
	}
	t.Logf("%d rules healthy; %d dashboard queries returned data, %d empty as declared", nRules, checked, declaredEmpty)

	// Every family the rules and boards may name is exported by the live
	// sidecar (the TLS families only exist with --tls-cert).
	exposition := getText(t, s.MetricsURL+"/metrics")
	for _, f := range metricnames.Families {
		if f.Name == metricnames.TLSHandshakeErrorsTotal || f.Name == metricnames.TLSCertExpiry {
			continue
		}
		if !strings.Contains(exposition, "# TYPE "+f.Name+" ") {
			t.Errorf("family %s is not in the live /metrics", f.Name)
		}
	}
}
