package alerts

import (
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// Alert names of the per-route symptom alerts.
const (
	AlertRouteServerErrors     = "FaultlineRouteServerErrors"
	AlertRouteAuthFailures     = "FaultlineRouteAuthFailures"
	AlertRouteValidationErrors = "FaultlineRouteValidationErrors"
)

// Thresholds of the symptom alerts.
const (
	// serverErrorRatio is the share of 5xx on one route that warns. The
	// burn-rate alerts page; this one names the route.
	serverErrorRatio = 0.05
	// authBaselineFactor: the 401 share of the last 10 minutes must exceed
	// this many times its share over the last day ...
	authBaselineFactor = 3
	// authMinRatio ... and this share, so that a route that never sees a
	// 401 does not warn on the first few.
	authMinRatio = 0.05
	// validationErrorRatio is the share of 422 on one route that warns.
	validationErrorRatio = 0.05
)

// Windows of the symptom alerts.
const (
	serverErrorWindow = "5m"
	authWindow        = "10m"
	authBaseline      = "1d"
	validationWindow  = "10m"
)

func (b *builder) routeAlerts() []Rule {
	return []Rule{b.serverErrors(), b.authFailures(), b.validationErrors()}
}

// traffic is the request rate by labels over window, compared with the
// minimum request rate: ratio alerts add it with "and", so that no traffic
// and too little traffic are silent.
func (b *builder) traffic(labels []string, window string, scope ...string) string {
	return sumRate(labels, b.sel(metricnames.HTTPRequestsTotal, scope...), window) + " > " + num(b.r.minRate)
}

// codeRatio is the share of requests per route whose code label matches
// codeMatcher.
func (b *builder) codeRatio(codeMatcher, window string) string {
	return lines(
		"(",
		indent(sumRate(routeLabels, b.sel(metricnames.HTTPRequestsTotal, codeMatcher), window), 2),
		"  /",
		indent(sumRate(routeLabels, b.sel(metricnames.HTTPRequestsTotal), window), 2),
		")",
	)
}

func (b *builder) serverErrors() Rule {
	return b.alert(alertSpec{
		name:     AlertRouteServerErrors,
		severity: SeverityWarning,
		expr: lines(
			b.codeRatio(re(metricnames.LabelCode, "5.."), serverErrorWindow)+" > "+num(serverErrorRatio),
			"and",
			b.traffic(routeLabels, serverErrorWindow),
		),
		wait:    5 * time.Minute,
		summary: "{{ $value | humanizePercentage }} of requests to {{ $labels.route }} fail with 5xx",
		description: fmt.Sprintf(
			"{{ $value | humanizePercentage }} of requests to %s were answered with a 5xx status over the last %s (threshold %s). "+
				"The troubleshooting dashboard splits them by %s: %s (the app answered 5xx), %s, %s or %s.",
			tmplRoute, minutes(serverErrorWindow), percent(serverErrorRatio), metricnames.LabelSource,
			metricnames.SourceApp, metricnames.SourceUpstreamTimeout, metricnames.SourceUpstreamUnreachable, metricnames.SourceSidecar),
		dashboard: DashboardTroubleshooting,
		routeVar:  true,
	})
}

func (b *builder) authFailures() Rule {
	byCreds := slices.Concat(routeLabels, []string{metricnames.LabelCredentials})
	ratio := func(window string) string {
		return lines(
			"(",
			indent(sumRate(byCreds, b.sel(metricnames.AuthFailuresTotal), window), 2),
			"  / "+on(routeLabels)+" group_left",
			indent(sumRate(routeLabels, b.sel(metricnames.HTTPRequestsTotal), window), 2),
			")",
		)
	}
	expr := lines(
		"(",
		indent(ratio(authWindow), 2),
		"  > "+num(authBaselineFactor)+" *",
		indent(ratio(authBaseline), 2),
		") > "+num(authMinRatio),
		"and "+on(routeLabels),
		b.traffic(routeLabels, authWindow),
	)
	description := fmt.Sprintf(
		"{{ $value | humanizePercentage }} of requests to %s were refused with 401 over the last %s, more than %d times their share over the last day. "+
			`{{ if eq $labels.credentials %q }}These requests carried no credentials (credentials=%s): a client stopped sending its token or API key, or a proxy in front strips the Authorization header.`+
			`{{ else }}These requests carried credentials that were rejected (credentials=%s): expired or revoked tokens, a rotated signing key, or a broken auth service.{{ end }}`,
		tmplRoute, minutes(authWindow), authBaselineFactor,
		metricnames.CredentialsAbsent, metricnames.CredentialsAbsent, metricnames.CredentialsPresent)
	return b.alert(alertSpec{
		name:        AlertRouteAuthFailures,
		severity:    SeverityWarning,
		expr:        expr,
		wait:        10 * time.Minute,
		summary:     "401s on {{ $labels.route }} are well above their usual share (credentials {{ $labels.credentials }})",
		description: description,
		dashboard:   DashboardTroubleshooting,
		routeVar:    true,
	})
}

func (b *builder) validationErrors() Rule {
	// The description names the field rejected most often, read at the
	// time the alert fires, so that on-call starts from it.
	topField := fmt.Sprintf(
		"topk(1, sum by (%s, %s) (rate(%s{%s=%%q, %s=%%q, %s=%%q}[%s])))",
		metricnames.LabelLocation, metricnames.LabelType, metricnames.ValidationErrorsTotal,
		labelNamespace, labelJob, metricnames.LabelRoute, validationWindow)
	description := fmt.Sprintf(
		"{{ $value | humanizePercentage }} of requests to %s were rejected with 422 over the last %s (threshold %s): "+
			"a client started sending payloads that the app's model rejects, or the model changed under its clients. "+
			"{{ with query (printf %s $labels.namespace $labels.job $labels.route) }}"+
			"The field rejected most often is {{ . | first | label %q }} ({{ . | first | label %q }}).{{ end }}",
		tmplRoute, minutes(validationWindow), percent(validationErrorRatio),
		quoteTemplate(topField), metricnames.LabelLocation, metricnames.LabelType)
	return b.alert(alertSpec{
		name:     AlertRouteValidationErrors,
		severity: SeverityWarning,
		expr: lines(
			b.codeRatio(eq(metricnames.LabelCode, "422"), validationWindow)+" > "+num(validationErrorRatio),
			"and",
			b.traffic(routeLabels, validationWindow),
		),
		wait:        10 * time.Minute,
		summary:     "{{ $value | humanizePercentage }} of requests to {{ $labels.route }} are rejected with 422",
		description: description,
		dashboard:   DashboardTroubleshooting,
		routeVar:    true,
	})
}

// minutes turns a window into words for people: "5m" is "5 minutes",
// "30d" is "30 days".
func minutes(window string) string {
	d, err := model.ParseDuration(window)
	switch {
	case err != nil:
		return window
	case time.Duration(d)%(24*time.Hour) == 0:
		return plural(int(time.Duration(d)/(24*time.Hour)), "day")
	case time.Duration(d)%time.Minute == 0:
		return plural(int(time.Duration(d)/time.Minute), "minute")
	}
	return window
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// quoteTemplate quotes s as a Go template string literal; with backquotes
// the PromQL inside keeps its double quotes readable.
func quoteTemplate(s string) string {
	return "`" + s + "`"
}
