package dashboards

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"

	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

// burnWindows are the long windows of the multiwindow burn-rate alerts
// (SRE workbook): 14.4× over 1h, 6× over 6h, 3× over 1d, 1× over 3d.
var burnWindows = []string{"1h", "6h", "1d", "3d"}

// Why the SLO board may be empty although the rules are loaded.
const emptyNoRouteSLO = "no route has an objective of its own in the SLO file"

// burnThresholds colour burn rates: 1 spends the budget in 30 days; the
// alerts open a ticket at 1 and 3, and page at 6 and 14.4.
func burnThresholds() *dashboard.ThresholdsConfigBuilder {
	return thresholds(green, step{1, yellow}, step{3, orange}, step{6, red}, step{14.4, darkRed})
}

// budgetThresholds colour the share of the error budget left.
func budgetThresholds() *dashboard.ThresholdsConfigBuilder {
	return thresholds(red, step{0, orange}, step{0.25, green})
}

// slo is the board of the availability and latency objectives, read from
// the recording rules that `faultline alerts` writes, objectives included.
func slo(o Options) *board {
	b := newBoard(o, UIDSLO, "faultline / SLO",
		"Availability and latency objectives over "+mn.SLOBudgetWindow+": how much error budget is left and how fast it burns, "+
			"from the SLO recording rules written by `faultline alerts`; and which routes spend it.", "now-7d")

	b.row("How to read this board")
	add(b, note(sloGuide(o)), spec{
		title: "What the objectives are, and where the numbers come from",
		desc:  "Reading guide for the SLO board.",
		w:     24, h: 6,
	})

	sloSection(b, mn.SLIAvailability, "Availability", "Availability: requests not answered with an error code")
	sloSection(b, mn.SLILatency, "Latency", "Latency: requests answered faster than the threshold")

	b.row("Routes with objectives of their own")
	for _, s := range []struct{ sli, name string }{{mn.SLIAvailability, "availability"}, {mn.SLILatency, "latency"}} {
		t := grid("budget left", true).DataLinks(one(troubleshootLink(cellRoute)))
		column(t, "A", "objective", unitPercent)
		column(t, "B", "budget left", unitPercent, colouredCells(budgetThresholds())...)
		column(t, "C", "burn rate 1h", unitNone, colouredCells(burnThresholds())...)
		column(t, "D", "burn rate 6h", unitNone, colouredCells(burnThresholds())...)
		long := routeRatio(s.sli, mn.SLOBudgetWindow)
		add(b, t, spec{
			title: fmt.Sprintf("Which routes with their own %s objective are burning it?", s.name),
			desc: fmt.Sprintf("Routes whose %s objective is set apart in the SLO file (routes:), which then count against it only: "+
				"objective, share of its %s budget left, burn rate over 1h and 6h. Empty when no route has its own objective.", s.name, mn.SLOBudgetWindow),
			w: 12, h: 8,
			targets: []target{
				routeTable("0 * " + long + " + on (" + mn.LabelRoute + ") group_left () " + rule(mn.SLORouteObjective(s.sli), mn.LabelRoute)),
				routeTable("1 - " + routeBurn(s.sli, mn.SLOBudgetWindow)),
				routeTable(routeBurn(s.sli, "1h")),
				routeTable(routeBurn(s.sli, "6h")),
			},
		})
	}

	b.row("What is spending the budget?")
	requests := mn.HTTPRequestsTotal
	all := sum(rate(sel(requests), rateWindow))
	add(b, graph(unitPercent).DataLinks(links(
		one(troubleshootLink(seriesRoute)),
		one(captureLink(o, "Captured requests of this route", seriesRoute, "")),
	)), spec{
		title: "Which routes fail with 5xx, as a share of all requests?",
		desc: "Each route's 5xx answers divided by all requests of the selection: the routes on top spend most of the availability budget " +
			"(if the SLO file counts other codes as errors, they are not shown here). Only routes with a 5xx appear.",
		w: 12, h: 9,
		targets: []target{{
			expr:   topk(10, sum(rate(sel(requests, re(mn.LabelCode, code5xx)), rateWindow), mn.LabelRoute)+" / scalar("+all+")"),
			legend: "{{route}}",
			empty:  emptyNo5xx,
		}},
	})
	// As in the latency SLI, requests answered with an error code count
	// against availability only, and upgraded connections (101: their
	// duration is how long a WebSocket stayed open) not at all.
	notFailed := matcher{mn.LabelCode, "!~", code5xx + "|101"}
	count := mn.Series(mn.HTTPRequestDuration, mn.SuffixCount)
	bucket := mn.Series(mn.HTTPRequestDuration, mn.SuffixBucket)
	slow := "(" + sum(rate(sel(count, notFailed), rateWindow), mn.LabelRoute) + " - " +
		sum(rate(sel(bucket, notFailed, leMatcher(o.LatencyThreshold.Seconds())), rateWindow), mn.LabelRoute) + ")"
	add(b, graph(unitPercent).DataLinks(one(troubleshootLink(seriesRoute))), spec{
		title: fmt.Sprintf("Which routes answer slower than %v, as a share of all requests?", o.LatencyThreshold),
		desc: fmt.Sprintf("Each route's requests slower than %v (5xx and upgraded connections left out, as in the latency SLI) divided by all such requests of the selection: "+
			"the routes on top spend most of the latency budget. Only routes with a slow request appear.", o.LatencyThreshold),
		w: 12, h: 9,
		targets: []target{{
			expr:   topk(10, slow+" / scalar("+sum(rate(sel(count, notFailed), rateWindow))+") > 0"),
			legend: "{{route}}",
			empty:  emptyNoSlow,
		}},
	})
	return b
}

