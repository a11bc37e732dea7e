package dashboards

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Grafana's data link variables. In a data link's URL, Grafana URI-encodes
// the values it substitutes, so a route template such as /items/{item_id}
// arrives intact.
const (
	// Labels of the series under the cursor (time series panels).
	seriesRoute = "${__field.labels.route}"
	// Cells of the table row that was clicked (table panels).
	cellRoute = "${__data.fields.route}"
	cellCode  = "${__data.fields.code}"
)

// captureURL opens the capture page filtered by route and, when code is not
// empty, by status code: <base>/?route=/items&code=422.
func captureURL(o Options, route, code string) string {
	u := o.CaptureURL + "/?route=" + route
	if code != "" {
		u += "&code=" + code
	}
	return u
}

func captureLink(o Options, title, route, code string) cog.Builder[dashboard.DashboardLink] {
	return dashboard.NewDashboardLinkBuilder(title).
		Type(dashboard.DashboardLinkTypeLink).
		Url(captureURL(o, route, code)).
		TargetBlank(true)
}

// traceLink searches, in Explore over the panel's time range, the sidecar's
// server spans of route whose status code meets codeCond (a TraceQL
// comparison such as "= 422" or ">= 500"). Span attributes follow the
// stable HTTP semantic conventions. Without a trace data source there is no
// link.
func traceLinks(o Options, title, route, codeCond string) []cog.Builder[dashboard.DashboardLink] {
	if o.TraceDatasourceUID == "" {
		return nil
	}
	q := `{ span.http.route = "` + route + `" && span.http.response.status_code ` + codeCond + ` }`
	return []cog.Builder[dashboard.DashboardLink]{dashboard.NewDashboardLinkBuilder(title).
		Type(dashboard.DashboardLinkTypeLink).
		Url(exploreTraceQL(o.TraceDatasourceUID, q)).
		TargetBlank(true)}
}

// exploreTraceQL is an Explore URL that runs query on the Tempo data source
// uid over the time range of the panel.
func exploreTraceQL(uid, query string) string {
	panes := map[string]any{"traces": map[string]any{
		"datasource": uid,
		"queries": []any{map[string]any{
			"refId":      "A",
			"datasource": map[string]string{"type": "tempo", "uid": uid},
			"queryType":  "traceql",
			"query":      query,
			"limit":      20,
		}},
		"range": map[string]string{"from": "${__from}", "to": "${__to}"},
	}}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(panes) // maps of strings cannot fail to encode
	return "/explore?schemaVersion=1&panes=" + escapeKeepingVariables(strings.TrimSpace(buf.String()))
}

var grafanaVariable = regexp.MustCompile(`\$\{[^}]*\}`)

// escapeKeepingVariables query-escapes s but leaves Grafana's ${…}
// variables for Grafana to substitute when the link is clicked.
func escapeKeepingVariables(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range grafanaVariable.FindAllStringIndex(s, -1) {
		b.WriteString(url.QueryEscape(s[last:m[0]]))
		b.WriteString(s[m[0]:m[1]])
		last = m[1]
	}
	b.WriteString(url.QueryEscape(s[last:]))
	return b.String()
}

// troubleshootLink opens the troubleshooting board on route, keeping the
// time range and the other variables.
func troubleshootLink(route string) cog.Builder[dashboard.DashboardLink] {
	u := "/d/" + UIDTroubleshooting + "?var-" + VarRoute + "=" + route + "&${__url_time_range}"
	for _, v := range []string{VarDatasource, VarNamespace, VarJob, VarPod} {
		u += "&${" + v + ":queryparam}"
	}
	return dashboard.NewDashboardLinkBuilder("Troubleshoot this route").
		Type(dashboard.DashboardLinkTypeLink).
		Url(u)
}

// boardLinks are shown at the top of every board: the faultline boards
// (keeping time and variables), the capture page, and failing traces.
func boardLinks(o Options) []cog.Builder[dashboard.DashboardLink] {
	links := []cog.Builder[dashboard.DashboardLink]{
		dashboard.NewDashboardLinkBuilder("faultline").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{Tag}).
			AsDropdown(false).
			IncludeVars(true).
			KeepTime(true),
		dashboard.NewDashboardLinkBuilder("Captured failing requests").
			Type(dashboard.DashboardLinkTypeLink).
			Icon("external link").
			Tooltip("The sidecar's capture page: headers and bodies of failing requests, secrets redacted").
			Url(o.CaptureURL + "/").
			TargetBlank(true),
	}
	if o.TraceDatasourceUID != "" {
		links = append(links, dashboard.NewDashboardLinkBuilder("Failing traces").
			Type(dashboard.DashboardLinkTypeLink).
			Icon("external link").
			Tooltip("Server spans answered with a 4xx or 5xx, in Explore").
			Url(exploreTraceQL(o.TraceDatasourceUID, `{ span.http.response.status_code >= 400 }`)).
			TargetBlank(true))
	}
	return links
}
