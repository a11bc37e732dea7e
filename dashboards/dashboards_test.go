package dashboards

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

// The dashboards are checked as Grafana reads them: the JSON is decoded
// with plain encoding/json into the few fields that matter here, never with
// the SDK's strict decoder, which silently drops panels it cannot read.

type jsonBoard struct {
	UID        string      `json:"uid"`
	Title      string      `json:"title"`
	Tags       []string    `json:"tags"`
	Panels     []jsonPanel `json:"panels"`
	Links      []jsonLink  `json:"links"`
	Templating struct {
		List []jsonVariable `json:"list"`
	} `json:"templating"`
}

type jsonPanel struct {
	Type        string          `json:"type"`
	ID          *uint32         `json:"id"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Collapsed   bool            `json:"collapsed"`
	GridPos     *jsonGridPos    `json:"gridPos"`
	Datasource  *jsonDatasource `json:"datasource"`
	Targets     []jsonTarget    `json:"targets"`
	Panels      []jsonPanel     `json:"panels"`
	FieldConfig struct {
		Defaults struct {
			Unit  string     `json:"unit"`
			Links []jsonLink `json:"links"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Options struct {
		Content string `json:"content"`
		YAxis   struct {
			Unit string `json:"unit"`
		} `json:"yAxis"`
	} `json:"options"`
}

type jsonGridPos struct{ X, Y, W, H int }

type jsonDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type jsonTarget struct {
	RefID      string          `json:"refId"`
	Expr       string          `json:"expr"`
	Datasource *jsonDatasource `json:"datasource"`
	Instant    bool            `json:"instant"`
	Range      bool            `json:"range"`
	Exemplar   bool            `json:"exemplar"`
	Format     string          `json:"format"`
}

type jsonLink struct {
	Title string `json:"title"`
	Type  string `json:"type"`
	URL   string `json:"url"`
}

