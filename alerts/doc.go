// Package alerts generates faultline's Prometheus rules: recording rules for
// the SLIs, multiwindow multi-burn-rate alerts after the SRE workbook,
// symptom alerts per route and alerts about the sidecar itself, with a
// Markdown runbook per alert. `faultline alerts` is its command line.
//
// Every query is built from the names in sidecar/metricnames, every rule
// carries a severity label (critical, warning or info) and the annotations
// summary, description, runbook_url and dashboard_url, and the output loads
// in Prometheus 2.42: no group labels or query_offset, and only PromQL and
// template functions that 2.42 knows (Generate checks both).
//
// # SLO file
//
// The burn-rate alerts defend objectives over 30 days, set in YAML. Every
// key is optional; an empty file is the default below.
//
//	# Share of requests that must not fail, in percent.
//	availability:
//	  objective: 99.9        # default 99.9
//	  error_codes: [5xx]     # default [5xx]; classes (4xx) or codes (429)
//	# Share of requests answered within threshold, in percent. Requests
//	# answered with an error code count against availability only.
//	latency:
//	  objective: 99          # default 99
//	  threshold: 500ms       # default 500ms; one of the classic buckets:
//	                         # 1ms 2.5ms 5ms 10ms 25ms 50ms 100ms 250ms
//	                         # 500ms 1s 2.5s 5s 10s (a number is seconds)
//	# Ratio alerts stay silent below this many requests per second, so that
//	# 1 failure in 3 requests at night does not page.
//	min_request_rate: 0.1    # default 0.1
//	# Routes with objectives of their own. Unset keys are inherited from
//	# the service. A route with an availability (latency) objective counts
//	# only against it: the service objective covers the other routes.
//	routes:
//	  - route: /payments/{payment_id}
//	    availability:
//	      objective: 99.95
//	  - route: /reports/{report_id}
//	    latency:
//	      threshold: 2.5s
//
// This example is ExampleSLO (slo-example.yaml, printed by
// `faultline alerts --slo-example`); its rules are in
// testdata/golden/slo-example.rules.yaml.
//
// # Rules
//
// The recording rules hold the error ratio of each SLI over each of
// metricnames.SLOWindows, named by metricnames.SLOErrorRatio (service) and
// metricnames.SLORouteErrorRatio (routes with their own objective), by
// metricnames.RecordingLabels; the objectives are recorded as well
// (metricnames.SLOObjective), so that the SLO dashboard needs no SLO file.
// The latency SLI reads the classic buckets of the duration histogram: a
// Prometheus that ingests native histograms must keep the classic ones
// (scrape_classic_histograms: true in 2.42).
//
// # Why not rulefmt and monitoringv1
//
// RuleGroups and PrometheusRule have the fields and keys of Prometheus'
// rulefmt.RuleGroups and of prometheus-operator's monitoringv1.PrometheusRule.
// Importing those packages pulls in the PromQL engine, OpenTelemetry and
// Kubernetes' apimachinery, whose modules the repository's go.mod does not
// list yet. The upstream_test.go test (build tag upstream) checks that both
// outputs decode strictly into the upstream types and pass rulefmt's
// validation; `promtool check rules` checks them in the ordinary tests.
package alerts
