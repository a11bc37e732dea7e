package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"

	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

// Reasons for a query to be empty while traffic is healthy.
const (
	emptyNo5xx      = "no request was answered with a 5xx"
	emptyNoFailures = "no request was answered with a 4xx or 5xx"
	emptyNo401      = "no request was answered 401"
	emptyNo422      = "no request was answered 422"
	emptyNoCaptures = "nothing was captured (no failing request)"
	emptyNoDrops    = "no capture was dropped"
	emptyNoTLS      = "the sidecar does not terminate TLS (no --tls-cert)"
	emptyNoSlow     = "no request was slower than the latency threshold"
	emptyNoRouteCap = "the sidecar exports it only when it keeps a capped route table"
)

// overview is the RED board: how much traffic, how much of it fails, how
// slow it is, by route.
func overview(o Options) *board {
	b := newBoard(o, UIDOverview, "faultline / Overview",
		"Rate, errors and duration of the requests that the faultline sidecars forwarded to the app, by route. "+
			"Start here; follow a route to the troubleshooting board.", "now-1h")
	requests := mn.HTTPRequestsTotal
	all := rate(sel(requests), rateWindow)
	fails5xx := rate(sel(requests, re(mn.LabelCode, code5xx)), rateWindow)
	fails4xx := rate(sel(requests, re(mn.LabelCode, code4xx)), rateWindow)
	threshold := o.LatencyThreshold.Seconds()

	b.row("Right now")
	add(b, single(unitReqps), spec{
		title: "Requests per second",
		desc:  "Requests the sidecars answered per second, over the selected namespaces, jobs, pods and routes.",
		w:     4, h: 4,
		targets: []target{{expr: sum(all), legend: "requests/s"}},
	})
	add(b, single(unitPercent).
		Decimals(2).
		Thresholds(thresholds(green, step{0.01, orange}, step{0.05, red})).
		ColorMode(common.BigValueColorModeBackground), spec{
		title: "Share of requests failing with 5xx",
		desc: "5xx answers / all answers. Orange from 1 %, red from 5 %. " +
			"The troubleshooting board tells app errors from an unreachable or slow app.",
		w: 4, h: 4,
		targets: []target{{expr: ratio(fails5xx, all, true), legend: "5xx share"}},
	})
	add(b, single(unitPercent).
		Decimals(2).
		Thresholds(thresholds(green, step{0.10, orange})), spec{
		title: "Share of requests answered with 4xx",
		desc: "4xx answers / all answers: the app refused the request (401 credentials, 422 validation, 404…). " +
			"A jump after a deploy of the app or of a client is the thing to look for; orange from 10 %.",
		w: 4, h: 4,
		targets: []target{{expr: ratio(fails4xx, all, true), legend: "4xx share"}},
	})
	add(b, single(unitSeconds).
		Thresholds(thresholds(green, step{threshold, red})).
		ColorMode(common.BigValueColorModeBackground), spec{
		title: "p99 latency",
		desc: fmt.Sprintf("99 %% of requests finished faster than this (classic histogram buckets, so the value is interpolated within a bucket). "+
			"Red above the latency SLO threshold of %v.", o.LatencyThreshold),
		w: 4, h: 4,
		targets: []target{{expr: quantile(0.99, mn.HTTPRequestDuration, rateWindow, nil), legend: "p99"}},
	})
	add(b, single(unitShort), spec{
		title: "Requests in flight",
		desc:  "Requests being served right now, summed over the selected pods. A steady climb while the rate stays flat means the app is slowing down.",
		w:     4, h: 4,
		targets: []target{{expr: sum(sel(mn.HTTPRequestsInFlight)), legend: "in flight"}},
	})
	add(b, single(unitNone).
		Mappings(valueText(map[string]dashboard.ValueMappingResult{
			"0": mapped("DOWN", red, 0),
			"1": mapped("UP", green, 1),
		})).
		Thresholds(thresholds(red, step{1, green})).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone), spec{
		title: "Is the app answering its sidecars?",
		desc: "The sidecar's readiness probe of the app (/readyz). DOWN when the app does not answer on at least one selected pod: " +
			"clients of that pod get 502 from the sidecar.",
		w: 4, h: 4,
		targets: []target{{expr: minimum(sel(mn.UpstreamUp)), legend: "up"}},
	})

	b.row("Traffic and errors by route")
	add(b, graph(unitReqps).DataLinks(one(troubleshootLink(seriesRoute))), spec{
		title: "Which routes get the most traffic?",
		desc:  "Requests per second of the 10 busiest routes. Click a series to troubleshoot its route.",
		w:     12, h: 9,
		targets: []target{{expr: topk(10, sum(all, mn.LabelRoute)), legend: "{{route}}"}},
	})
	add(b, graph(unitPercent).
		Thresholds(thresholds(green, step{0.01, orange}, step{0.05, red})).
		ThresholdsStyle(thresholdLines()).
		DataLinks(one(troubleshootLink(seriesRoute))), spec{
		title: "Which routes fail with 5xx?",
		desc: "Share of each route's requests answered with a 5xx, for the 10 worst routes. " +
			"Only routes with a 5xx appear. Click a series to troubleshoot its route.",
		w: 12, h: 9,
		targets: []target{{expr: topk(10, ratio(fails5xx, all, false, mn.LabelRoute)), legend: "{{route}}", empty: emptyNo5xx}},
	})
	add(b, stacked(unitReqps), spec{
		title: "Which status codes are we answering?",
		desc:  "Requests per second by status code, stacked. 401 and 422 are the app refusing the request; 502 and 504 usually come from the sidecar when the app is unreachable or too slow.",
		w:     12, h: 9,
		targets: []target{{expr: sum(all, mn.LabelCode), legend: "{{code}}"}},
	})
	routes := grid("5xx share", true).DataLinks(links(
		one(troubleshootLink(cellRoute)),
		one(captureLink(o, "Captured failing requests of this route", cellRoute, "")),
	))
	column(routes, "A", "requests/s", unitReqps)
	column(routes, "B", "5xx share", unitPercent, colouredCells(thresholds(green, step{0.01, orange}, step{0.05, red}))...)
	column(routes, "C", "4xx share", unitPercent)
	column(routes, "D", "p99", unitSeconds, colouredCells(thresholds(green, step{threshold, red}))...)
	allRange := rate(sel(requests), rangeWindow)
	add(b, routes, spec{
		title: "Which routes need attention?",
		desc: "Every route over the whole time range: traffic, share of 5xx and 4xx answers, p99 latency. " +
			"Sorted by 5xx share; click a route to troubleshoot it or open its captured requests.",
		w: 12, h: 9,
		targets: []target{
			{expr: sum(allRange, mn.LabelRoute), instant: true, format: prometheus.PromQueryFormatTable},
			{expr: ratio(rate(sel(requests, re(mn.LabelCode, code5xx)), rangeWindow), allRange, true, mn.LabelRoute), instant: true, format: prometheus.PromQueryFormatTable},
			{expr: ratio(rate(sel(requests, re(mn.LabelCode, code4xx)), rangeWindow), allRange, true, mn.LabelRoute), instant: true, format: prometheus.PromQueryFormatTable},
			{expr: quantile(0.99, mn.HTTPRequestDuration, rangeWindow, []string{mn.LabelRoute}), instant: true, format: prometheus.PromQueryFormatTable},
		},
	})

	b.row("Latency")
	add(b, graph(unitSeconds).
		Thresholds(thresholds(green, step{threshold, red})).
		ThresholdsStyle(thresholdLines()), spec{
		title: "How long do requests take?",
		desc: fmt.Sprintf("p50, p90 and p99 of the request duration, from the first byte of the request to the last byte of the response. "+
			"The dashed line is the latency SLO threshold (%v). Dots are exemplars: click one to open its trace.", o.LatencyThreshold),
		w: 12, h: 9,
		targets: []target{
			{expr: quantile(0.5, mn.HTTPRequestDuration, rateWindow, nil), legend: "p50", exemplar: true},
			{expr: quantile(0.9, mn.HTTPRequestDuration, rateWindow, nil), legend: "p90", exemplar: true},
			{expr: quantile(0.99, mn.HTTPRequestDuration, rateWindow, nil), legend: "p99", exemplar: true},
		},
	})
	add(b, buckets(unitSeconds), spec{
		title: "How are request durations spread?",
		desc: "Requests per duration bucket over time: a second band appearing above the usual one is a slow dependency or a slow route. " +
			"Dots are exemplars: click one to open its trace.",
		w: 12, h: 9,
		targets: []target{{
			expr:     sum(increase(sel(mn.Series(mn.HTTPRequestDuration, mn.SuffixBucket)), rateWindow), labelLE),
			legend:   "{{le}}",
			format:   prometheus.PromQueryFormatHeatmap,
			exemplar: true,
		}},
	})
	add(b, graph(unitSeconds).
		Thresholds(thresholds(green, step{threshold, red})).
		ThresholdsStyle(thresholdLines()).
		DataLinks(one(troubleshootLink(seriesRoute))), spec{
		title: "Which routes are slowest?",
		desc:  "p99 latency of the 10 slowest routes. A rarely called route can top this list with a few slow requests: check its traffic. Dots are exemplars.",
		w:     12, h: 9,
		targets: []target{{expr: topk(10, quantile(0.99, mn.HTTPRequestDuration, rateWindow, []string{mn.LabelRoute})), legend: "{{route}}", exemplar: true}},
	})
	add(b, graph(unitBytes), spec{
		title: "How large are request and response bodies?",
		desc:  "p90 of the body sizes. A jump in response size with a jump in latency points at a payload that grew (a list without pagination).",
		w:     12, h: 9,
		targets: []target{
			{expr: quantile(0.9, mn.HTTPRequestSize, rateWindow, nil), legend: "request body p90"},
			{expr: quantile(0.9, mn.HTTPResponseSize, rateWindow, nil), legend: "response body p90"},
		},
	})

	b.row("Load")
	add(b, graph(unitShort), spec{
		title: "How many requests are in flight, per pod?",
		desc:  "Requests being served now, by pod. A pod that stays high while others are low is stuck on slow requests (gunicorn workers busy).",
		w:     12, h: 8,
		targets: []target{{expr: sum(sel(mn.HTTPRequestsInFlight), labelJob, labelPod), legend: "{{job}} {{pod}}"}},
	})
	add(b, graph(unitReqps), spec{
		title: "How many requests does each pod serve?",
		desc:  "Requests per second by pod: an uneven spread means the load balancer or the client keeps connections on a few pods.",
		w:     12, h: 8,
		targets: []target{{expr: sum(all, labelJob, labelPod), legend: "{{job}} {{pod}}"}},
	})
	return b
}
