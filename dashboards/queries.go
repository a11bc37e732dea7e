package dashboards

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"

	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

// Query is one Prometheus query of a dashboard panel, with the dashboard
// variables substituted: what Grafana would send for the given Values.
type Query struct {
	Board   string // UID of the dashboard
	Panel   string // title of the panel
	PanelID uint32
	RefID   string
	Expr    string
	// Instant queries are evaluated once, at the end of the time range;
	// the others over the time range.
	Instant bool
	// EmptyWhenHealthy says why the query may return no series although
	// the sidecar serves healthy traffic (only 2xx, no TLS…). Empty means
	// that the query must return data once the sidecar has been scraped
	// while serving requests.
	EmptyWhenHealthy string
	// RecordingRules is true when Expr reads the SLO recording rules: it
	// returns data only once Prometheus evaluates the rules written by
	// `faultline alerts`.
	RecordingRules bool
}

// Values are the values of the dashboard variables. The label values are
// regular expressions, as the variables' values are in the label
// matchers; an empty one means All (".*").
type Values struct {
	Namespace, Job, Pod, Route string
	// RateInterval stands for $__rate_interval. Zero means 1m, Grafana's
	// value for a 15 s scrape interval.
	RateInterval time.Duration
	// Range stands for $__range, the dashboard's time range. Zero means 1h.
	Range time.Duration
}

// Queries lists the queries of every panel of b, in panel order, with the
// variables substituted from v.
func Queries(b Board, v Values) []Query {
	var qs []Query
	visit := func(p dashboard.Panel) {
		for _, t := range p.Targets {
			dq, ok := promQuery(t)
			if !ok || dq.Expr == "" {
				continue
			}
			q := Query{Board: b.UID, Expr: Substitute(dq.Expr, v), Instant: dq.Instant != nil && *dq.Instant}
			if p.Title != nil {
				q.Panel = *p.Title
			}
			if p.Id != nil {
				q.PanelID = *p.Id
			}
			if dq.RefId != nil {
				q.RefID = *dq.RefId
			}
			q.EmptyWhenHealthy = b.empty[q.PanelID][q.RefID]
			q.RecordingRules = readsRecordingRules(dq.Expr)
			qs = append(qs, q)
		}
	}
	for _, p := range b.Dashboard.Panels {
		if p.Panel != nil {
			visit(*p.Panel)
		}
		if p.RowPanel != nil {
			for _, inner := range p.RowPanel.Panels {
				visit(inner)
			}
		}
	}
	return qs
}

// promQuery returns t as a Prometheus query, whether it was built (a
// value) or decoded (a pointer).
func promQuery(t variants.Dataquery) (prometheus.Dataquery, bool) {
	switch q := t.(type) {
	case prometheus.Dataquery:
		return q, true
	case *prometheus.Dataquery:
		return *q, q != nil
	}
	return prometheus.Dataquery{}, false
}

// recordingRules maps each recording rule of `faultline alerts` that the
// boards read to the labels it keeps.
func recordingRules() map[string][]string {
	rules := map[string][]string{}
	withRoute := append(slices.Clone(mn.RecordingLabels), mn.LabelRoute)
	for _, sli := range []string{mn.SLIAvailability, mn.SLILatency} {
		rules[mn.SLOObjective(sli)] = nil
		rules[mn.SLORouteObjective(sli)] = []string{mn.LabelRoute}
		for _, w := range mn.SLOWindows {
			rules[mn.SLOErrorRatio(sli, w)] = mn.RecordingLabels
			rules[mn.SLORouteErrorRatio(sli, w)] = withRoute
		}
	}
	return rules
}

var identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

func readsRecordingRules(expr string) bool {
	rules := recordingRules()
	for _, name := range identifier.FindAllString(expr, -1) {
		if _, ok := rules[name]; ok {
			return true
		}
	}
	return false
}

var grafanaRef = regexp.MustCompile(`\$\{(\w+)(?::[\w-]+)?\}|\$(\w+)`)

// Substitute replaces in expr the Grafana variables that the dashboards use
// ($namespace, ${route}, ${route:regex}, $__rate_interval, $__range,
// $__interval) with v. Other variables are left as they are.
func Substitute(expr string, v Values) string {
	all := func(s string) string {
		if s == "" {
			return ".*"
		}
		return s
	}
	rateInterval, rangeDur := v.RateInterval, v.Range
	if rateInterval <= 0 {
		rateInterval = time.Minute
	}
	if rangeDur <= 0 {
		rangeDur = time.Hour
	}
	values := map[string]string{
		VarNamespace:      all(v.Namespace),
		VarJob:            all(v.Job),
		VarPod:            all(v.Pod),
		VarRoute:          all(v.Route),
		"__rate_interval": promDuration(rateInterval),
		"__interval":      promDuration(rateInterval / 4),
		"__range":         promDuration(rangeDur),
	}
	return grafanaRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := grafanaRef.FindStringSubmatch(ref)
		name := m[1] + m[2]
		if val, ok := values[name]; ok {
			return val
		}
		return ref
	})
}

// promDuration formats d as a PromQL duration, in seconds or milliseconds.
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}
