package alerts

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// Alert names of the alerts about the sidecar and the app behind it.
const (
	AlertUpstreamUnreachable = "FaultlineUpstreamUnreachable"
	AlertSidecarDown         = "FaultlineSidecarDown"
	AlertSidecarAbsent       = "FaultlineSidecarAbsent"
	AlertCapturesDropped     = "FaultlineCapturesDropped"
	AlertTLSCertificate      = "FaultlineTLSCertificateExpiry"
)

// metricUp is the series Prometheus writes for every scrape: 1 when the
// target answered. The sidecar does not export it, Prometheus does.
const metricUp = "up"

const (
	// upstreamUnreachableRatio is the share of requests failing to connect
	// to the app that pages.
	upstreamUnreachableRatio = 0.05
	upstreamWindow           = "5m"
	// sidecarSeen is how far back a target must have exported faultline
	// metrics to count as a sidecar when it is down.
	sidecarSeen   = "1d"
	capturesDrops = "15m"
	// Certificate lifetimes left below which the TLS alert fires.
	certWarning  = 14 * 24 * time.Hour
	certCritical = 2 * 24 * time.Hour
)

func (b *builder) sidecarAlerts() []Rule {
	return []Rule{
		b.upstreamUnreachable(),
		b.sidecarDown(),
		b.sidecarAbsent(),
		b.capturesDropped(),
		b.tlsCertificate(SeverityWarning, certWarning),
		b.tlsCertificate(SeverityCritical, certCritical),
	}
}

func (b *builder) upstreamUnreachable() Rule {
	unreachable := b.sel(metricnames.ServerErrorsTotal, eq(metricnames.LabelSource, metricnames.SourceUpstreamUnreachable))
	expr := lines(
		"(",
		"  (",
		indent(sumRate(instanceLabels, unreachable, upstreamWindow), 4),
		"    /",
		indent(sumRate(instanceLabels, b.sel(metricnames.HTTPRequestsTotal), upstreamWindow), 4),
		"  ) > "+num(upstreamUnreachableRatio),
		"  and",
		indent(b.traffic(instanceLabels, upstreamWindow), 2),
		")",
		"or",
		"max "+by(instanceLabels)+" ("+b.sel(metricnames.UpstreamUp)+") == 0",
	)
	description := fmt.Sprintf(
		"{{ if gt $value 0.0 }}{{ $value | humanizePercentage }} of requests through the sidecar on %s (%s) failed over the last %s because it could not connect to the app (502, %s=%q).{{ else }}"+
			"The sidecar on %s (%s) reports %s = 0: its readiness probe cannot reach the app.{{ end }} "+
			"The app process is down or restarting, listens on another address than --upstream, or refuses connections.",
		tmplWhere, tmplService, minutes(upstreamWindow), metricnames.LabelSource, metricnames.SourceUpstreamUnreachable,
		tmplWhere, tmplService, metricnames.UpstreamUp)
	return b.alert(alertSpec{
		name:        AlertUpstreamUnreachable,
		severity:    SeverityCritical,
		expr:        expr,
		wait:        2 * time.Minute,
		summary:     "faultline cannot reach the app on " + tmplWhere,
		description: description,
		dashboard:   DashboardTroubleshooting,
	})
}

func (b *builder) sidecarDown() Rule {
	expr := lines(
		b.sel(metricUp)+" == 0",
		"and "+on([]string{labelJob, labelInstance}),
		"max_over_time("+b.sel(metricnames.BuildInfo)+"["+sidecarSeen+"])",
	)
	return b.alert(alertSpec{
		name:     AlertSidecarDown,
		severity: SeverityCritical,
		expr:     expr,
		wait:     5 * time.Minute,
		summary:  "faultline sidecar on " + tmplWhere + " is down",
		description: fmt.Sprintf(
			"Prometheus has failed to scrape the faultline sidecar at {{ $labels.instance }} (%s) for 5 minutes (up = {{ $value }}); it exported faultline metrics within the last day. "+
				"The sidecar is in the request path: while it is down, requests through it fail and the other faultline alerts cannot see them.",
			tmplService),
		dashboard: DashboardTroubleshooting,
	})
}

func (b *builder) sidecarAbsent() Rule {
	selector := b.sel(metricnames.BuildInfo)
	scope := ""
	if len(b.r.matchers) > 0 {
		scope = " matching {" + strings.Join(b.r.matchers, ", ") + "}"
	}
	return b.alert(alertSpec{
		name:     AlertSidecarAbsent,
		severity: SeverityWarning,
		expr:     "absent(" + selector + ")",
		wait:     15 * time.Minute,
		summary:  "No faultline sidecar" + scope + " has been scraped for 15 minutes",
		description: fmt.Sprintf(
			"Prometheus has had no %s series%s for 15 minutes: no faultline sidecar is discovered and up. "+
				"Either none is deployed, the scrape configuration lost them, or all are down. Until one is scraped, every other faultline alert is blind.",
			metricnames.BuildInfo, scope),
		dashboard: DashboardTroubleshooting,
	})
}

func (b *builder) capturesDropped() Rule {
	// Evicting the oldest captures is how the bounded store works, not a
	// loss worth an alert.
	dropped := b.sel(metricnames.CapturesDroppedTotal, neq(metricnames.LabelReason, metricnames.DropEvicted))
	labels := slices.Concat(instanceLabels, []string{metricnames.LabelReason})
	description := fmt.Sprintf(
		"{{ $value | humanize }} captures of failing requests were not stored over the last %s by the sidecar on %s (%s), reason {{ $labels.reason }}. "+
			"{{ if eq $labels.reason %q }}The capture queue is full: failures arrive faster than the store writes them.{{ else if eq $labels.reason %q }}Failures arrive faster than the capture rate limit allows.{{ else if eq $labels.reason %q }}The capture store fails to write: check the disk and the sidecar's log.{{ end }} "+
			"Metrics and alerts are unaffected; only the payloads of some failing requests are missing.",
		minutes(capturesDrops), tmplWhere, tmplService, metricnames.DropQueueFull, metricnames.DropRateLimited, metricnames.DropStoreError)
	return b.alert(alertSpec{
		name:        AlertCapturesDropped,
		severity:    SeverityInfo,
		expr:        "sum " + by(labels) + " (increase(" + dropped + "[" + capturesDrops + "])) > 0",
		wait:        15 * time.Minute,
		summary:     "faultline on " + tmplWhere + " drops captures ({{ $labels.reason }})",
		description: description,
		dashboard:   DashboardTroubleshooting,
	})
}

func (b *builder) tlsCertificate(severity string, below time.Duration) Rule {
	days := int(below / (24 * time.Hour))
	// A zero expiry would mean no certificate; it is not one expiring.
	expr := fmt.Sprintf("(%s > 0) - time() < %d * 86400", b.sel(metricnames.TLSCertExpiry), days)
	return b.alert(alertSpec{
		name:     AlertTLSCertificate,
		severity: severity,
		expr:     expr,
		wait:     10 * time.Minute,
		summary:  "The TLS certificate of faultline on " + tmplWhere + " expires in {{ $value | humanizeDuration }}",
		description: fmt.Sprintf(
			"The certificate that the sidecar on %s (%s) serves expires in {{ $value | humanizeDuration }} (%s below %d days). "+
				"Renew it: the sidecar re-reads --tls-cert and --tls-key when the files change, without a restart.",
			tmplWhere, tmplService, severity, days),
		dashboard: DashboardTroubleshooting,
	})
}
