package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"

	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

// UIDs of the dashboards. They never change with the options, so that
// bookmarks, links between the boards and the alerts' dashboard_url
// annotations keep working: /d/<uid>.
const (
	UIDOverview        = "faultline-overview"
	UIDTroubleshooting = "faultline-troubleshooting"
	UIDSLO             = "faultline-slo"
)

// Tag is carried by every dashboard; the boards link to each other by it.
const Tag = "faultline"

// Names of the dashboard variables. The label variables are named after the
// label they filter.
const (
	VarDatasource = "datasource"
	VarNamespace  = labelNamespace
	VarJob        = labelJob
	VarPod        = labelPod
	VarRoute      = mn.LabelRoute
)

// Board is one generated dashboard: the Grafana model, and what the tests
// and Queries need to know about its panels.
type Board struct {
	UID       string
	Dashboard dashboard.Dashboard
	// empty holds, by panel id and refId, why a query may return nothing
	// while traffic is healthy.
	empty map[uint32]map[string]string
}

// Build returns the three dashboards: overview, troubleshooting and SLO, in
// that order. It returns an *OptionError for invalid options.
func Build(opts Options) ([]Board, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	var boards []Board
	for _, build := range []func(Options) *board{overview, troubleshooting, slo} {
		b, err := build(o).build()
		if err != nil {
			return nil, err
		}
		boards = append(boards, b)
	}
	return boards, nil
}

// JSON returns the dashboard as Grafana reads it (the dashboard model, as
// stored in a file or a ConfigMap), indented, ending with a newline.
func (b Board) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(b.Dashboard); err != nil {
		return nil, fmt.Errorf("dashboards: encode %s: %w", b.UID, err)
	}
	return buf.Bytes(), nil
}

// gridWidth is the width of Grafana's grid.
const gridWidth = 24

// board builds one dashboard: it hands out panel ids and grid positions in
// reading order, so that no two panels share an id or overlap.
type board struct {
	opts   Options
	uid    string
	db     *dashboard.DashboardBuilder
	nextID uint32
	x, y   uint32 // where the next panel goes
	lineH  uint32 // height of the tallest panel on the current line
	empty  map[uint32]map[string]string
}

