package alerts

import (
	"bytes"
	"errors"
	"github.com/faultline-dev/faultline/internal/golden"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// goldenCase is one set of options whose outputs are kept in testdata/golden.
type goldenCase struct {
	name string
	opts func(t *testing.T) Options
}

var goldenCases = []goldenCase{
	{"default", func(*testing.T) Options { return Options{} }},
	{"slo-example", func(t *testing.T) Options {
		return Options{SLO: readSLO(t, "slo-example.yaml")}
	}},
	{"selector", func(*testing.T) Options {
		return Options{
			SLO: SLO{
				Availability:   AvailabilityObjective{Objective: 99.5, ErrorCodes: []string{"5xx", "429"}},
				Latency:        LatencyObjective{Objective: 95, Threshold: time.Second},
				MinRequestRate: 1,
			},
			Selector:             `{job="shop", namespace=~"prod|staging"}`,
			RunbookURLTemplate:   "https://runbooks.example.com/faultline#" + AlertPlaceholder,
			DashboardURLTemplate: "https://grafana.example.com/d/" + UIDPlaceholder + "?orgId=1",
		}
	}},
}

func readSLO(t *testing.T, path string) SLO {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	slo, err := ParseSLO(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return slo
}

func generate(t *testing.T, c goldenCase) RuleGroups {
	t.Helper()
	g, err := Generate(c.opts(t))
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return g
}

// checkGolden compares got with testdata/golden/name, or rewrites it
// with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Assert(t, filepath.Join("testdata", "golden", name), got)
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			g := generate(t, c)
			for _, f := range Formats {
				data, err := Encode(g, f)
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, c.name+"."+string(f)+".yaml", data)
			}
		})
	}
}

func TestGoldenRunbooks(t *testing.T) {
	rbs, err := Runbooks(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rb := range rbs {
		checkGolden(t, filepath.Join("runbooks", rb.FileName), rb.Markdown)
	}
}

// knownMetrics returns the metric names a rule may select: every family
// the sidecar exports, the _bucket, _sum and _count series of its
// histograms, up (which Prometheus writes for every target), and the
// recording rules of g itself.
func knownMetrics(g RuleGroups) map[string]bool {
	known := map[string]bool{metricUp: true}
	for _, f := range metricnames.Families {
		known[f.Name] = true
		if f.Type == metricnames.Histogram {
			for _, s := range []string{metricnames.SuffixBucket, metricnames.SuffixSum, metricnames.SuffixCount} {
				known[metricnames.Series(f.Name, s)] = true
			}
		}
	}
	for _, grp := range g.Groups {
		for _, r := range grp.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}
	return known
}

// selectedMetrics returns the metric names expr selects, and an error for
// a selector without a metric name.
func selectedMetrics(t *testing.T, expr string) []string {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("parse %q: %v", expr, err)
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				t.Errorf("selector without a metric name in %q", expr)
			}
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

func TestEveryMetricIsExported(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			g := generate(t, c)
			known := knownMetrics(g)
			recorded := map[string]bool{}
			for _, grp := range g.Groups {
				for _, r := range grp.Rules {
					for _, name := range selectedMetrics(t, r.Expr) {
						if !known[name] {
							t.Errorf("%s%s selects %q, which neither the sidecar exports nor a rule records", r.Alert, r.Record, name)
						}
					}
					// Annotations name metrics too, e.g. in a query.
					for k, v := range r.Annotations {
						for _, name := range metricNameInText.FindAllString(v, -1) {
							if !known[name] {
								t.Errorf("%s annotation %s names %q, which the sidecar does not export", r.Alert, k, name)
							}
						}
					}
					if r.Record != "" {
						recorded[r.Record] = true
					}
				}
			}
			// Every SLO recording rule that the dashboards may read exists.
			for _, sli := range []string{metricnames.SLIAvailability, metricnames.SLILatency} {
				for _, w := range metricnames.SLOWindows {
					if !recorded[metricnames.SLOErrorRatio(sli, w)] {
						t.Errorf("no recording rule %s", metricnames.SLOErrorRatio(sli, w))
					}
				}
				if !recorded[metricnames.SLOObjective(sli)] {
					t.Errorf("no recording rule %s", metricnames.SLOObjective(sli))
				}
			}
		})
	}
}

var metricNameInText = regexp.MustCompile(`\bfaultline_[a-z_]+\b`)

func TestKnownMetricsRejectsStrangers(t *testing.T) {
	known := knownMetrics(RuleGroups{})
	for _, name := range []string{"faultline_http_requests_total_bucket", "faultline_upstream_up_count", "http_requests_total", "faultline:slo_availability_errors:ratio_rate5m"} {
		if known[name] {
			t.Errorf("knownMetrics accepts %q", name)
		}
	}
	for _, name := range []string{"faultline_http_request_duration_seconds_bucket", "up", metricnames.UpstreamUp} {
		if !known[name] {
			t.Errorf("knownMetrics refuses %q", name)
		}
	}
}

