package dashboards

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

// functions242 are the PromQL functions of Prometheus 2.42 (Debian's), less
// the experimental native histogram ones: the queries must run there.
var functions242 = []string{
	"abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
	"avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
	"count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
	"delta", "deriv", "exp", "floor", "histogram_quantile", "holt_winters", "hour", "idelta",
	"increase", "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
	"max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear",
	"present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn",
	"sin", "sinh", "sort", "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time",
	"sum_over_time", "tan", "tanh", "time", "timestamp", "vector", "year",
}

// aggregations242 are the aggregation operators of Prometheus 2.42.
var aggregations242 = []string{
	"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
}

// sentinel values make every substituted variable recognisable in the
// parsed query: each matcher and window must carry one.
var sentinel = Values{
	Namespace:    "ns-sentinel",
	Job:          "job-sentinel",
	Pod:          "pod-sentinel",
	Route:        "route-sentinel",
	RateInterval: 77 * time.Second,
	Range:        3 * time.Hour,
}

var sentinelOf = map[string]string{
	VarNamespace: sentinel.Namespace,
	VarJob:       sentinel.Job,
	VarPod:       sentinel.Pod,
	VarRoute:     sentinel.Route,
}

// knownSeries are the names a query may read: every family, a histogram's
// _bucket, _sum and _count series, and the SLO recording rules of
// `faultline alerts`.
func knownSeries() map[string]bool {
	known := map[string]bool{}
	for _, f := range mn.Families {
		known[f.Name] = true
		if f.Type == mn.Histogram {
			for _, s := range []string{mn.SuffixBucket, mn.SuffixSum, mn.SuffixCount} {
				known[mn.Series(f.Name, s)] = true
			}
		}
	}
	for name := range recordingRules() {
		known[name] = true
	}
	return known
}

func parse(expr string) (parser.Expr, error) {
	return parser.NewParser(parser.Options{}).ParseExpr(expr)
}

// checkExpr parses expr (variables substituted with sentinel) and returns
// what is wrong with it.
func checkExpr(expr string) []error {
	if strings.Contains(expr, "$") {
		return []error{fmt.Errorf("a variable is left in %s", expr)}
	}
	e, err := parse(expr)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", expr, err)}
	}
	known := knownSeries()
	windows := []time.Duration{sentinel.RateInterval, sentinel.Range}
	var errs []error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			errs = append(errs, checkSelector(n, known)...)
		case *parser.MatrixSelector:
			if !slices.Contains(windows, n.Range) {
				errs = append(errs, fmt.Errorf("window %v is neither $__rate_interval nor $__range", n.Range))
			}
		case *parser.Call:
			if !slices.Contains(functions242, n.Func.Name) {
				errs = append(errs, fmt.Errorf("function %s is not in Prometheus 2.42", n.Func.Name))
			}
			if n.Func.Name == "histogram_quantile" && !aggregatesBy(n.Args[1], labelLE) {
				errs = append(errs, fmt.Errorf("histogram_quantile over %s does not keep le", n.Args[1]))
			}
		case *parser.AggregateExpr:
			if !slices.Contains(aggregations242, n.Op.String()) {
				errs = append(errs, fmt.Errorf("aggregation %s is not in Prometheus 2.42", n.Op))
			}
		case *parser.SubqueryExpr:
			errs = append(errs, fmt.Errorf("subquery %s: they are costly, and none is needed", n))
		}
		return nil
	})
	return errs
}

// checkSelector checks that a selector names a known series and is
// filtered by every variable that applies to it.
func checkSelector(vs *parser.VectorSelector, known map[string]bool) []error {
	if !known[vs.Name] {
		return []error{fmt.Errorf("%s is not a faultline metric nor an SLO recording rule", vs.Name)}
	}
	if vs.OriginalOffset != 0 || vs.Timestamp != nil || vs.StartOrEnd != 0 {
		return []error{fmt.Errorf("%s: offset or @ modifier", vs)}
	}
	want, isRule := recordingRules()[vs.Name]
	if !isRule {
		want = []string{VarNamespace, VarJob, VarPod}
		if slices.Contains(family(vs.Name).Labels, mn.LabelRoute) {
			want = append(want, VarRoute)
		}
	}
	var errs []error
	for _, l := range want {
		ok := slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool {
			return m.Name == l && m.Type == labels.MatchRegexp && m.Value == sentinelOf[l]
		})
		if !ok {
			errs = append(errs, fmt.Errorf("%s is not filtered by the %s variable", vs, l))
		}
	}
	return errs
}

func aggregatesBy(e parser.Expr, label string) bool {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			break
		}
		e = p.Expr
	}
	a, ok := e.(*parser.AggregateExpr)
	return ok && !a.Without && slices.Contains(a.Grouping, label)
}