func newBoard(o Options, uid, title, description, from string) *board {
	if o.TitlePrefix != "" {
		title = o.TitlePrefix + " " + title
	}
	tags := []string{Tag}
	for _, t := range o.Tags {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	db := dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags(tags).
		Timezone("browser").
		Time(from, "now").
		Refresh("1m").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Links(boardLinks(o))
	for _, v := range variables(o) {
		db.WithVariable(v)
	}
	return &board{opts: o, uid: uid, db: db, empty: map[uint32]map[string]string{}}
}

func (b *board) build() (Board, error) {
	d, err := b.db.Build()
	if err != nil {
		return Board{}, fmt.Errorf("dashboards: build %s: %w", b.uid, err)
	}
	return Board{UID: b.uid, Dashboard: d, empty: b.empty}, nil
}

// row starts a new, expanded row. Its panels follow it at the top level of
// the dashboard: the SDK's RowBuilder.WithPanel would collapse the row.
func (b *board) row(title string) {
	b.newline()
	b.nextID++
	b.db.WithRow(dashboard.NewRowBuilder(title).
		Id(b.nextID).
		GridPos(dashboard.GridPos{X: 0, Y: b.y, W: gridWidth, H: 1}))
	b.y++
}

func (b *board) newline() {
	b.y += b.lineH
	b.x, b.lineH = 0, 0
}

// place returns the next panel id and a w×h position after the previous
// panel, on a new line when the panel does not fit.
func (b *board) place(w, h uint32) (uint32, dashboard.GridPos) {
	if b.x+w > gridWidth {
		b.newline()
	}
	pos := dashboard.GridPos{X: b.x, Y: b.y, W: w, H: h}
	b.x += w
	b.lineH = max(b.lineH, h)
	b.nextID++
	return b.nextID, pos
}

// panelBuilder is what every panel builder of the SDK has in common.
type panelBuilder[B any] interface {
	cog.Builder[dashboard.Panel]
	Id(id uint32) B
	GridPos(gridPos dashboard.GridPos) B
	Title(title string) B
	Description(description string) B
	Datasource(datasource common.DataSourceRef) B
	WithTarget(target cog.Builder[variants.Dataquery]) B
}

// spec is what every panel has: a title that is a question or a plain
// statement, a description for the reader at 3 a.m., a size and queries.
type spec struct {
	title, desc string
	w, h        uint32
	targets     []target
}

// target is one Prometheus query of a panel.
type target struct {
	expr     string
	legend   string
	instant  bool
	format   prometheus.PromQueryFormat // empty: time series
	exemplar bool
	// empty says why the query may return nothing while traffic is
	// healthy (no failures, no TLS); empty means it must return data.
	empty string
}

// add places pb on the grid and gives it an id, the spec, and the
// datasource variable on the panel and on every target.
func add[B panelBuilder[B]](b *board, pb B, s spec) {
	id, pos := b.place(s.w, s.h)
	pb.Id(id)
	pb.GridPos(pos)
	pb.Title(s.title)
	pb.Description(s.desc)
	pb.Datasource(datasourceRef())
	for i, t := range s.targets {
		ref := string(rune('A' + i))
		q := prometheus.NewDataqueryBuilder().
			Datasource(datasourceRef()).
			RefId(ref).
			Expr(t.expr).
			EditorMode(prometheus.QueryEditorModeCode)
		if t.legend != "" {
			q.LegendFormat(t.legend)
		}
		if t.instant {
			q.Instant()
		} else {
			q.Range()
		}
		if t.format != "" {
			q.Format(t.format)
		}
		if t.exemplar {
			q.Exemplar(true)
		}
		pb.WithTarget(q)
		if t.empty != "" {
			if b.empty[id] == nil {
				b.empty[id] = map[string]string{}
			}
			b.empty[id][ref] = t.empty
		}
	}
	b.db.WithPanel(pb)
}

// datasourceRef points a panel or query at the datasource variable.
func datasourceRef() common.DataSourceRef {
	return common.DataSourceRef{Type: ptr("prometheus"), Uid: ptr("${" + VarDatasource + "}")}
}

func ptr[T any](v T) *T { return &v }

// variables are the datasource variable and the label variables, each
// filtered by the ones before it. namespace, job and pod are read from
// faultline_build_info, which every sidecar exports from its start, so the
// lists fill before any traffic; route from the request counter.
func variables(o Options) []cog.Builder[dashboard.VariableModel] {
	ds := dashboard.NewDatasourceVariableBuilder(VarDatasource).
		Label("Data source").
		Description("The Prometheus that scrapes the faultline sidecars.").
		Type("prometheus")
	if o.DatasourceUID != "" || o.DatasourceName != "" {
		text, value := o.DatasourceName, o.DatasourceUID
		if value == "" {
			value = text
		}
		if text == "" {
			text = value
		}
		ds.Current(dashboard.VariableOption{
			Selected: ptr(true),
			Text:     dashboard.StringOrArrayOfString{String: ptr(text)},
			Value:    dashboard.StringOrArrayOfString{String: ptr(value)},
		})
	}
	vars := []cog.Builder[dashboard.VariableModel]{ds}
	labels := []struct {
		name, label, metric, desc string
	}{
		{VarNamespace, "Namespace", mn.BuildInfo, "Kubernetes namespace of the pods (empty outside Kubernetes: keep All)."},
		{VarJob, "Job", mn.BuildInfo, "Prometheus job that scrapes the sidecars."},
		{VarPod, "Pod", mn.BuildInfo, "Pod of the sidecar (empty outside Kubernetes: keep All)."},
		{VarRoute, "Route", mn.HTTPRequestsTotal, "Route template of the app, as FastAPI declares it (/items/{item_id}); __other__ gathers the routes past the sidecar's cap."},
	}
	var before []matcher
	for _, l := range labels {
		query := "label_values(" + selector(l.metric, before) + ", " + l.name + ")"
		if len(before) == 0 {
			query = "label_values(" + l.metric + ", " + l.name + ")"
		}
		vars = append(vars, dashboard.NewQueryVariableBuilder(l.name).
			Label(l.label).
			Description(l.desc).
			Datasource(datasourceRef()).
			Query(dashboard.StringOrMap{String: ptr(query)}).
			Definition(query).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc).
			Multi(true).
			IncludeAll(true).
			AllValue(".*").
			Current(dashboard.VariableOption{
				Selected: ptr(true),
				Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
				Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
			}))
		before = append(before, variable(l.name))
	}
	return vars
}

// thresholds colours values from base upwards: each step's colour applies
// from its value on.
func thresholds(base string, steps ...step) *dashboard.ThresholdsConfigBuilder {
	ts := []dashboard.Threshold{{Color: base}}
	for _, s := range steps {
		ts = append(ts, dashboard.Threshold{Value: ptr(s.from), Color: s.color})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(ts)
}

type step struct {
	from  float64
	color string
}

// Colours, as Grafana names them.
const (
	green   = "green"
	orange  = "orange"
	red     = "red"
	darkRed = "dark-red"
	yellow  = "yellow"
)

// Units, as Grafana names them.
const (
	unitReqps    = "reqps"
	unitSeconds  = "s"
	unitPercent  = "percentunit"
	unitBytes    = "bytes"
	unitShort    = "short"
	unitOpsPerS  = "ops"
	unitNone     = "none"
	unitDuration = "dtdurations"
)

// valueText maps exact values to a text and colour (e.g. 0 → DOWN).
func valueText(m map[string]dashboard.ValueMappingResult) []dashboard.ValueMapping {
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: m}}}
}

func mapped(textValue, color string, index int32) dashboard.ValueMappingResult {
	return dashboard.ValueMappingResult{Text: ptr(textValue), Color: ptr(color), Index: ptr(index)}
}