type jsonVariable struct {
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Query      json.RawMessage `json:"query"`
	Datasource *jsonDatasource `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

// optionSets are the option sets every check runs on.
var optionSets = map[string]Options{"defaults": {}, "full": fullOptions}

// decoded builds the boards for opts and decodes their JSON.
func decoded(t *testing.T, opts Options) ([]Board, []jsonBoard) {
	t.Helper()
	boards, err := Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	var out []jsonBoard
	for _, b := range boards {
		data, err := b.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var jb jsonBoard
		if err := json.Unmarshal(data, &jb); err != nil {
			t.Fatalf("%s: %v", b.UID, err)
		}
		out = append(out, jb)
	}
	return boards, out
}

// panelsOf returns the panels of a board, and those nested in collapsed rows.
func panelsOf(b jsonBoard) []jsonPanel {
	var ps []jsonPanel
	for _, p := range b.Panels {
		ps = append(ps, p)
		ps = append(ps, p.Panels...)
	}
	return ps
}

func TestStableUIDs(t *testing.T) {
	want := []string{UIDOverview, UIDTroubleshooting, UIDSLO}
	for name, opts := range optionSets {
		boards, jbs := decoded(t, opts)
		for i, b := range boards {
			if b.UID != want[i] || jbs[i].UID != want[i] {
				t.Errorf("%s: board %d has uid %q (JSON %q), want %q", name, i, b.UID, jbs[i].UID, want[i])
			}
			if n := len(jbs[i].UID); n < 8 || n > 40 {
				t.Errorf("%s: uid %q has %d characters, Grafana wants 8 to 40", name, jbs[i].UID, n)
			}
		}
	}
}

func TestBoardMetadata(t *testing.T) {
	_, jbs := decoded(t, fullOptions)
	for _, b := range jbs {
		if !strings.HasPrefix(b.Title, "[prod] faultline / ") {
			t.Errorf("%s: title %q lacks the prefix", b.UID, b.Title)
		}
		if !slices.Equal(b.Tags, []string{"faultline", "prod", "fastapi"}) {
			t.Errorf("%s: tags %q", b.UID, b.Tags)
		}
	}
}

func TestPanelLayout(t *testing.T) {
	for name, opts := range optionSets {
		_, jbs := decoded(t, opts)
		for _, b := range jbs {
			t.Run(name+"/"+b.UID, func(t *testing.T) {
				ids := map[uint32]string{}
				var placed []jsonPanel
				for _, p := range panelsOf(b) {
					if p.ID == nil || *p.ID == 0 {
						t.Errorf("panel %q has no id", p.Title)
						continue
					}
					if other, dup := ids[*p.ID]; dup {
						t.Errorf("panels %q and %q share id %d", other, p.Title, *p.ID)
					}
					ids[*p.ID] = p.Title
					g := p.GridPos
					if g == nil || g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > gridWidth {
						t.Errorf("panel %q has a bad gridPos %+v", p.Title, g)
						continue
					}
					for _, q := range placed {
						if overlap(*g, *q.GridPos) {
							t.Errorf("panels %q %+v and %q %+v overlap", q.Title, *q.GridPos, p.Title, *g)
						}
					}
					placed = append(placed, p)
				}
				if len(placed) < 8 {
					t.Errorf("only %d panels", len(placed))
				}
			})
		}
	}
}

func overlap(a, b jsonGridPos) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

// unitPanels are the panel types whose values need a unit.
var unitPanels = []string{"timeseries", "stat", "bargauge", "state-timeline", "heatmap"}

func TestPanelContents(t *testing.T) {
	for name, opts := range optionSets {
		_, jbs := decoded(t, opts)
		for _, b := range jbs {
			t.Run(name+"/"+b.UID, func(t *testing.T) {
				titles := map[string]bool{}
				for _, p := range panelsOf(b) {
					if p.Type == "row" {
						if p.Collapsed || len(p.Panels) > 0 {
							t.Errorf("row %q is collapsed: its panels would be hidden", p.Title)
						}
						continue
					}
					if p.Title == "" || p.Description == "" {
						t.Errorf("panel %d lacks a title or a description: %q", *p.ID, p.Title)
					}
					if titles[p.Title] {
						t.Errorf("two panels are titled %q", p.Title)
					}
					titles[p.Title] = true
					if !isVariableDatasource(p.Datasource) {
						t.Errorf("panel %q: datasource %+v is not the datasource variable", p.Title, p.Datasource)
					}
					if p.Type == "text" {
						if p.Options.Content == "" || len(p.Targets) > 0 {
							t.Errorf("text panel %q: empty, or with queries", p.Title)
						}
						continue
					}
					if len(p.Targets) == 0 {
						t.Errorf("panel %q has no query", p.Title)
					}
					refs := map[string]bool{}
					for _, tg := range p.Targets {
						if tg.RefID == "" || refs[tg.RefID] {
							t.Errorf("panel %q: missing or repeated refId %q", p.Title, tg.RefID)
						}
						refs[tg.RefID] = true
						if !isVariableDatasource(tg.Datasource) {
							t.Errorf("panel %q target %s: datasource %+v", p.Title, tg.RefID, tg.Datasource)
						}
						if tg.Expr == "" || tg.Instant == tg.Range {
							t.Errorf("panel %q target %s: no expr, or not exactly one of instant and range", p.Title, tg.RefID)
						}
						if p.Type == "table" && (!tg.Instant || tg.Format != "table") {
							t.Errorf("table %q target %s: want an instant query in table format", p.Title, tg.RefID)
						}
					}
					if slices.Contains(unitPanels, p.Type) && p.FieldConfig.Defaults.Unit == "" {
						t.Errorf("panel %q (%s) has no unit", p.Title, p.Type)
					}
					if p.Type == "heatmap" && p.Options.YAxis.Unit == "" {
						t.Errorf("heatmap %q has no y axis unit", p.Title)
					}
				}
			})
		}
	}
}

func isVariableDatasource(d *jsonDatasource) bool {
	return d != nil && d.Type == "prometheus" && d.UID == "${"+VarDatasource+"}"
}

func TestVariables(t *testing.T) {
	_, jbs := decoded(t, Options{})
	for _, b := range jbs {
		var names []string
		for _, v := range b.Templating.List {
			names = append(names, v.Name)
			if v.Name == VarDatasource {
				if v.Type != "datasource" || string(v.Query) != `"prometheus"` {
					t.Errorf("%s: datasource variable %+v", b.UID, v)
				}
				continue
			}
			if v.Type != "query" || !v.Multi || !v.IncludeAll || v.AllValue != ".*" || !isVariableDatasource(v.Datasource) {
				t.Errorf("%s: variable %s: want a multi-value query variable with All = .* on the datasource variable: %+v", b.UID, v.Name, v)
			}
			var q string
			if err := json.Unmarshal(v.Query, &q); err != nil || !strings.HasPrefix(q, "label_values(") || !strings.HasSuffix(q, ", "+v.Name+")") {
				t.Errorf("%s: variable %s: query %s is not label_values(…, %s)", b.UID, v.Name, v.Query, v.Name)
			}
		}
		if want := []string{VarDatasource, VarNamespace, VarJob, VarPod, VarRoute}; !slices.Equal(names, want) {
			t.Errorf("%s: variables %q, want %q", b.UID, names, want)
		}
	}
}

func TestDatasourceOption(t *testing.T) {
	cases := []struct {
		opts       Options
		text, uid  string
		hasCurrent bool
	}{
		{Options{}, "", "", false},
		{Options{DatasourceUID: "abc"}, "abc", "abc", true},
		{Options{DatasourceName: "Prom"}, "Prom", "Prom", true},
		{Options{DatasourceUID: "abc", DatasourceName: "Prom"}, "Prom", "abc", true},
	}
	for _, c := range cases {
		boards, err := Build(c.opts)
		if err != nil {
			t.Fatal(err)
		}
		v := boards[0].Dashboard.Templating.List[0]
		if (v.Current != nil) != c.hasCurrent {
			t.Errorf("%+v: current %+v", c.opts, v.Current)
			continue
		}
		if c.hasCurrent && (*v.Current.Text.String != c.text || *v.Current.Value.String != c.uid) {
			t.Errorf("%+v: current %q/%q, want %q/%q", c.opts, *v.Current.Text.String, *v.Current.Value.String, c.text, c.uid)
		}
	}
}

// TestSDKDecoding decodes the JSON back into the SDK's types, as a tool
// built on the SDK would, and checks that no panel or query is lost.
func TestSDKDecoding(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	boards, jbs := decoded(t, fullOptions)
	for i, b := range boards {
		data, _ := b.JSON()
		var d dashboard.Dashboard
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", b.UID, err)
		}
		if len(d.Panels) != len(jbs[i].Panels) {
			t.Errorf("%s: the SDK decoded %d panels of %d", b.UID, len(d.Panels), len(jbs[i].Panels))
		}
		// Queries reads decoded dashboards too (their targets are pointers).
		got := Queries(Board{UID: b.UID, Dashboard: d}, Values{})
		want := Queries(b, Values{})
		if len(got) != len(want) {
			t.Fatalf("%s: %d queries after decoding, want %d", b.UID, len(got), len(want))
		}
		for j := range got {
			if got[j].Expr != want[j].Expr || got[j].Panel != want[j].Panel || got[j].Instant != want[j].Instant {
				t.Errorf("%s: query %d differs after decoding: %+v, want %+v", b.UID, j, got[j], want[j])
			}
		}
	}
}

func TestCaptureLinks(t *testing.T) {
	_, jbs := decoded(t, fullOptions)
	base := "https://captures.example.com/faultline/?route="
	wantCode := map[string]string{
		"Which routes answer 401?":                  "&code=401",
		"Which fields fail validation?":             "&code=422",
		"Which routes answer 422?":                  "&code=422",
		"Which routes fail most?":                   "&code=" + cellCode,
		"Which routes answer 5xx, with which code?": "&code=" + cellCode,
	}
	found := map[string]bool{}
	for _, b := range jbs {
		for _, p := range panelsOf(b) {
			for _, l := range p.FieldConfig.Defaults.Links {
				if !strings.Contains(l.Title, "Captured") {
					continue
				}
				if !strings.HasPrefix(l.URL, base+seriesRoute) && !strings.HasPrefix(l.URL, base+cellRoute) {
					t.Errorf("%q: capture link %q does not filter by route", p.Title, l.URL)
				}
				if code, ok := wantCode[p.Title]; ok {
					found[p.Title] = true
					if !strings.HasSuffix(l.URL, code) {
						t.Errorf("%q: capture link %q, want it to end with %q", p.Title, l.URL, code)
					}
				}
			}
		}
	}
	for title := range wantCode {
		if !found[title] {
			t.Errorf("panel %q has no capture link", title)
		}
	}
}

func TestTraceLinks(t *testing.T) {
	count := func(opts Options) (n int) {
		_, jbs := decoded(t, opts)
		for _, b := range jbs {
			for _, p := range panelsOf(b) {
				for _, l := range p.FieldConfig.Defaults.Links {
					if !strings.HasPrefix(l.URL, "/explore?") {
						continue
					}
					n++
					checkExploreLink(t, p.Title, l.URL)
				}
			}
		}
		return n
	}
	if n := count(Options{}); n != 0 {
		t.Errorf("%d trace links without a trace data source", n)
	}
	if n := count(fullOptions); n < 5 {
		t.Errorf("only %d trace links with a trace data source", n)
	}
}

// checkExploreLink decodes an Explore link as Grafana will once it has
// substituted the variables.
func checkExploreLink(t *testing.T, panel, link string) {
	t.Helper()
	sub := strings.NewReplacer(seriesRoute, "%2Fitems%2F%7Bitem_id%7D", cellRoute, "%2Fitems%2F%7Bitem_id%7D",
		cellCode, "422", "${__from}", "1700000000000", "${__to}", "1700003600000").Replace(link)
	u, err := url.Parse(sub)
	if err != nil {
		t.Fatalf("%q: %v", panel, err)
	}
	var panes map[string]struct {
		Datasource string `json:"datasource"`
		Queries    []struct {
			Query      string `json:"query"`
			QueryType  string `json:"queryType"`
			Datasource jsonDatasource
		} `json:"queries"`
		Range struct{ From, To string } `json:"range"`
	}
	if err := json.Unmarshal([]byte(u.Query().Get("panes")), &panes); err != nil {
		t.Fatalf("%q: panes of %q: %v", panel, sub, err)
	}
	for _, p := range panes {
		if p.Datasource != "tempo-uid" || len(p.Queries) != 1 || p.Queries[0].Datasource.UID != "tempo-uid" ||
			p.Queries[0].QueryType != "traceql" || p.Range.From != "1700000000000" {
			t.Errorf("%q: explore pane %+v", panel, p)
		}
		if q := p.Queries[0].Query; !strings.Contains(q, `span.http.route = "/items/{item_id}"`) {
			t.Errorf("%q: TraceQL %q does not select the route", panel, q)
		}
	}
}

func TestTroubleshootLinks(t *testing.T) {
	_, jbs := decoded(t, Options{})
	n := 0
	for _, b := range jbs {
		for _, p := range panelsOf(b) {
			for _, l := range p.FieldConfig.Defaults.Links {
				if l.Title != "Troubleshoot this route" {
					continue
				}
				n++
				for _, want := range []string{"/d/" + UIDTroubleshooting + "?var-route=$", "${__url_time_range}", "${namespace:queryparam}"} {
					if !strings.Contains(l.URL, want) {
						t.Errorf("%q: link %q lacks %q", p.Title, l.URL, want)
					}
				}
			}
		}
	}
	if n == 0 {
		t.Error("no link to the troubleshooting board")
	}
}

func TestTroubleshootingSections(t *testing.T) {
	_, jbs := decoded(t, Options{})
	b := jbs[1]
	// Each section opens with its reading guide, right after the row.
	want := map[string][]string{
		"401 Unauthorized":         {"credentials", "auth service"},
		"422 Unprocessable Entity": {"pydantic", "field"},
		"5xx Server errors":        {"upstream_unreachable", "trace"},
	}
	for i, p := range b.Panels {
		words, ok := want[p.Title]
		if !ok {
			continue
		}
		delete(want, p.Title)
		next := b.Panels[i+1]
		if next.Type != "text" {
			t.Errorf("section %q opens with a %s panel", p.Title, next.Type)
			continue
		}
		for _, w := range words {
			if !strings.Contains(next.Options.Content, w) {
				t.Errorf("section %q: its text does not mention %q", p.Title, w)
			}
		}
	}
	for s := range want {
		t.Errorf("no section %q", s)
	}
}

func TestSLOBoardReadsRecordingRules(t *testing.T) {
	boards, err := Build(Options{})
	if err != nil {
		t.Fatal(err)
	}
	read := map[string]bool{}
	for _, q := range Queries(boards[2], Values{}) {
		for _, name := range identifier.FindAllString(q.Expr, -1) {
			read[name] = true
		}
		if q.RecordingRules != (strings.Contains(q.Expr, "faultline:slo_")) {
			t.Errorf("%q %s: RecordingRules is %v for %s", q.Panel, q.RefID, q.RecordingRules, q.Expr)
		}
	}
	// Every window of the service rules, the objectives, and the routes'
	// rules over the windows of the route tables.
	for _, sli := range []string{mn.SLIAvailability, mn.SLILatency} {
		want := []string{mn.SLOObjective(sli), mn.SLORouteObjective(sli)}
		for _, w := range mn.SLOWindows {
			want = append(want, mn.SLOErrorRatio(sli, w))
		}
		for _, w := range []string{"1h", "6h", mn.SLOBudgetWindow} {
			want = append(want, mn.SLORouteErrorRatio(sli, w))
		}
		for _, name := range want {
			if !read[name] {
				t.Errorf("the SLO board does not read %s", name)
			}
		}
	}
}

func TestLatencyThresholdInQueries(t *testing.T) {
	boards, err := Build(fullOptions)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, q := range Queries(boards[2], Values{}) {
		all.WriteString(q.Expr + "\n")
	}
	if want := `le=~"1|1\\.0"`; !strings.Contains(all.String(), want) {
		t.Errorf("the SLO queries lack %s", want)
	}
}

func TestRecordingLabelsAreVariables(t *testing.T) {
	for _, l := range mn.RecordingLabels {
		if l != VarNamespace && l != VarJob {
			t.Errorf("recording rules keep label %q, which has no dashboard variable", l)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name   string
		opts   Options
		option string // empty: valid
	}{
		{"zero", Options{}, ""},
		{"full", fullOptions, ""},
		{"capture URL without scheme", Options{CaptureURL: "captures.example.com"}, "capture-url"},
		{"capture URL ftp", Options{CaptureURL: "ftp://x"}, "capture-url"},
		{"capture URL with query", Options{CaptureURL: "http://x/?a=b"}, "capture-url"},
		{"threshold not a bucket", Options{LatencyThreshold: 300 * time.Millisecond}, "slo-latency-threshold"},
		{"empty tag", Options{Tags: []string{"a", " "}}, "tags"},
		{"quote in uid", Options{DatasourceUID: `a"b`}, "datasource-uid"},
		{"variable in trace uid", Options{TraceDatasourceUID: "${x}"}, "trace-datasource-uid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.opts.Validate()
			if c.option == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			oe, ok := err.(*OptionError)
			if !ok || oe.Option != c.option {
				t.Fatalf("got %v, want an error about %s", err, c.option)
			}
			if _, err := Build(c.opts); err == nil {
				t.Error("Build accepted invalid options")
			}
		})
	}
}

func TestEveryBucketIsAValidThreshold(t *testing.T) {
	for _, b := range mn.DurationBuckets {
		opts := Options{LatencyThreshold: secondsToDuration(b)}
		if err := opts.Validate(); err != nil {
			t.Errorf("%v: %v", b, err)
		}
	}
}

func secondsToDuration(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}

func ExampleQueries() {
	boards, err := Build(Options{})
	if err != nil {
		panic(err)
	}
	q := Queries(boards[0], Values{Namespace: "shop", Job: "faultline"})[0]
	fmt.Printf("%s: %s\n", q.Panel, q.Expr)
	// Output:
	// Requests per second: sum(rate(faultline_http_requests_total{namespace=~"shop", job=~"faultline", pod=~".*", route=~".*"}[60s]))
}
