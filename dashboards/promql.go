package dashboards

import (
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

// The queries are built from small helpers over the names in metricnames,
// so that no metric or label is ever typed twice. Each helper returns PromQL
// text; the tests parse every query with the Prometheus parser.

// Target labels: Prometheus attaches them at scrape time (Kubernetes service
// discovery and the usual relabelling), the sidecar does not export them.
// namespace and job are also the labels kept by the SLO recording rules
// (metricnames.RecordingLabels); a test checks that they agree.
const (
	labelNamespace = "namespace"
	labelJob       = "job"
	labelPod       = "pod"
	labelLE        = "le"
)

// Windows of range vectors: Grafana's rate interval for graphs, and the
// dashboard's time range for tables that sum up the period on screen.
const (
	rateWindow  = "$__rate_interval"
	rangeWindow = "$__range"
)

// Status code classes and codes, as values of the code label.
var (
	code4xx   = "4.."
	code5xx   = "5.."
	codeError = code4xx + "|" + code5xx
	code401   = strconv.Itoa(http.StatusUnauthorized)
	code422   = strconv.Itoa(http.StatusUnprocessableEntity)
)

// matcher is one label matcher of a selector.
type matcher struct{ label, op, value string }

func eq(label, value string) matcher { return matcher{label, "=", value} }
func re(label, value string) matcher { return matcher{label, "=~", value} }

func (m matcher) String() string { return m.label + m.op + strconv.Quote(m.value) }

// variable is the matcher of a label by the dashboard variable of the same
// name: namespace=~"$namespace". The variables' "All" value is ".*", which
// also matches series without the label (a sidecar outside Kubernetes has no
// namespace or pod).
func variable(label string) matcher { return re(label, "$"+label) }

// family returns the family that series belongs to: the family itself, or a
// histogram's _bucket, _sum or _count series. An unknown name is a bug in
// this package, so it panics (and the tests, which build every board, fail).
func family(series string) mn.Family {
	for _, f := range mn.Families {
		if series == f.Name {
			return f
		}
		if f.Type == mn.Histogram {
			for _, s := range []string{mn.SuffixBucket, mn.SuffixSum, mn.SuffixCount} {
				if series == mn.Series(f.Name, s) {
					return f
				}
			}
		}
	}
	panic(fmt.Sprintf("dashboards: %q is not a faultline metric", series))
}

// sel selects series of a faultline metric, filtered by the namespace, job
// and pod variables, by the route variable when the metric has a route
// label, and by extra.
func sel(series string, extra ...matcher) string {
	ms := []matcher{variable(labelNamespace), variable(labelJob), variable(labelPod)}
	if slices.Contains(family(series).Labels, mn.LabelRoute) {
		ms = append(ms, variable(mn.LabelRoute))
	}
	return selector(series, append(ms, extra...))
}

// rule selects a recording rule of `faultline alerts`, filtered by the
// variables of the labels it keeps (none: the bare name).
func rule(name string, labels ...string) string {
	if len(labels) == 0 {
		return name
	}
	ms := make([]matcher, len(labels))
	for i, l := range labels {
		ms[i] = variable(l)
	}
	return selector(name, ms)
}

// serviceRatio is the error ratio of sli over window for the routes
// without an objective of their own, by namespace and job.
func serviceRatio(sli, window string) string {
	return rule(mn.SLOErrorRatio(sli, window), mn.RecordingLabels...)
}

// routeRatio is the error ratio of sli over window of each route with an
// objective of its own.
func routeRatio(sli, window string) string {
	return rule(mn.SLORouteErrorRatio(sli, window), append(slices.Clone(mn.RecordingLabels), mn.LabelRoute)...)
}

// serviceBudget is the error ratio that the service objective of sli
// allows: 1 - objective, one series without labels.
func serviceBudget(sli string) string { return "(1 - " + rule(mn.SLOObjective(sli)) + ")" }

// routeBudget is the error ratio allowed to each route with an objective
// of its own, by route.
func routeBudget(sli string) string {
	return "(1 - " + rule(mn.SLORouteObjective(sli), mn.LabelRoute) + ")"
}

// serviceBurn is the burn rate of the service objective of sli over
// window: the error ratio over the allowed error ratio.
func serviceBurn(sli, window string) string {
	return serviceRatio(sli, window) + " / on () group_left () " + serviceBudget(sli)
}

func routeBurn(sli, window string) string {
	return routeRatio(sli, window) + " / on (" + mn.LabelRoute + ") group_left () " + routeBudget(sli)
}

func selector(name string, ms []matcher) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return name + "{" + strings.Join(parts, ", ") + "}"
}

func rate(s, window string) string     { return "rate(" + s + "[" + window + "])" }
func increase(s, window string) string { return "increase(" + s + "[" + window + "])" }

// sum aggregates expr by labels; with none, into one series.
func sum(expr string, by ...string) string { return aggr("sum", expr, by) }

// minimum aggregates expr by labels with min: one failing pod shows.
func minimum(expr string, by ...string) string { return aggr("min", expr, by) }

func aggr(op, expr string, by []string) string {
	if len(by) == 0 {
		return op + "(" + expr + ")"
	}
	return op + " by (" + strings.Join(by, ", ") + ") (" + expr + ")"
}

// topk keeps the k largest series; it bounds what a panel draws when the
// route count explodes.
func topk(k int, expr string) string { return "topk(" + strconv.Itoa(k) + ", " + expr + ")" }

// quantile reads quantile q from the classic buckets of histogram, summed
// by le and by.
func quantile(q float64, histogram, window string, by []string, extra ...matcher) string {
	buckets := rate(sel(mn.Series(histogram, mn.SuffixBucket), extra...), window)
	return "histogram_quantile(" + num(q) + ", " + sum(buckets, append(slices.Clone(by), labelLE)...) + ")"
}

// ratio is bad/all, both summed by labels. With zeroIfNone, a missing
// numerator counts as zero, so the ratio is 0 rather than empty while
// nothing fails; it still is empty when there is no traffic at all.
func ratio(bad, all string, zeroIfNone bool, by ...string) string {
	n, d := sum(bad, by...), sum(all, by...)
	if zeroIfNone {
		if len(by) == 0 {
			n = "(" + n + " or vector(0))"
		} else {
			n = "(" + n + " or 0 * " + d + ")"
		}
	}
	return n + " / " + d
}

// leMatcher matches the bucket bound le. Prometheus 2.x stores le as the
// target wrote it: "1" in the text format but "1.0" in OpenMetrics, which
// the sidecar serves for exemplars. The regular expression takes both.
func leMatcher(bound float64) matcher {
	s := num(bound)
	if bound == math.Trunc(bound) {
		return re(labelLE, regexp.QuoteMeta(s)+"|"+regexp.QuoteMeta(s+".0"))
	}
	return re(labelLE, regexp.QuoteMeta(s))
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
