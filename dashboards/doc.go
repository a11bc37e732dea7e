// Package dashboards builds faultline's Grafana dashboards with the Grafana
// Foundation SDK, from the metric names of sidecar/metricnames and the
// recording rules of `faultline alerts`. `faultline dashboards` is its
// command line.
//
// Build returns three boards; their UIDs never change:
//
//   - UIDOverview (faultline-overview): rate, errors and duration (RED) by
//     route — request rate, 5xx and 4xx shares, p50/p90/p99 from the classic
//     buckets with exemplars, a latency heatmap with exemplars, body sizes,
//     requests in flight, whether the app answers its sidecars.
//   - UIDTroubleshooting (faultline-troubleshooting): one section each for
//     401, 422 and 5xx, opening with what the code usually means and what to
//     check first; 401s by credentials absent/present, 422s by field location
//     and error type, 5xx by source (app, upstream_unreachable,
//     upstream_timeout, sidecar); the failing routes, each linked to its
//     captured requests (<capture URL>/?route=…&code=…) and, with a trace
//     data source, to its traces; the health of the sidecar and its captures.
//   - UIDSLO (faultline-slo): objective, compliance, error budget left and
//     burn rates of the availability and latency SLIs, read from the
//     recording rules metricnames.SLOObjective, SLOErrorRatio,
//     SLORouteObjective and SLORouteErrorRatio; and the routes spending the
//     budget, from the raw metrics.
//
// Every board has the variables datasource, namespace, job, pod and route
// (multi-value, All = ".*"), and every selector of a faultline metric is
// filtered by those of them that apply: namespace=~"$namespace",
// job=~"$job", pod=~"$pod", and route=~"$route" when the metric has a route
// label. The recording rules are filtered by the labels they keep
// (metricnames.RecordingLabels, and route for the routes' rules).
//
// Board.JSON is the dashboard model Grafana reads; Render lays the boards
// out as JSON files, ConfigMaps for Grafana's dashboard sidecar, or a file
// provisioning provider with its JSON files; WriteFiles writes them.
//
// # Queries for end-to-end tests
//
// Queries lists every query of a board with the variables substituted:
//
//	for _, q := range dashboards.Queries(board, dashboards.Values{Job: "faultline", RateInterval: 30 * time.Second}) {
//		// run q.Expr as an instant (q.Instant) or range query
//	}
//
// A query whose EmptyWhenHealthy is set may legitimately return no series
// while the sidecar serves healthy traffic (only 2xx, no TLS), and says
// why; the others must return data. With healthy traffic these are empty:
//
//   - the panels on 5xx only: "Which routes fail with 5xx?" (overview);
//     "Where do the 5xx come from?", "Which routes answer 5xx, with which
//     code?", "Which routes fail with 5xx, and why?" and "How long do
//     failing requests take?" (troubleshooting); "Which routes fail with
//     5xx, as a share of all requests?" (SLO);
//   - "Which error codes are we answering?" and "Which routes fail most?";
//   - the 401 and 422 sections (but not their text panels, which have no
//     query);
//   - "Are failing requests being captured?" (nothing to capture, nothing
//     dropped);
//   - "Are routes past the cap?" when the sidecar keeps no capped route
//     table;
//   - "Are TLS handshakes failing?" and "When does the serving certificate
//     expire?" without --tls-cert;
//   - "Which routes answer slower than …?" (SLO) while no request is slower
//     than the latency threshold;
//   - the two tables of the routes with objectives of their own (SLO), when
//     the SLO file sets none.
//
// The queries whose RecordingRules is set need the rules of
// `faultline alerts` loaded into Prometheus; with them, they return data
// (an error ratio is 0, not empty, while nothing fails). testdata/queries.md
// lists every query with default values.
//
// # Prometheus
//
// The queries use only what Prometheus 2.42 (Debian 12) knows; the tests
// parse each with the Prometheus parser and, where promtool is installed,
// with `promtool check rules`. Quantiles and the latency SLI read the
// classic buckets: a Prometheus that ingests native histograms must keep
// them (scrape_classic_histograms). Bucket bounds are matched as both "1"
// and "1.0", since Prometheus 2.x keeps le as written and the sidecar
// serves OpenMetrics (for exemplars). Exemplar dots link to traces through
// the Prometheus data source's exemplarTraceIdDestinations (label
// trace_id); Prometheus needs --enable-feature=exemplar-storage.
package dashboards
