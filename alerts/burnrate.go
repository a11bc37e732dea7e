package alerts

import (
	"fmt"
	"slices"
	"time"

	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// Alert names of the multiwindow, multi-burn-rate alerts.
const (
	AlertAvailabilityBudgetBurn = "FaultlineAvailabilityBudgetBurn"
	AlertLatencyBudgetBurn      = "FaultlineLatencyBudgetBurn"
)

// Labels of the burn-rate alerts besides severity. Two window pairs of one
// alert may fire at once; the window labels keep them apart.
const (
	LabelSLO         = "slo"
	LabelLongWindow  = "long_window"
	LabelShortWindow = "short_window"
)

// burnRate is one row of the SRE workbook's table (chapter 5, "Alerting on
// SLOs", recommended parameters for a 30-day SLO): the alert fires when
// both windows burn the error budget faster than factor times the rate that
// spends it exactly over 30 days.
type burnRate struct {
	long, short string
	factor      float64
	severity    string
	wait        time.Duration
	// exhausts says how soon the budget is gone at this rate.
	exhausts string
}

var burnRates = []burnRate{
	{"1h", "5m", 14.4, SeverityCritical, 2 * time.Minute, "about 2 days"},
	{"6h", "30m", 6, SeverityCritical, 2 * time.Minute, "5 days"},
	{"1d", "2h", 3, SeverityWarning, 15 * time.Minute, "10 days"},
	{"3d", "6h", 1, SeverityWarning, time.Hour, "30 days"},
}

// recordName names the error ratio recording rule of o over window.
func recordName(o objective, window string) string {
	if o.route != "" {
		return metricnames.SLORouteErrorRatio(o.sli, window)
	}
	return metricnames.SLOErrorRatio(o.sli, window)
}

// labels is what o's recording rules aggregate by.
func (o objective) labels() []string {
	if o.route != "" {
		return routeLabels
	}
	return serviceLabels
}

// scope restricts a selector to the requests o covers.
func (o objective) scope() []string {
	switch {
	case o.route != "":
		return []string{eq(metricnames.LabelRoute, o.route)}
	case len(o.exclude) > 0:
		return []string{nre(metricnames.LabelRoute, anyOf(o.exclude))}
	}
	return nil
}

func (b *builder) recordingRules() []Rule {
	var rules []Rule
	for _, o := range b.r.objectives {
		rules = append(rules, b.objectiveRule(o))
	}
	for _, o := range b.r.objectives {
		for _, w := range metricnames.SLOWindows {
			rules = append(rules, Rule{Record: recordName(o, w), Expr: b.errorRatio(o, w)})
		}
	}
	return rules
}

// objectiveRule records o's objective as a ratio, for dashboards.
func (b *builder) objectiveRule(o objective) Rule {
	v := "vector(" + num(1-o.budget()) + ")"
	if o.route == "" {
		return Rule{Record: metricnames.SLOObjective(o.sli), Expr: v}
	}
	return Rule{
		Record: metricnames.SLORouteObjective(o.sli),
		Expr:   fmt.Sprintf("label_replace(%s, %q, %q, \"\", \"\")", v, metricnames.LabelRoute, o.route),
	}
}

// errorRatio is the share of o's events that were bad over window.
func (b *builder) errorRatio(o objective, window string) string {
	by := o.labels()
	scope := o.scope()
	if o.sli == metricnames.SLIAvailability {
		all := sumRate(by, b.sel(metricnames.HTTPRequestsTotal, scope...), window)
		bad := sumRate(by, b.sel(metricnames.HTTPRequestsTotal, slices.Concat(scope, []string{re(metricnames.LabelCode, o.errorCodes)})...), window)
		// Without the "or", a ratio with no failing requests would be
		// missing instead of 0, and a dashboard would show no data.
		return lines(
			"(",
			indent(bad, 2),
			"  or",
			indent("0 * "+all, 2),
			")",
			"/",
			all,
		)
	}
	// A 101's duration is the life of the upgraded connection (a WebSocket
	// open for minutes), not a response time: it is left out of latency,
	// as failures are.
	ok := slices.Concat(scope, []string{nre(metricnames.LabelCode, o.errorCodes+"|"+codeSwitchingProtocols)})
	count := sumRate(by, b.sel(metricnames.Series(metricnames.HTTPRequestDuration, metricnames.SuffixCount), ok...), window)
	fast := sumRate(by, b.sel(metricnames.Series(metricnames.HTTPRequestDuration, metricnames.SuffixBucket), slices.Concat(ok, []string{leMatcher(o.threshold)})...), window)
	return lines(
		"(",
		indent(count, 2),
		"  -",
		indent(fast, 2),
		")",
		"/",
		count,
	)
}

// codeSwitchingProtocols is the code label of upgraded connections.
const codeSwitchingProtocols = "101"

func (b *builder) burnRateAlerts() []Rule {
	var rules []Rule
	for _, o := range b.r.objectives {
		for _, br := range burnRates {
			rules = append(rules, b.burnRateAlert(o, br))
		}
	}
	return rules
}

func (b *builder) burnRateAlert(o objective, br burnRate) Rule {
	threshold := "(" + num(br.factor) + " * " + num(o.budget()) + ")"
	record := func(w string) string {
		if o.route != "" {
			return recordName(o, w) + "{" + eq(metricnames.LabelRoute, o.route) + "}"
		}
		return recordName(o, w)
	}
	traffic := sumRate(o.labels(), b.sel(metricnames.HTTPRequestsTotal, o.scope()...), br.short)
	expr := lines(
		"(",
		"  "+record(br.long)+" > "+threshold,
		"  and",
		"  "+record(br.short)+" > "+threshold,
		")",
		"and "+on(o.labels()),
		traffic+" > "+num(b.r.minRate),
	)

	name, what, failed := AlertAvailabilityBudgetBurn, "availability", "failed ("+o.errorCodesText+")"
	objectiveText := num(o.percent) + "% of requests without " + o.errorCodesText
	if o.sli == metricnames.SLILatency {
		name, what = AlertLatencyBudgetBurn, "latency"
		limit := secondsDuration(o.threshold).String()
		failed = "took longer than " + limit
		objectiveText = num(o.percent) + "% of requests within " + limit
	}
	where := tmplService
	switch {
	case o.route != "":
		where = tmplRoute
	case len(o.exclude) > 0:
		where = tmplService + " (routes without an objective of their own)"
	}
	labels := map[string]string{
		LabelSLO:         o.sli,
		LabelLongWindow:  br.long,
		LabelShortWindow: br.short,
	}
	if o.route != "" {
		// The series carry the route already; as a static label it also
		// keeps the rule apart from the service's (promtool lints rules
		// with the same name and labels as duplicates).
		labels[metricnames.LabelRoute] = o.route
	}
	factor := num(br.factor)
	description := fmt.Sprintf(
		"{{ $value | humanizePercentage }} of requests to %s %s over the last %s, and the last %s is above the threshold too (long_window %s, short_window %s). "+
			"The objective is %s over %s, an error budget of %s; at %s× that rate (%s of requests) the budget is gone in %s.",
		where, failed, br.long, br.short, br.long, br.short,
		objectiveText, minutes(metricnames.SLOBudgetWindow), percent(o.budget()), factor, percent(br.factor*o.budget()), br.exhausts)
	short := tmplService
	if o.route != "" {
		short = tmplRoute
	}
	summary := fmt.Sprintf("%s: the %s error budget burns over %s× the sustainable rate (%s and %s windows)", short, what, factor, br.long, br.short)
	return b.alert(alertSpec{
		name:        name,
		severity:    br.severity,
		expr:        expr,
		wait:        br.wait,
		labels:      labels,
		summary:     summary,
		description: description,
		dashboard:   DashboardSLO,
		routeVar:    o.route != "",
	})
}