// routeTable is an instant query of a table of the routes with objectives
// of their own.
func routeTable(expr string) target {
	return target{expr: expr, instant: true, format: prometheus.PromQueryFormatTable, empty: emptyNoRouteSLO}
}

// sloSection is one SLI of the service: its objective, compliance and
// budget left over the budget window, burn rates per window now and over
// time, and the error ratio against the allowed one.
func sloSection(b *board, sli, name, title string) {
	long := serviceRatio(sli, mn.SLOBudgetWindow)
	legend := func(window string) string { return strings.TrimSpace("{{namespace}} {{job}} " + window) }

	b.row(title)
	add(b, single(unitPercent).Decimals(3).GraphMode(common.BigValueGraphModeNone), spec{
		title: name + ": objective",
		desc:  "The objective set in the SLO file of `faultline alerts`, as its recording rules hold it.",
		w:     4, h: 6,
		targets: []target{{expr: rule(mn.SLOObjective(sli)), legend: "objective"}},
	})
	add(b, single(unitPercent).Decimals(3), spec{
		title: name + ": compliance over " + mn.SLOBudgetWindow,
		desc:  fmt.Sprintf("Share of good requests over the last %s, to compare with the objective.", mn.SLOBudgetWindow),
		w:     4, h: 6,
		targets: []target{{expr: "1 - " + long, legend: legend("")}},
	})
	add(b, single(unitPercent).
		Decimals(1).
		Thresholds(budgetThresholds()).
		ColorMode(common.BigValueColorModeBackground), spec{
		title: name + ": error budget left over " + mn.SLOBudgetWindow,
		desc: fmt.Sprintf("Share of the error budget (1 - objective) not yet spent over the last %s. "+
			"Below 0 the objective is missed; orange under 25 %%.", mn.SLOBudgetWindow),
		w: 4, h: 6,
		targets: []target{{expr: "1 - " + serviceBurn(sli, mn.SLOBudgetWindow), legend: legend("")}},
	})
	var now []target
	for _, w := range mn.SLOWindows {
		now = append(now, target{expr: serviceBurn(sli, w), legend: legend(w), instant: true})
	}
	add(b, bars(unitNone).Decimals(1).Thresholds(burnThresholds()), spec{
		title: name + ": how fast is the budget burning, per window?",
		desc: "Burn rate: error ratio over the window / allowed error ratio. 1 spends exactly the budget in " + mn.SLOBudgetWindow + "; " +
			"the alerts page at 14.4 (1h and 5m) and 6 (6h and 30m), and open a ticket at 3 (1d and 2h) and 1 (3d and 6h).",
		w: 12, h: 6,
		targets: now,
	})
	var over []target
	for _, w := range burnWindows {
		over = append(over, target{expr: serviceBurn(sli, w), legend: legend(w)})
	}
	add(b, graph(unitNone).Thresholds(burnThresholds()).ThresholdsStyle(thresholdLines()), spec{
		title: name + ": burn rate over time",
		desc:  "Burn rate over the long windows of the alerts. Above a dashed line for the length of its window, the matching alert fires (6 and 14.4 page, 1 and 3 open a ticket).",
		w:     8, h: 8,
		targets: over,
	})
	add(b, graph(unitPercent), spec{
		title: name + ": error ratio against the allowed one",
		desc:  "Share of bad requests over 5 minutes and 1 hour, and the share the objective allows (1 - objective): above it, the budget burns faster than it refills.",
		w:     8, h: 8,
		targets: []target{
			{expr: serviceRatio(sli, "5m"), legend: legend("5m")},
			{expr: serviceRatio(sli, "1h"), legend: legend("1h")},
			{expr: serviceBudget(sli), legend: "allowed"},
		},
	})
	add(b, graph(unitPercent).Thresholds(budgetThresholds()).ThresholdsStyle(thresholdLines()), spec{
		title: name + ": error budget left over time",
		desc:  fmt.Sprintf("Budget left over the trailing %s at each point in time: a steady slope down is a constant error rate; a cliff is an incident.", mn.SLOBudgetWindow),
		w:     8, h: 8,
		targets: []target{{expr: "1 - " + serviceBurn(sli, mn.SLOBudgetWindow), legend: legend("")}},
	})
}

// sloGuide explains the board.
func sloGuide(o Options) string {
	var s strings.Builder
	s.WriteString("**Availability**: share of requests not answered with an error code (5xx unless the SLO file says otherwise). ")
	fmt.Fprintf(&s, "**Latency**: share of the other requests answered within the threshold of the SLO file (%v unless it says otherwise).\n\n", o.LatencyThreshold)
	fmt.Fprintf(&s, "Every number comes from the recording rules of `faultline alerts`: the objectives (`%s`, `%s`) and the error ratios over %s (`%s`…, and `%s`… for the routes with objectives of their own), by namespace and job. ",
		mn.SLOObjective(mn.SLIAvailability), mn.SLOObjective(mn.SLILatency), strings.Join(mn.SLOWindows, ", "),
		mn.SLOErrorRatio(mn.SLIAvailability, mn.SLOWindows[0]), mn.SLORouteErrorRatio(mn.SLIAvailability, mn.SLOWindows[0]))
	s.WriteString("If the panels are empty, load those rules into Prometheus.\n\n")
	fmt.Fprintf(&s, "**Burn rate** 1 spends the whole budget in %s; 14.4 spends 2 %% of it in one hour.", mn.SLOBudgetWindow)
	return s.String()
}
