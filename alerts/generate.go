package alerts

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Rule group names.
const (
	GroupSLORecording = "faultline-slo-recording"
	GroupSLOBurnRate  = "faultline-slo-burn-rate"
	GroupRoutes       = "faultline-routes"
	GroupSidecar      = "faultline-sidecar"
)

// Severities, the values of the severity label.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
)

// Annotation and label keys every alert carries.
const (
	LabelSeverity          = "severity"
	AnnotationSummary      = "summary"
	AnnotationDescription  = "description"
	AnnotationRunbookURL   = "runbook_url"
	AnnotationDashboardURL = "dashboard_url"
)

// Generate returns the recording and alerting rules for opts, checked the
// way Prometheus 2.42 checks a rule file. Invalid options are reported as
// an *OptionError.
func Generate(opts Options) (RuleGroups, error) {
	r, err := opts.resolve()
	if err != nil {
		return RuleGroups{}, err
	}
	b := &builder{r: r}
	g := RuleGroups{Groups: []RuleGroup{
		{Name: GroupSLORecording, Rules: b.recordingRules()},
		{Name: GroupSLOBurnRate, Rules: b.burnRateAlerts()},
		{Name: GroupRoutes, Rules: b.routeAlerts()},
		{Name: GroupSidecar, Rules: b.sidecarAlerts()},
	}}
	if err := validate(g); err != nil {
		return RuleGroups{}, fmt.Errorf("alerts: generated rules are invalid (a bug): %w", err)
	}
	return g, nil
}

// builder writes the rules of one resolved Options.
type builder struct {
	r resolved
}

// alertSpec is one alerting rule before the common annotations are added.
type alertSpec struct {
	name        string
	severity    string
	expr        string
	wait        time.Duration // the rule's for
	labels      map[string]string
	summary     string
	description string
	// dashboard is the UID dashboard_url points at; routeVar sets its
	// route variable from the alert's route label.
	dashboard string
	routeVar  bool
}

func (b *builder) alert(s alertSpec) Rule {
	labels := map[string]string{LabelSeverity: s.severity}
	maps.Copy(labels, s.labels)
	return Rule{
		Alert:  s.name,
		Expr:   s.expr,
		For:    model.Duration(s.wait),
		Labels: labels,
		Annotations: map[string]string{
			AnnotationSummary:      s.summary,
			AnnotationDescription:  s.description,
			AnnotationRunbookURL:   b.runbookURL(s.name),
			AnnotationDashboardURL: b.dashboardURL(s.dashboard, s.routeVar),
		},
	}
}

// runbookURL returns the runbook_url of alert.
func (b *builder) runbookURL(alert string) string {
	return strings.ReplaceAll(b.r.runbookURL, AlertPlaceholder, alert)
}

// dashboardURL links the dashboard uid, with its route variable set to the
// alert's route label when routeVar is true.
func (b *builder) dashboardURL(uid string, routeVar bool) string {
	u := strings.ReplaceAll(b.r.dashboardURL, UIDPlaceholder, uid)
	if !routeVar {
		return u
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "var-route={{ $labels.route | urlquery }}"
}

// Template fragments that name where an alert comes from.
const (
	// tmplService names the service: job, and namespace in Kubernetes.
	tmplService = "{{ $labels.job }}{{ with $labels.namespace }} in namespace {{ . }}{{ end }}"
	// tmplRoute names the route and its service.
	tmplRoute = "route {{ $labels.route }} of " + tmplService
	// tmplWhere names one sidecar: its pod in Kubernetes, else its instance.
	tmplWhere = "{{ with $labels.pod }}pod {{ . }}{{ else }}{{ $labels.instance }}{{ end }}"
)