func TestQueriesArePromQL(t *testing.T) {
	for name, opts := range optionSets {
		boards, err := Build(opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range boards {
			qs := Queries(b, sentinel)
			if len(qs) == 0 {
				t.Errorf("%s/%s: no queries", name, b.UID)
			}
			for _, q := range qs {
				for _, err := range checkExpr(q.Expr) {
					t.Errorf("%s/%s %q %s: %v", name, b.UID, q.Panel, q.RefID, err)
				}
			}
		}
	}
}

var labelValues = regexp.MustCompile(`^label_values\((.+), (\w+)\)$`)

func TestVariableQueriesArePromQL(t *testing.T) {
	_, jbs := decoded(t, Options{})
	known := knownSeries()
	for _, b := range jbs {
		for _, v := range b.Templating.List {
			if v.Type != "query" {
				continue
			}
			var q string
			if err := json.Unmarshal(v.Query, &q); err != nil {
				t.Fatal(err)
			}
			m := labelValues.FindStringSubmatch(q)
			if m == nil {
				t.Errorf("%s: %s: %q is not label_values(selector, label)", b.UID, v.Name, q)
				continue
			}
			e, err := parse(Substitute(m[1], sentinel))
			if err != nil {
				t.Errorf("%s: %s: %v", b.UID, v.Name, err)
				continue
			}
			vs, ok := e.(*parser.VectorSelector)
			if !ok || !known[vs.Name] {
				t.Errorf("%s: %s: %q does not select a faultline metric", b.UID, v.Name, m[1])
			}
		}
	}
}

// TestCheckExprCatches makes sure the checks above can fail.
func TestCheckExprCatches(t *testing.T) {
	ok := Substitute(sum(rate(sel(mn.HTTPRequestsTotal), rateWindow)), sentinel)
	if errs := checkExpr(ok); len(errs) > 0 {
		t.Fatalf("a good query fails: %v", errs)
	}
	bad := []string{
		`sum(rate(faultline_http_requests_total{namespace=~"ns-sentinel", job=~"job-sentinel", pod=~"pod-sentinel", route=~"route-sentinel"}[5m]))`,
		`sum(rate(faultline_http_requests_total{namespace=~"ns-sentinel", job=~"job-sentinel", pod=~"pod-sentinel"}[77s]))`,
		`sum(rate(faultline_requests_total{namespace=~"ns-sentinel", job=~"job-sentinel", pod=~"pod-sentinel"}[77s]))`,
		`limitk(1, faultline_upstream_up{namespace=~"ns-sentinel", job=~"job-sentinel", pod=~"pod-sentinel"})`,
		`histogram_avg(faultline_upstream_up{namespace=~"ns-sentinel", job=~"job-sentinel", pod=~"pod-sentinel"})`,
		`histogram_quantile(0.9, sum(rate(faultline_http_request_duration_seconds_bucket{namespace=~"ns-sentinel", job=~"job-sentinel", pod=~"pod-sentinel", route=~"route-sentinel"}[77s])))`,
		`faultline_upstream_up{namespace=~"$namespace"}`,
		`sum(`,
	}
	for _, expr := range bad {
		if errs := checkExpr(expr); len(errs) == 0 {
			t.Errorf("no error for %s", expr)
		}
	}
}

// TestEmptyPanelsAreDocumented: a query that reads only failures (401,
// 422, 5xx, captures, TLS) returns nothing while traffic is healthy, so it
// must say so for the end-to-end test.
func TestEmptyPanelsAreDocumented(t *testing.T) {
	failureOnly := []string{
		mn.AuthFailuresTotal, mn.ValidationErrorsTotal, mn.ServerErrorsTotal, mn.CapturesTotal,
		mn.CapturesDroppedTotal, mn.TLSHandshakeErrorsTotal, mn.TLSCertExpiry,
		`code=~"` + code5xx + `"`, `code="` + code422 + `"`, `code=~"` + codeError + `"`,
	}
	boards, err := Build(Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustHaveData := 0
	for _, b := range boards {
		for _, q := range Queries(b, Values{}) {
			readsFailures := slices.ContainsFunc(failureOnly, func(s string) bool { return strings.Contains(q.Expr, s) })
			zeroFilled := strings.Contains(q.Expr, " or ")
			if readsFailures && !zeroFilled && q.EmptyWhenHealthy == "" {
				t.Errorf("%s %q %s reads failures only, but does not say it may be empty: %s", b.UID, q.Panel, q.RefID, q.Expr)
			}
			if q.EmptyWhenHealthy == "" && !q.RecordingRules {
				mustHaveData++
			}
		}
	}
	if mustHaveData < 15 {
		t.Errorf("only %d queries must return data with healthy traffic", mustHaveData)
	}
}

func TestSubstitute(t *testing.T) {
	cases := []struct {
		in   string
		v    Values
		want string
	}{
		{`x{namespace=~"$namespace", pod=~"${pod}", route=~"${route:regex}"}[$__rate_interval]`, Values{},
			`x{namespace=~".*", pod=~".*", route=~".*"}[60s]`},
		{`x{job=~"$job"}[$__range]`, Values{Job: "a|b", Range: 90 * time.Minute}, `x{job=~"a|b"}[5400s]`},
		{`x[$__rate_interval] $__interval $unknown`, Values{RateInterval: 1500 * time.Millisecond}, `x[1500ms] 375ms $unknown`},
	}
	for _, c := range cases {
		if got := Substitute(c.in, c.v); got != c.want {
			t.Errorf("Substitute(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLEMatcher(t *testing.T) {
	cases := map[float64]string{0.5: `le=~"0\\.5"`, 1: `le=~"1|1\\.0"`, 10: `le=~"10|10\\.0"`, 0.0025: `le=~"0\\.0025"`}
	for bound, want := range cases {
		if got := leMatcher(bound).String(); got != want {
			t.Errorf("leMatcher(%v) = %s, want %s", bound, got, want)
		}
		re := regexp.MustCompile("^(?:" + leMatcher(bound).value + ")$")
		for _, s := range []string{num(bound), fmt.Sprintf("%.1f", bound)} {
			if (bound == float64(int(bound)) || s == num(bound)) && !re.MatchString(s) {
				t.Errorf("leMatcher(%v) does not match le=%q", bound, s)
			}
		}
	}
}

func TestUnknownMetricPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("sel accepted a metric that faultline does not export")
		}
	}()
	sel("faultline_made_up_total")
}