func TestAlertsCarryLabelsAndAnnotations(t *testing.T) {
	severities := []string{SeverityCritical, SeverityWarning, SeverityInfo}
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			for _, grp := range generate(t, c).Groups {
				for _, r := range grp.Rules {
					if r.Alert == "" {
						continue
					}
					if !slices.Contains(severities, r.Labels[LabelSeverity]) {
						t.Errorf("%s: severity %q", r.Alert, r.Labels[LabelSeverity])
					}
					for _, k := range []string{AnnotationSummary, AnnotationDescription, AnnotationRunbookURL, AnnotationDashboardURL} {
						if r.Annotations[k] == "" {
							t.Errorf("%s: no %s", r.Alert, k)
						}
					}
					desc := r.Annotations[AnnotationDescription]
					// absent() has no value worth printing: it is always 1.
					if r.Alert != AlertSidecarAbsent && !strings.Contains(desc, "$value") {
						t.Errorf("%s: description does not show the value", r.Alert)
					}
					if strings.Contains(r.Expr, metricnames.LabelRoute) && strings.Contains(r.Expr, "by (namespace, job, route") {
						if !strings.Contains(desc, "$labels.route") {
							t.Errorf("%s: description does not name the route", r.Alert)
						}
						if !strings.Contains(r.Annotations[AnnotationDashboardURL], "var-route={{ $labels.route | urlquery }}") {
							t.Errorf("%s: dashboard_url does not set the route variable", r.Alert)
						}
					}
					if !strings.Contains(r.Annotations[AnnotationRunbookURL], r.Alert) {
						t.Errorf("%s: runbook_url %q does not name the alert", r.Alert, r.Annotations[AnnotationRunbookURL])
					}
				}
			}
		})
	}
}

func TestBurnRateAlerts(t *testing.T) {
	g := generate(t, goldenCases[1]) // per-route objectives too
	type key struct{ alert, route, long string }
	seen := map[key]Rule{}
	for _, grp := range g.Groups {
		for _, r := range grp.Rules {
			if r.Alert != AlertAvailabilityBudgetBurn && r.Alert != AlertLatencyBudgetBurn {
				continue
			}
			route := ""
			if strings.Contains(r.Expr, "slo_route_") {
				route = regexp.MustCompile(`route="([^"]+)"`).FindStringSubmatch(r.Expr)[1]
			}
			seen[key{r.Alert, route, r.Labels[LabelLongWindow]}] = r
			if !strings.Contains(r.Annotations[AnnotationDescription], "long_window "+r.Labels[LabelLongWindow]) ||
				!strings.Contains(r.Annotations[AnnotationDescription], "short_window "+r.Labels[LabelShortWindow]) {
				t.Errorf("%s %s: description lacks the windows", r.Alert, r.Labels[LabelLongWindow])
			}
			if !strings.Contains(r.Annotations[AnnotationDashboardURL], DashboardSLO) {
				t.Errorf("%s: dashboard_url %q is not the SLO dashboard", r.Alert, r.Annotations[AnnotationDashboardURL])
			}
		}
	}
	want := []struct {
		long, short, factor, severity string
		wait                          time.Duration
	}{
		{"1h", "5m", "14.4", SeverityCritical, 2 * time.Minute},
		{"6h", "30m", "6", SeverityCritical, 2 * time.Minute},
		{"1d", "2h", "3", SeverityWarning, 15 * time.Minute},
		{"3d", "6h", "1", SeverityWarning, time.Hour},
	}
	scopes := []struct{ alert, route string }{
		{AlertAvailabilityBudgetBurn, ""},
		{AlertLatencyBudgetBurn, ""},
		{AlertAvailabilityBudgetBurn, "/payments/{payment_id}"},
		{AlertLatencyBudgetBurn, "/reports/{report_id}"},
	}
	for _, s := range scopes {
		for _, w := range want {
			r, ok := seen[key{s.alert, s.route, w.long}]
			if !ok {
				t.Errorf("no %s for route %q over %s", s.alert, s.route, w.long)
				continue
			}
			if r.Labels[LabelSeverity] != w.severity || time.Duration(r.For) != w.wait || r.Labels[LabelShortWindow] != w.short {
				t.Errorf("%s %q %s: severity %s for %v short %s, want %s for %v short %s", s.alert, s.route, w.long,
					r.Labels[LabelSeverity], time.Duration(r.For), r.Labels[LabelShortWindow], w.severity, w.wait, w.short)
			}
			if !strings.Contains(r.Expr, "> ("+w.factor+" * ") {
				t.Errorf("%s %q %s: expr lacks factor %s:\n%s", s.alert, s.route, w.long, w.factor, r.Expr)
			}
			for _, win := range []string{w.long, w.short} {
				if !slices.Contains(metricnames.SLOWindows, win) {
					t.Errorf("window %s has no recording rule in metricnames.SLOWindows", win)
				}
			}
		}
	}
	if len(seen) != len(scopes)*len(want) {
		t.Errorf("%d burn-rate alerts, want %d", len(seen), len(scopes)*len(want))
	}
}

