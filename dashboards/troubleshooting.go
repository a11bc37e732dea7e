package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"

	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

// What each status code usually means and what to check first: the opening
// text of each section of the troubleshooting board.
const (
	about401 = `### 401 Unauthorized: the app refused the credentials

**Usually**
- **absent**: the client sent no credentials at all — a client bug, an ingress or proxy dropping the ` + "`Authorization`" + ` header, a session cookie not sent (domain, SameSite, expired session).
- **present**: credentials arrived but were refused — an expired or revoked token, a rotated signing key, clock skew, or the auth service (identity provider, token introspection) failing.

**Check first**
1. *absent* or *present*, in the next panel.
2. All routes at once: the auth service or a key rotation. One route: that route's auth dependency or a client release.
3. Open a capture of the route: which credentials were sent (their values are redacted) and what the app answered.`

	about422 = `### 422 Unprocessable Entity: the request did not match the model

**Usually** FastAPI's validation (pydantic) rejected the request before the handler ran: the client sends a body, query or path parameter the model does not accept — a required field missing (` + "`missing`" + `), a wrong type (` + "`int_parsing`" + `, ` + "`string_type`" + `), a value out of range.

**Check first**
1. Which field and error type, in the table: location ` + "`body.price`" + `, type ` + "`missing`" + `.
2. Whether it started with a client release or an API change (a renamed or newly required field).
3. Open a capture: the exact body the client sent, and pydantic's ` + "`detail`" + ` answer.`

	about5xx = `### 5xx: something behind the sidecar failed

**Usually**, by **source**:
- **app**: the app answered 5xx itself — an unhandled exception (FastAPI's 500) or a dependency behind the app (database, another API) failing.
- **upstream_unreachable** (502): the sidecar could not reach the app — not listening, restarting, out of workers, or the connection broke.
- **upstream_timeout** (504): the app did not answer in time — a slow dependency, a blocked event loop, all gunicorn workers busy.
- **sidecar**: faultline itself failed the request.

**Check first**
1. The source, in the next panel; then whether the app is up.
2. For *app*: the trace of a failing request (which span failed) and the app's logs around it.
3. For *unreachable* / *timeout*: container restarts, OOM kills, worker count, slow dependencies.`
)

