package alerts

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// Labels that Prometheus adds to every scraped series (the target's), as
// opposed to the sidecar's own labels in metricnames.
const (
	labelJob       = "job"
	labelNamespace = "namespace"
	labelInstance  = "instance"
	labelPod       = "pod"
	// labelLE is the bucket bound label of classic histograms.
	labelLE = "le"
)

// Label sets the rules aggregate by.
var (
	serviceLabels  = metricnames.RecordingLabels
	routeLabels    = append(slices.Clip(serviceLabels), metricnames.LabelRoute)
	instanceLabels = append(slices.Clip(serviceLabels), labelInstance, labelPod)
)

// sel renders metric{matchers...}: the user's selector first, then extra.
func (b *builder) sel(metric string, extra ...string) string {
	ms := append(slices.Clip(b.r.matchers), extra...)
	if len(ms) == 0 {
		return metric
	}
	return metric + "{" + strings.Join(ms, ", ") + "}"
}

func eq(label, value string) string  { return label + "=" + strconv.Quote(value) }
func neq(label, value string) string { return label + "!=" + strconv.Quote(value) }
func re(label, regex string) string  { return label + "=~" + strconv.Quote(regex) }
func nre(label, regex string) string { return label + "!~" + strconv.Quote(regex) }

// anyOf is a regular expression matching exactly one of values.
func anyOf(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = regexp.QuoteMeta(v)
	}
	return strings.Join(quoted, "|")
}

func by(labels []string) string { return "by (" + strings.Join(labels, ", ") + ")" }

func on(labels []string) string { return "on (" + strings.Join(labels, ", ") + ")" }

// sumRate is `sum by (labels) (rate(selector[window]))`.
func sumRate(labels []string, selector, window string) string {
	return "sum " + by(labels) + " (rate(" + selector + "[" + window + "]))"
}

// num renders a float for PromQL and for people, without float noise.
func num(v float64) string {
	return strconv.FormatFloat(roundSignificant(v), 'g', -1, 64)
}

// percent renders a ratio as a percentage for people: 0.0144 is "1.44%".
func percent(ratio float64) string {
	return num(ratio*100) + "%"
}

// leMatcher selects the bucket with upper bound bound. Prometheus 3 writes
// integral bounds as "1.0" where 2.x and client_golang write "1", so a
// regular expression matches both.
func leMatcher(bound float64) string {
	s := strconv.FormatFloat(bound, 'g', -1, 64)
	if bound == math.Trunc(bound) {
		return re(labelLE, regexp.QuoteMeta(s)+`(\.0)?`)
	}
	return eq(labelLE, s)
}

// indent prefixes every line of s with n spaces.
func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

// lines joins expression lines with newlines.
func lines(ls ...string) string { return strings.Join(ls, "\n") }
