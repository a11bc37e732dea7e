package alerts

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
)

// Placeholders of the URL templates.
const (
	// AlertPlaceholder in a runbook URL template becomes the alert name.
	AlertPlaceholder = "{alert}"
	// UIDPlaceholder in a dashboard URL template becomes a dashboard UID.
	UIDPlaceholder = "{uid}"
)

// Defaults of Options.
const (
	DefaultRunbookURLTemplate   = "https://github.com/faultline-dev/faultline/blob/main/docs/runbooks/" + AlertPlaceholder + ".md"
	DefaultDashboardURLTemplate = "http://localhost:3000/d/" + UIDPlaceholder
)

// Dashboard UIDs of the dashboards that `faultline dashboards` writes.
const (
	DashboardOverview        = "faultline-overview"
	DashboardTroubleshooting = "faultline-troubleshooting"
	DashboardSLO             = "faultline-slo"
)

// Options configure Generate and Runbooks. The zero value generates the
// default rules: the default SLO, every target, and the default URLs.
type Options struct {
	// SLO sets the objectives of the burn-rate alerts. The zero value is
	// the default SLO.
	SLO SLO
	// Selector adds label matchers to every selector of a sidecar metric,
	// e.g. `{job="shop", namespace="prod"}` (the braces are optional).
	// Empty means every target.
	Selector string
	// RunbookURLTemplate is the runbook_url of every alert, with
	// AlertPlaceholder replaced by the alert name. Empty means
	// DefaultRunbookURLTemplate.
	RunbookURLTemplate string
	// DashboardURLTemplate is the URL of a Grafana dashboard, with
	// UIDPlaceholder replaced by its UID; dashboard_url adds the route
	// variable to it. Empty means DefaultDashboardURLTemplate.
	DashboardURLTemplate string
}

// OptionError reports an invalid Options field. Field is the Go name of the
// field: "SLO", "Selector", "RunbookURLTemplate" or "DashboardURLTemplate".
type OptionError struct {
	Field string
	Err   error
}

func (e *OptionError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

// Validate reports the first invalid field of o as an *OptionError.
func (o Options) Validate() error {
	_, err := o.resolve()
	return err
}

// resolved holds Options with defaults applied and the selector parsed.
type resolved struct {
	objectives   []objective
	minRate      float64
	matchers     []string // rendered, e.g. job="shop"
	runbookURL   string
	dashboardURL string
}

func (o Options) resolve() (resolved, error) {
	var r resolved
	if err := o.SLO.Validate(); err != nil {
		return r, &OptionError{"SLO", err}
	}
	r.objectives, r.minRate = o.SLO.resolved()

	ms, err := parseSelector(o.Selector)
	if err != nil {
		return r, &OptionError{"Selector", err}
	}
	r.matchers = ms

	r.runbookURL = o.RunbookURLTemplate
	if r.runbookURL == "" {
		r.runbookURL = DefaultRunbookURLTemplate
	}
	if err := checkURLTemplate(r.runbookURL, AlertPlaceholder, "FaultlineExample"); err != nil {
		return r, &OptionError{"RunbookURLTemplate", err}
	}
	r.dashboardURL = o.DashboardURLTemplate
	if r.dashboardURL == "" {
		r.dashboardURL = DefaultDashboardURLTemplate
	}
	if err := checkURLTemplate(r.dashboardURL, UIDPlaceholder, DashboardTroubleshooting); err != nil {
		return r, &OptionError{"DashboardURLTemplate", err}
	}
	if strings.Contains(r.dashboardURL, "#") {
		return r, &OptionError{"DashboardURLTemplate", errors.New("must not contain a #fragment: the route variable goes into the query")}
	}
	return r, nil
}

func checkURLTemplate(tmpl, placeholder, example string) error {
	if !strings.Contains(tmpl, placeholder) {
		return fmt.Errorf("%q does not contain %s", tmpl, placeholder)
	}
	u, err := url.Parse(strings.ReplaceAll(tmpl, placeholder, example))
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", tmpl, errors.Unwrap(err))
	}
	if u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL such as https://grafana.example.com/d/%s", tmpl, UIDPlaceholder)
	}
	return nil
}

// legacyName is a label name that Prometheus 2.42 can parse unquoted.
var legacyName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// parseSelector parses label matchers such as `{job="shop"}` and renders
// them back in a form that Prometheus 2.42 parses. A metric name, or a
// matcher on __name__, is refused: the generator chooses the metrics.
func parseSelector(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "{}" {
		return nil, nil
	}
	if !strings.HasPrefix(s, "{") {
		if i := strings.IndexByte(s, '{'); i > 0 && legacyName.MatchString(strings.TrimSpace(s[:i])) {
			return nil, fmt.Errorf("%q names a metric; give label matchers only, e.g. {job=\"shop\"}", s)
		}
		s = "{" + s + "}"
	}
	ms, err := newParser().ParseMetricSelector(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a label selector such as {job=\"shop\"}: %s", s, oneLine(err.Error()))
	}
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		if m.Name == labels.MetricName {
			return nil, fmt.Errorf("%q names a metric; give label matchers only, e.g. {job=\"shop\"}", s)
		}
		if !legacyName.MatchString(m.Name) {
			return nil, fmt.Errorf("label name %q is not valid in Prometheus 2.42", m.Name)
		}
		out = append(out, m.Name+m.Type.String()+strconv.Quote(m.Value))
	}
	return out, nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