// troubleshooting is the board on-call opens when errors rise: one section
// for 401, 422 and 5xx each, from "what does it mean" to "this route, this
// field, this request".
func troubleshooting(o Options) *board {
	b := newBoard(o, UIDTroubleshooting, "faultline / Troubleshooting",
		"Failing requests by kind: 401 (credentials), 422 (validation) and 5xx (the app or its dependencies). "+
			"Each section says what the code usually means and what to check first, and links each failing route to its captured requests and traces.", "now-1h")
	requests := mn.HTTPRequestsTotal

	b.row("Where are the failures?")
	add(b, stacked(unitReqps), spec{
		title: "Which error codes are we answering?",
		desc:  "4xx and 5xx answers per second, by status code, stacked.",
		w:     12, h: 9,
		targets: []target{{
			expr:   sum(rate(sel(requests, re(mn.LabelCode, codeError)), rateWindow), mn.LabelCode),
			legend: "{{code}}",
			empty:  emptyNoFailures,
		}},
	})
	top := grid("failures", false).DataLinks(links(
		one(captureLink(o, "Captured requests of this route and code", cellRoute, cellCode)),
		traceLinks(o, "Traces of this route and code", cellRoute, "= "+cellCode),
	))
	valueColumn(top, "failures", unitShort)
	add(b, top, spec{
		title: "Which routes fail most?",
		desc:  "The 15 route and status code pairs with the most 4xx and 5xx answers over the time range. Click a row to open its captured requests or its traces.",
		w:     12, h: 9,
		targets: []target{{
			expr:    topk(15, sum(increase(sel(requests, re(mn.LabelCode, codeError)), rangeWindow), mn.LabelRoute, mn.LabelCode)),
			instant: true,
			format:  prometheus.PromQueryFormatTable,
			empty:   emptyNoFailures,
		}},
	})

	b.row("401 Unauthorized")
	auth := mn.AuthFailuresTotal
	add(b, note(about401), spec{
		title: "What a 401 means, and what to check first",
		desc:  "Reading guide for the 401 section.",
		w:     8, h: 10,
	})
	add(b, stacked(unitReqps), spec{
		title: "Are credentials missing or refused?",
		desc:  "401 answers per second by whether the request carried credentials: absent (a client or proxy problem) or present (expired, revoked, or the auth service failing).",
		w:     8, h: 10,
		targets: []target{{
			expr:   sum(rate(sel(auth), rateWindow), mn.LabelCredentials),
			legend: "{{credentials}}",
			empty:  emptyNo401,
		}},
	})
	add(b, graph(unitReqps).DataLinks(links(
		one(captureLink(o, "Captured 401s of this route", seriesRoute, code401)),
		traceLinks(o, "Traces of 401s of this route", seriesRoute, "= "+code401),
	)), spec{
		title: "Which routes answer 401?",
		desc:  "401 answers per second of the 10 routes with most. Click a series to open its captured requests or its traces.",
		w:     8, h: 10,
		targets: []target{{
			expr:   topk(10, sum(rate(sel(auth), rateWindow), mn.LabelRoute, mn.LabelCredentials)),
			legend: "{{route}} ({{credentials}})",
			empty:  emptyNo401,
		}},
	})

	b.row("422 Unprocessable Entity")
	validation := mn.ValidationErrorsTotal
	add(b, note(about422), spec{
		title: "What a 422 means, and what to check first",
		desc:  "Reading guide for the 422 section.",
		w:     8, h: 10,
	})
	fields := grid("errors", false).DataLinks(links(
		one(captureLink(o, "Captured 422s of this route", cellRoute, code422)),
		traceLinks(o, "Traces of 422s of this route", cellRoute, "= "+code422),
	))
	valueColumn(fields, "errors", unitShort)
	add(b, fields, spec{
		title: "Which fields fail validation?",
		desc: "Validation errors over the time range by route, field location (body.price, query.limit) and pydantic error type (missing, int_parsing). " +
			"One 422 counts once per item of its detail list. Click a row to see the requests.",
		w: 16, h: 10,
		targets: []target{{
			expr:    topk(20, sum(increase(sel(validation), rangeWindow), mn.LabelRoute, mn.LabelLocation, mn.LabelType)),
			instant: true,
			format:  prometheus.PromQueryFormatTable,
			empty:   emptyNo422,
		}},
	})
	add(b, graph(unitReqps).DataLinks(links(
		one(captureLink(o, "Captured 422s of this route", seriesRoute, code422)),
		traceLinks(o, "Traces of 422s of this route", seriesRoute, "= "+code422),
	)), spec{
		title: "Which routes answer 422?",
		desc:  "422 answers per second of the 10 routes with most. Click a series to open its captured requests.",
		w:     12, h: 8,
		targets: []target{{
			expr:   topk(10, sum(rate(sel(requests, eq(mn.LabelCode, code422)), rateWindow), mn.LabelRoute)),
			legend: "{{route}}",
			empty:  emptyNo422,
		}},
	})
	add(b, graph(unitOpsPerS), spec{
		title: "Since when does each field fail?",
		desc:  "Validation errors per second by field location and error type, for the 10 most frequent: a line that starts at a deploy points at the change.",
		w:     12, h: 8,
		targets: []target{{
			expr:   topk(10, sum(rate(sel(validation), rateWindow), mn.LabelLocation, mn.LabelType)),
			legend: "{{location}} {{type}}",
			empty:  emptyNo422,
		}},
	})

	b.row("5xx Server errors")
	serverErrors := mn.ServerErrorsTotal
	add(b, note(about5xx), spec{
		title: "What a 5xx means, and what to check first",
		desc:  "Reading guide for the 5xx section.",
		w:     8, h: 11,
	})
	add(b, stacked(unitReqps), spec{
		title: "Where do the 5xx come from?",
		desc:  "5xx answers per second by source: app (the app answered 5xx), upstream_unreachable (502, no connection to the app), upstream_timeout (504, the app did not answer in time), sidecar.",
		w:     8, h: 11,
		targets: []target{{
			expr:   sum(rate(sel(serverErrors), rateWindow), mn.LabelSource),
			legend: "{{source}}",
			empty:  emptyNo5xx,
		}},
	})
	add(b, statetimeline.NewPanelBuilder().
		Mappings(valueText(map[string]dashboard.ValueMappingResult{
			"0": mapped("DOWN", red, 0),
			"1": mapped("UP", green, 1),
		})).
		Thresholds(thresholds(red, step{1, green})).
		ShowValue(common.VisibilityModeNever).
		Unit(unitNone), spec{
		title: "Is the app answering its sidecar?",
		desc:  "The sidecar's readiness probe of the app, by pod. DOWN stretches match 502s (upstream_unreachable): look for restarts or OOM kills of the app container.",
		w:     8, h: 11,
		targets: []target{{expr: minimum(sel(mn.UpstreamUp), labelJob, labelPod), legend: "{{job}} {{pod}}"}},
	})
	failing := grid("5xx", false).DataLinks(links(
		one(captureLink(o, "Captured requests of this route and code", cellRoute, cellCode)),
		traceLinks(o, "Traces of this route and code", cellRoute, "= "+cellCode),
	))
	valueColumn(failing, "5xx", unitShort)
	add(b, failing, spec{
		title: "Which routes answer 5xx, with which code?",
		desc:  "5xx answers over the time range by route and status code (500 app, 502 unreachable, 504 timeout). Click a row to open its captured requests or its traces.",
		w:     12, h: 9,
		targets: []target{{
			expr:    topk(15, sum(increase(sel(requests, re(mn.LabelCode, code5xx)), rangeWindow), mn.LabelRoute, mn.LabelCode)),
			instant: true,
			format:  prometheus.PromQueryFormatTable,
			empty:   emptyNo5xx,
		}},
	})
	add(b, stacked(unitReqps).DataLinks(links(
		one(captureLink(o, "Captured requests of this route", seriesRoute, "")),
		traceLinks(o, "Traces of 5xx of this route", seriesRoute, ">= 500"),
	)), spec{
		title: "Which routes fail with 5xx, and why?",
		desc:  "5xx answers per second of the 10 worst route and source pairs. Click a series to open the route's captured requests or its failing traces.",
		w:     12, h: 9,
		targets: []target{{
			expr:   topk(10, sum(rate(sel(serverErrors), rateWindow), mn.LabelRoute, mn.LabelSource)),
			legend: "{{route}} {{source}}",
			empty:  emptyNo5xx,
		}},
	})
	add(b, graph(unitSeconds), spec{
		title: "How long do failing requests take?",
		desc: "p50 and p99 duration of 5xx answers. Fast failures are errors or refused connections; " +
			"failures at a fixed duration are timeouts (the sidecar's or the app's). Dots are exemplars: click one for the trace of a failing request.",
		w: 12, h: 8,
		targets: []target{
			{expr: quantile(0.5, mn.HTTPRequestDuration, rateWindow, nil, re(mn.LabelCode, code5xx)), legend: "5xx p50", exemplar: true, empty: emptyNo5xx},
			{expr: quantile(0.99, mn.HTTPRequestDuration, rateWindow, nil, re(mn.LabelCode, code5xx)), legend: "5xx p99", exemplar: true, empty: emptyNo5xx},
		},
	})
	add(b, graph(unitSeconds), spec{
		title: "Are failing requests slower than the others?",
		desc:  "p99 duration of 2xx, 4xx and 5xx answers side by side. 5xx far above 2xx: the app hangs before failing (timeouts); far below: it fails fast (exceptions, refused connections).",
		w:     12, h: 8,
		targets: []target{{
			expr:     topk(10, quantile(0.99, mn.HTTPRequestDuration, rateWindow, []string{mn.LabelCode})),
			legend:   "{{code}} p99",
			exemplar: true,
		}},
	})

	b.row("Sidecar and captures")
	add(b, graph(unitOpsPerS), spec{
		title: "Are failing requests being captured?",
		desc:  "Captures stored per second by status code, and captures dropped by reason (queue_full, rate_limited, store_error, evicted). Drops mean some failing requests have no capture to open.",
		w:     12, h: 8,
		targets: []target{
			{expr: sum(rate(sel(mn.CapturesTotal), rateWindow), mn.LabelCode), legend: "captured {{code}}", empty: emptyNoCaptures},
			{expr: sum(rate(sel(mn.CapturesDroppedTotal), rateWindow), mn.LabelReason), legend: "dropped {{reason}}", empty: emptyNoDrops},
		},
	})
	add(b, graph(unitBytes), spec{
		title: "How full is the capture store?",
		desc:  "Bytes held by each sidecar's capture store. At its bound (--capture-max-bytes) the oldest captures are evicted.",
		w:     6, h: 8,
		targets: []target{{expr: sum(sel(mn.CaptureStoreBytes), labelJob, labelPod), legend: "{{job}} {{pod}}"}},
	})
	add(b, graph(unitOpsPerS), spec{
		title: "Are routes past the cap?",
		desc: "Requests per second whose route was replaced by __other__ because the sidecar's route cap was reached. " +
			"Above zero, some routes are hidden in __other__: raise the cap or declare the routes (--routes).",
		w: 6, h: 8,
		targets: []target{{expr: sum(rate(sel(mn.RoutesOverflowTotal), rateWindow)), legend: "over the cap", empty: emptyNoRouteCap}},
	})
	add(b, graph(unitOpsPerS), spec{
		title: "Are TLS handshakes failing?",
		desc:  "Failed TLS handshakes per second by reason, when the sidecar terminates TLS: clients with old protocols, wrong certificates, scanners.",
		w:     8, h: 7,
		targets: []target{{expr: sum(rate(sel(mn.TLSHandshakeErrorsTotal), rateWindow), mn.LabelReason), legend: "{{reason}}", empty: emptyNoTLS}},
	})
	add(b, single(unitDuration).
		Thresholds(thresholds(red, step{7 * 86400, orange}, step{14 * 86400, green})).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone), spec{
		title: "When does the serving certificate expire?",
		desc:  "Time left before the earliest expiring certificate of the selected sidecars. Orange under 14 days, red under 7. The sidecar re-reads the files when they change.",
		w:     8, h: 7,
		targets: []target{{expr: minimum(sel(mn.TLSCertExpiry)) + " - time()", legend: "expires in", empty: emptyNoTLS}},
	})
	versions := grid("", false)
	valueColumn(versions, "sidecars", unitShort)
	add(b, versions, spec{
		title: "Which faultline versions are running?",
		desc:  "Number of sidecars by version. Two versions side by side is a rollout in progress.",
		w:     8, h: 7,
		targets: []target{{
			expr:    aggr("count", sel(mn.BuildInfo), []string{mn.LabelVersion, mn.LabelRevision, mn.LabelGoVersion}),
			instant: true,
			format:  prometheus.PromQueryFormatTable,
		}},
	})
	return b
}