func TestRouteObjectivesPartitionTraffic(t *testing.T) {
	g := generate(t, goldenCases[1])
	exprOf := func(record string) string {
		for _, r := range g.Groups[0].Rules {
			if r.Record == record {
				return r.Expr
			}
		}
		t.Fatalf("no rule %s", record)
		return ""
	}
	svcAvail := exprOf(metricnames.SLOErrorRatio(metricnames.SLIAvailability, "5m"))
	if !strings.Contains(svcAvail, `route!~"/payments/\\{payment_id\\}"`) {
		t.Errorf("service availability does not leave out /payments:\n%s", svcAvail)
	}
	svcLat := exprOf(metricnames.SLOErrorRatio(metricnames.SLILatency, "5m"))
	if !strings.Contains(svcLat, `route!~"/reports/\\{report_id\\}"`) || strings.Contains(svcLat, "payments") {
		t.Errorf("service latency must leave out /reports only:\n%s", svcLat)
	}
	routeLat := exprOf(metricnames.SLORouteErrorRatio(metricnames.SLILatency, "5m"))
	if !strings.Contains(routeLat, `route="/reports/{report_id}"`) || !strings.Contains(routeLat, `le="2.5"`) {
		t.Errorf("route latency must read /reports under 2.5s:\n%s", routeLat)
	}
}

// TestRuleFileShape checks what Prometheus 2.42 refuses: group keys other
// than name, interval and rules.
func TestRuleFileShape(t *testing.T) {
	for _, c := range goldenCases {
		data, err := MarshalRules(generate(t, c))
		if err != nil {
			t.Fatal(err)
		}
		var file struct {
			Groups []map[string]any `yaml:"groups"`
		}
		if err := yaml.Unmarshal(data, &file); err != nil {
			t.Fatal(err)
		}
		for _, grp := range file.Groups {
			for k := range grp {
				if k != "name" && k != "interval" && k != "rules" {
					t.Errorf("%s: group %v has key %q, which Prometheus 2.42 refuses", c.name, grp["name"], k)
				}
			}
		}
	}
}

func TestEveryAlertHasARunbook(t *testing.T) {
	rbs, err := Runbooks(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var books []string
	for _, rb := range rbs {
		books = append(books, rb.Alert)
		md := string(rb.Markdown)
		for _, section := range []string{"## What it means", "## First three things to check", "## Likely causes", "## Silencing it safely", "amtool silence add alertname=" + rb.Alert} {
			if !strings.Contains(md, section) {
				t.Errorf("runbook %s lacks %q", rb.Alert, section)
			}
		}
		if !strings.Contains(md, "](http://localhost:3000/d/faultline-") {
			t.Errorf("runbook %s does not link a dashboard", rb.Alert)
		}
	}
	for _, c := range goldenCases {
		for _, grp := range generate(t, c).Groups {
			for _, r := range grp.Rules {
				if r.Alert != "" && !slices.Contains(books, r.Alert) {
					t.Errorf("alert %s has no runbook", r.Alert)
				}
			}
		}
	}
	// The route alerts' runbooks show the capture command.
	for _, rb := range rbs {
		switch rb.Alert {
		case AlertRouteServerErrors, AlertRouteAuthFailures, AlertRouteValidationErrors:
			if !regexp.MustCompile("`faultline captures list --code [0-9]{3} --route 'ROUTE'`").Match(rb.Markdown) {
				t.Errorf("runbook %s lacks the captures command", rb.Alert)
			}
		}
	}
}

func TestOptionErrors(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		field string
		msg   string
	}{
		{"metric in selector", Options{Selector: `up{job="x"}`}, "Selector", "names a metric"},
		{"__name__ in selector", Options{Selector: `{__name__="up"}`}, "Selector", "names a metric"},
		{"broken selector", Options{Selector: `{job=}`}, "Selector", "not a label selector"},
		{"runbook without placeholder", Options{RunbookURLTemplate: "https://wiki.example.com/faultline"}, "RunbookURLTemplate", "does not contain {alert}"},
		{"relative runbook", Options{RunbookURLTemplate: "runbooks/{alert}.md"}, "RunbookURLTemplate", "not an absolute URL"},
		{"dashboard without placeholder", Options{DashboardURLTemplate: "https://grafana.example.com/"}, "DashboardURLTemplate", "does not contain {uid}"},
		{"dashboard with fragment", Options{DashboardURLTemplate: "https://grafana.example.com/d/{uid}#panel"}, "DashboardURLTemplate", "fragment"},
		{"bad SLO", Options{SLO: SLO{Latency: LatencyObjective{Threshold: 300 * time.Millisecond}}}, "SLO", "latency.threshold: 300ms is not a bucket bound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Generate(tt.opts)
			var oe *OptionError
			if !errors.As(err, &oe) {
				t.Fatalf("Generate: %v, want an *OptionError", err)
			}
			if oe.Field != tt.field || !strings.Contains(oe.Err.Error(), tt.msg) {
				t.Errorf("Generate: %v (field %s), want field %s and %q", err, oe.Field, tt.field, tt.msg)
			}
			if _, err := Runbooks(tt.opts); err == nil {
				t.Error("Runbooks accepts what Generate refuses")
			}
		})
	}
}

