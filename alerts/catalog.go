package alerts

import (
	"fmt"

	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// runbookDoc is what a runbook says about one alert. Text is Markdown.
type runbookDoc struct {
	alert    string
	severity string
	// firesWhen says, in one sentence, what the expression tests.
	firesWhen string
	// dashboard is the UID of the dashboard to open first; routeVar says
	// whether the alert has a route label to set on it.
	dashboard string
	routeVar  bool
	// ratio is set for alerts on a ratio of requests, which the minimum
	// request rate guards.
	ratio   bool
	meaning string
	// checks are the first three things to look at, in order.
	checks []string
	causes []string
	// matchers are the amtool matchers of a well-scoped silence.
	matchers string
	// silence is what to know before silencing this alert.
	silence string
}

// captures is the command that lists captured failures of a route with
// code, as on-call types it.
func captures(code string) string {
	return "`faultline captures list --code " + code + " --route 'ROUTE'`"
}

// reachAdmin says how to reach a sidecar's capture API, which listens on
// the pod's loopback.
const reachAdmin = "Run it in the sidecar container (`kubectl -n NAMESPACE exec -it POD -c faultline -- ...`), " +
	"or locally after `kubectl -n NAMESPACE port-forward POD 9901`; ROUTE is the alert's route label, e.g. `/items/{item_id}`. " +
	"`faultline captures show ID` prints one capture in full (headers, body, trace id; secrets redacted), `faultline captures curl ID` a command that replays it."

func runbookDocs() []runbookDoc {
	budget := func(sli, bad string) runbookDoc {
		alert := AlertAvailabilityBudgetBurn
		if sli == metricnames.SLILatency {
			alert = AlertLatencyBudgetBurn
		}
		return runbookDoc{
			alert:    alert,
			severity: "critical (a page: 14.4× over 1h and 5m, 6× over 6h and 30m) or warning (a ticket: 3× over 1d and 2h, 1× over 3d and 6h)",
			firesWhen: fmt.Sprintf("the share of requests that %s, over both a long and a short window (the `long_window` and `short_window` labels), "+
				"exceeds the burn-rate factor times the error budget of the %s objective, and the service serves at least the minimum request rate.", bad, sli),
			dashboard: DashboardSLO,
			ratio:     true,
			matchers:  "alertname=" + alert + " namespace=NAMESPACE job=JOB long_window=LONG_WINDOW",
		}
	}

	avail := budget(metricnames.SLIAvailability, "failed (5xx by default; the SLO file's `error_codes`)")
	avail.meaning = "Users get errors often enough that, at this rate, the service spends its 30-day error budget early: " +
		"in about 2 days at 14.4×, 5 days at 6×, 10 days at 3×, and by the end of the window at 1×. " +
		"The long window shows the damage is significant, the short window that it is still going on, so the alert resolves soon after the errors stop. " +
		"Without a `route` label the objective covers every route that has no objective of its own; with one, it is that route's objective."
	avail.checks = []string{
		"Open the SLO dashboard (link above) to see which windows burn, then the troubleshooting dashboard without a route: its errors-by-route panel shows where the failures are. " +
			"A `" + AlertRouteServerErrors + "` alert fired at the same time names the route.",
		"List the captured failures of that route: " + captures("500") + " (and `--code 502`, `--code 504`). " + reachAdmin,
		"Split the errors by source (`" + metricnames.ServerErrorsTotal + "` by `source` on the troubleshooting dashboard): `app` means the app answered 5xx, " +
			"`upstream_unreachable` that it could not be reached (see " + AlertUpstreamUnreachable + "), `upstream_timeout` that it answered too late, `sidecar` that faultline failed.",
	}
	avail.causes = []string{
		"A deploy of the app: compare the start of the burn with the rollout; roll back first, investigate second.",
		"500 from the app: something behind the app fails (database, cache, a downstream API, a full disk) and the app lets the exception through. The capture's trace id leads to the traceback in the app's logs and traces.",
		"502: the app is down, restarting or out of workers (see the " + AlertUpstreamUnreachable + " runbook).",
		"504: the app is too slow for the sidecar's timeout; slow work over a second belongs on a task queue, not in the request.",
	}
	avail.silence = "The alert measures what users see; silencing it does not stop the budget from burning. Silence only while an incident is handled, for the expected duration of the fix, " +
		"and prefer silencing one window pair (`long_window`) over the whole alert. A page that is not worth waking up for means the objective is wrong: change the SLO file instead."

	lat := budget(metricnames.SLILatency, "took longer than the latency threshold (requests answered with an error code are left out)")
	lat.meaning = "Too many requests are slower than the latency threshold of the SLO (500ms by default) for the objective to hold over 30 days. " +
		"The SLI is read from the classic buckets of `" + metricnames.HTTPRequestDuration + "`: if Prometheus ingests native histograms, it must keep the classic ones too " +
		"(`scrape_classic_histograms: true` in 2.42), or the SLI has no data."
	lat.checks = []string{
		"Open the SLO dashboard (link above), then the overview dashboard's latency by route to find the slow routes; without a `route` label the objective covers every route that has no objective of its own.",
		"Open a slow request's trace: the latency panels carry exemplars with trace ids (Prometheus needs `--enable-feature=exemplar-storage`). The trace shows whether time goes to the app, a query or a downstream call.",
		"Check saturation: `" + metricnames.HTTPRequestsInFlight + "` against the number of gunicorn workers, and the app container's CPU throttling. " +
			"Failed requests of the route, if any: " + captures("504") + ". " + reachAdmin,
	}
	lat.causes = []string{
		"Slow work in the request: anything over a second (reports, exports, sending mail, calling a slow API) belongs on a task queue (Celery, RQ, arq), answering 202 and a URL to poll.",
		"Blocking calls in `async def` handlers, which stall the event loop of a uvicorn worker and every request on it; use `def` handlers (run in a thread pool) or async clients.",
		"Too few workers for the traffic, or CPU limits that throttle them.",
		"A slow database query (a missing index, a lock) or a slow dependency behind the app.",
	}
	lat.silence = "As for availability: the alert measures what users see. If a route is slow by design, give it an objective of its own in the SLO file (`routes:`) instead of silencing the service."

	return []runbookDoc{
		avail,
		lat,
		{
			alert:     AlertRouteServerErrors,
			severity:  SeverityWarning,
			firesWhen: fmt.Sprintf("more than %s of a route's requests are answered with 5xx over %s, for 5 minutes, while the route serves at least the minimum request rate.", percent(serverErrorRatio), minutes(serverErrorWindow)),
			dashboard: DashboardTroubleshooting,
			routeVar:  true,
			ratio:     true,
			meaning: "One route fails far more than usual. It is a warning, not a page: the availability burn-rate alert pages when users are hurt enough; this one tells which route. " +
				"A 5xx is the app's or the path to it: the `source` label of `" + metricnames.ServerErrorsTotal + "` says which.",
			checks: []string{
				"Open the troubleshooting dashboard for the route (link above): the 5xx panel splits errors by source (`app`, `upstream_timeout`, `upstream_unreachable`, `sidecar`).",
				"List the captured failures: " + captures("500") + ". " + reachAdmin,
				"Follow the capture's trace id into the app's logs or traces to the exception, and compare the start of the errors with the last deploy.",
			},
			causes: []string{
				"500: something behind the app fails — a database, a cache, a downstream API, a full disk — and the app lets the exception through.",
				"A bug in a new release of the app, often on a path the tests do not cover (a null field, a new enum value).",
				"504 (`upstream_timeout`): the route does slow work; over a second belongs on a task queue.",
				"502 (`upstream_unreachable`): the app is restarting or out of workers.",
			},
			matchers: "alertname=" + AlertRouteServerErrors + " namespace=NAMESPACE job=JOB 'route=\"ROUTE\"'",
			silence:  "Scope the silence to the route. A known, accepted failure (a deprecated endpoint) is better fixed in the app or removed than silenced for good.",
		},
		{
			alert:    AlertRouteAuthFailures,
			severity: SeverityWarning,
			firesWhen: fmt.Sprintf("the share of a route's requests refused with 401 over %s, per `credentials` value, is more than %d times its share over the last day and above %s, for 10 minutes, at the minimum request rate or more.",
				minutes(authWindow), authBaselineFactor, percent(authMinRatio)),
			dashboard: DashboardTroubleshooting,
			routeVar:  true,
			ratio:     true,
			meaning: "Clients are refused far more than usual. The `credentials` label says which kind: `present` means the requests carried credentials that the app rejected " +
				"(expired tokens, or a broken auth service); `absent` means they carried none (a client or a proxy dropped them).",
			checks: []string{
				"Open the troubleshooting dashboard for the route (link above): the 401 panel splits by credentials and shows when it started.",
				"List the refused requests: " + captures("401") + ". In a capture, the Authorization header is redacted but present or absent; " +
					"the response body and `WWW-Authenticate` header say why (`Token expired`, `Could not validate credentials`). " + reachAdmin,
				"Check the auth service or identity provider the app validates tokens against (its health, a recent key rotation), and the clocks of the app's nodes.",
			},
			causes: []string{
				"`credentials=present`: tokens expired and a client does not refresh them; a rotated signing key that the app has not fetched (a cached JWKS); a broken or unreachable auth service; clock skew failing `exp`/`nbf` checks.",
				"`credentials=absent`: a client release stopped sending the token or API key; an ingress or proxy strips the Authorization header; a new client or a scanner calls without credentials.",
			},
			matchers: "alertname=" + AlertRouteAuthFailures + " namespace=NAMESPACE job=JOB 'route=\"ROUTE\"' credentials=CREDENTIALS",
			silence: "Scope the silence to the route and the credentials value. A scanner hitting the API without credentials is a reason to silence `credentials=absent` for a few hours, " +
				"never `present`, which can hide an outage of the auth service.",
		},
		{
			alert:     AlertRouteValidationErrors,
			severity:  SeverityWarning,
			firesWhen: fmt.Sprintf("more than %s of a route's requests are answered with 422 over %s, for 10 minutes, at the minimum request rate or more.", percent(validationErrorRatio), minutes(validationWindow)),
			dashboard: DashboardTroubleshooting,
			routeVar:  true,
			ratio:     true,
			meaning: "The app rejects many requests of the route as invalid: in FastAPI a 422 is a pydantic validation error, so a client and the app's model no longer agree. " +
				"The alert's description names the field rejected most often.",
			checks: []string{
				"Open the troubleshooting dashboard for the route (link above): validation errors by field (`location`, e.g. `body.price`) and type (e.g. `missing`) show what is rejected.",
				"List the rejected requests: " + captures("422") + "; `faultline captures show ID` shows the request body next to pydantic's `detail` list (`loc`, `msg`, `type`). " + reachAdmin,
				"Find what changed: a deploy of the app that touched the route's request model, or a release of the client that calls it (the User-Agent of the captures).",
			},
			causes: []string{
				"The pydantic model changed: a new required field (`missing`), a stricter type (`int_parsing`, `string_type`), `extra=\"forbid\"` (`extra_forbidden`), a renamed field or a narrower enum.",
				"A client changed: it sends a new payload shape, another content type (form instead of JSON), or nulls where the model expects values.",
				"Fix by making the new field optional with a default, accepting both shapes for a while, or versioning the route; then upgrade the clients.",
			},
			matchers: "alertname=" + AlertRouteValidationErrors + " namespace=NAMESPACE job=JOB 'route=\"ROUTE\"'",
			silence:  "Scope the silence to the route, for the time the client or the model takes to be fixed. A client that always sends invalid data deserves a ticket to its owner, not a permanent silence.",
		},
		{
			alert:    AlertUpstreamUnreachable,
			severity: SeverityCritical,
			firesWhen: fmt.Sprintf("more than %s of a sidecar's requests fail over %s because the sidecar cannot connect to the app (`source=\"%s\"`), at the minimum request rate or more, "+
				"or `%s` is 0 (the readiness probe fails), for 2 minutes.", percent(upstreamUnreachableRatio), minutes(upstreamWindow), metricnames.SourceUpstreamUnreachable, metricnames.UpstreamUp),
			dashboard: DashboardTroubleshooting,
			ratio:     true,
			meaning:   "The app behind one sidecar does not accept connections: requests through that pod fail with 502. The sidecar is up; the app is not.",
			checks: []string{
				"Look at the pod: `kubectl -n NAMESPACE get pod POD` and `kubectl -n NAMESPACE describe pod POD` (restarts, `OOMKilled`, failing probes), then the app's logs: `kubectl -n NAMESPACE logs POD -c APP --previous`.",
				"Check that the app listens where `--upstream` points (`http://127.0.0.1:8000` by default): gunicorn's `--bind`, a changed port, a Unix socket.",
				"Open the troubleshooting dashboard (link above), upstream failures panel, and list the failed requests: " + captures("502") + ". " + reachAdmin,
			},
			causes: []string{
				"The app crashed, was OOM-killed, or is restarting (a start-up slower than its probes).",
				"All gunicorn workers are busy or were killed by `--timeout`, and new connections are refused or reset.",
				"On shutdown the app exited before the sidecar: give the app container a `preStop` sleep so the sidecar stops taking requests first.",
				"The app binds to another address or port than `--upstream`.",
			},
			matchers: "alertname=" + AlertUpstreamUnreachable + " namespace=NAMESPACE pod=POD",
			silence:  "Silence one pod at most, for a planned maintenance of its app; never the alert as a whole, which would hide an outage.",
		},
		{
			alert:    AlertSidecarDown,
			severity: SeverityCritical,
			firesWhen: fmt.Sprintf("a target that exported `%s` within the last %s has `up == 0` for 5 minutes.",
				metricnames.BuildInfo, minutes(sidecarSeen)),
			dashboard: DashboardTroubleshooting,
			meaning: "Prometheus cannot scrape a faultline sidecar. The sidecar sits in the request path, so requests through it probably fail too, " +
				"and none of the other faultline alerts can see them.",
			checks: []string{
				"Look at the sidecar container: `kubectl -n NAMESPACE get pod POD`, `kubectl -n NAMESPACE logs POD -c faultline` (a start-up error is one line naming the setting).",
				"Ask it directly: `kubectl -n NAMESPACE port-forward POD 9464`, then `curl -s localhost:9464/healthz` and `curl -s localhost:9464/metrics | head`.",
				"Read the scrape error on Prometheus' Status → Targets page (connection refused, timeout, TLS, 404 on the metrics path).",
			},
			causes: []string{
				"The sidecar crashed or was OOM-killed, or refused to start on bad configuration.",
				"`--metrics-listen` changed and the scrape configuration still points at the old port.",
				"A NetworkPolicy blocks Prometheus from the metrics port; the node is down.",
			},
			matchers: "alertname=" + AlertSidecarDown + " job=JOB instance=INSTANCE",
			silence:  "Silence one instance, for a planned maintenance; a pod that is gone for good leaves the alert by itself once Prometheus stops discovering it.",
		},
		{
			alert:     AlertSidecarAbsent,
			severity:  SeverityWarning,
			firesWhen: fmt.Sprintf("no `%s` series (restricted by the `--selector` the rules were generated with) exists for 15 minutes.", metricnames.BuildInfo),
			dashboard: DashboardTroubleshooting,
			meaning: "Prometheus scrapes no faultline sidecar at all. Either none is deployed, the scrape configuration does not find them, or all are down; " +
				"in each case every other faultline alert is blind.",
			checks: []string{
				"Look for the job on Prometheus' Status → Targets page; if it is missing, check that the ServiceMonitor or PodMonitor (or `scrape_configs`) selects the pods and the metrics port.",
				"Check that the rules' selector matches the real labels: compare the `--selector` given to `faultline alerts` with the `job` and `namespace` of a sidecar's series.",
				"Check that the sidecar is deployed: `kubectl -n NAMESPACE get pods -o jsonpath='{..containers[*].name}'` lists a `faultline` container (`faultline inject` adds it).",
			},
			causes: []string{
				"The workload was removed or scaled to zero.",
				"Relabelling renamed the job, or the monitor's label selector no longer matches the pods.",
				"Every sidecar is down (then " + AlertSidecarDown + " fires as well).",
			},
			matchers: "alertname=" + AlertSidecarAbsent,
			silence:  "Silence it while a service is intentionally down; if faultline is gone for good, remove its rules instead.",
		},
		{
			alert:    AlertCapturesDropped,
			severity: SeverityInfo,
			firesWhen: fmt.Sprintf("a sidecar did not store some captures of failing requests over %s (reasons other than `%s`, the normal eviction of the oldest), for 15 minutes.",
				minutes(capturesDrops), metricnames.DropEvicted),
			dashboard: DashboardTroubleshooting,
			meaning:   "Some failing requests have no capture. Metrics, traces and the other alerts are complete; only payloads are missing when you look for them.",
			checks: []string{
				"Read the `reason` label: `" + metricnames.DropQueueFull + "`, `" + metricnames.DropRateLimited + "` or `" + metricnames.DropStoreError + "`.",
				"Compare `" + metricnames.CaptureStoreBytes + "` with `--capture-max-bytes`, and the free space of the volume under `--data-dir`.",
				"Read the sidecar's log: `kubectl -n NAMESPACE logs POD -c faultline` (store errors are logged with their cause).",
			},
			causes: []string{
				"`" + metricnames.DropQueueFull + "`: a storm of failures (other alerts fire too) or a slow disk.",
				"`" + metricnames.DropRateLimited + "`: the capture rate limit doing its job during a storm.",
				"`" + metricnames.DropStoreError + "`: a full or read-only volume, or a damaged SQLite store.",
			},
			matchers: "alertname=" + AlertCapturesDropped + " namespace=NAMESPACE pod=POD",
			silence:  "Safe to silence for the length of an incident that causes the storm; a lasting `" + metricnames.DropStoreError + "` needs the volume fixed.",
		},
		{
			alert:    AlertTLSCertificate,
			severity: fmt.Sprintf("warning (expires within %d days) or critical (within %d days)", int(certWarning.Hours()/24), int(certCritical.Hours()/24)),
			firesWhen: fmt.Sprintf("`%s` of a sidecar is less than %d days (warning) or %d days (critical) away, for 10 minutes.",
				metricnames.TLSCertExpiry, int(certWarning.Hours()/24), int(certCritical.Hours()/24)),
			dashboard: DashboardTroubleshooting,
			meaning:   "The certificate the sidecar serves HTTPS with is about to expire; after that, clients refuse to connect.",
			checks: []string{
				"Read the certificate from the outside: `openssl s_client -connect HOST:PORT -servername HOST </dev/null | openssl x509 -noout -subject -enddate`.",
				"If cert-manager issues it: `kubectl -n NAMESPACE get certificate` and `kubectl -n NAMESPACE describe certificate NAME` (a failing ACME challenge, an issuer error).",
				"Check that the renewed secret reaches the pod: a secret mounted with `subPath` is never updated in a running pod.",
			},
			causes: []string{
				"Renewal fails (ACME challenge, issuer credentials, rate limits).",
				"A manually installed certificate nobody renewed.",
				"The secret was renewed but the pod mounts it with `subPath`; the sidecar re-reads `--tls-cert` and `--tls-key` when the files change, which a `subPath` mount never does.",
			},
			matchers: "alertname=" + AlertTLSCertificate + " namespace=NAMESPACE pod=POD",
			silence:  "Silence the warning for a day or two while a renewal is under way; never the critical one, which means clients are about to fail.",
		},
	}
}