func TestSelectorForms(t *testing.T) {
	for in, want := range map[string][]string{
		``:                        nil,
		`{}`:                      nil,
		`{job="shop"}`:            {`job="shop"`},
		`job="shop"`:              {`job="shop"`},
		` {job="a\"b", ns!~"x"} `: {`job="a\"b"`, `ns!~"x"`},
	} {
		got, err := parseSelector(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseSelector(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestValidateRefuses shows that validate catches what Prometheus 2.42
// would refuse to load.
func TestValidateRefuses(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		msg  string
	}{
		{"function newer than 2.42", Rule{Record: "x:y", Expr: `sort_by_label(up, "job")`}, "unknown function"},
		{"syntax", Rule{Record: "x:y", Expr: `sum(`}, "could not parse"},
		{"record and alert", Rule{Record: "x:y", Alert: "X", Expr: "up"}, "only one of"},
		{"annotations on a record", Rule{Record: "x:y", Expr: "up", Annotations: map[string]string{"summary": "s"}}, "annotations"},
		{"bad record name", Rule{Record: "x-y", Expr: "up"}, "invalid recording rule name"},
		{"bad label name", Rule{Alert: "X", Expr: "up", Labels: map[string]string{"a-b": "c"}}, "invalid label name"},
		{"template function newer than 2.42", Rule{Alert: "X", Expr: "up", Annotations: map[string]string{"summary": "{{ now }}"}}, "not defined"},
		{"broken template", Rule{Alert: "X", Expr: "up", Annotations: map[string]string{"summary": "{{ $value "}}, "annotation summary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate(RuleGroups{Groups: []RuleGroup{{Name: "g", Rules: []Rule{tt.rule}}}})
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("validate: %v, want %q", err, tt.msg)
			}
		})
	}
	if err := validate(RuleGroups{Groups: []RuleGroup{{Name: "g"}, {Name: "g"}}}); err == nil {
		t.Error("validate accepts a repeated group name")
	}
}

func TestLEMatcher(t *testing.T) {
	for bound, want := range map[float64]string{
		0.5:    `le="0.5"`,
		0.0025: `le="0.0025"`,
		1:      `le=~"1(\\.0)?"`,
		10:     `le=~"10(\\.0)?"`,
	} {
		if got := leMatcher(bound); got != want {
			t.Errorf("leMatcher(%v) = %s, want %s", bound, got, want)
		}
	}
}

func TestWriteOutput(t *testing.T) {
	dir := t.TempDir()
	data := []byte("groups: []\n")
	existing := filepath.Join(dir, "existing")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ out, want string }{
		{existing, filepath.Join(existing, "faultline-rules.yaml")},
		{filepath.Join(dir, "new") + "/", filepath.Join(dir, "new", "faultline-rules.yaml")},
		{filepath.Join(dir, "sub", "rules.yml"), filepath.Join(dir, "sub", "rules.yml")},
	}
	for _, tt := range tests {
		got, err := WriteOutput(tt.out, FormatRules.FileName(), data, nil)
		if err != nil || got != tt.want {
			t.Errorf("WriteOutput(%q) = %q, %v; want %q", tt.out, got, err, tt.want)
			continue
		}
		if b, _ := os.ReadFile(got); !bytes.Equal(b, data) {
			t.Errorf("%s holds %q", got, b)
		}
	}
	var stdout bytes.Buffer
	if _, err := WriteOutput("-", "x", data, &stdout); err != nil || stdout.String() != string(data) {
		t.Errorf("WriteOutput(-) wrote %q, %v", stdout.String(), err)
	}
	if entries, _ := os.ReadDir(existing); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}
