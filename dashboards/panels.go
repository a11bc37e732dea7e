package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/text"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Panel builders with the settings every board shares. The caller sets
// what is particular to a panel; add sets id, position, title,
// description, datasource and targets.

// graph is a time series panel; legends are tables, so that the reader can
// sort series by their mean or peak.
func graph(unit string) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Unit(unit).
		Min(0).
		FillOpacity(10).
		LineWidth(1).
		ShowPoints(common.VisibilityModeNever).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			Calcs([]string{"mean", "max", "lastNotNull"})).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
}

// stacked is a graph whose series add up to a total (rates by code or
// source).
func stacked(unit string) *timeseries.PanelBuilder {
	return graph(unit).
		FillOpacity(40).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
}

// thresholdLines draws the thresholds of a graph as dashed lines.
func thresholdLines() *common.GraphThresholdsStyleConfigBuilder {
	return common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed)
}

// single is a stat panel showing the last value, with a sparkline.
func single(unit string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Unit(unit).
		GraphMode(common.BigValueGraphModeArea).
		ColorMode(common.BigValueColorModeValue).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
}

// bars is a horizontal bar gauge of instant values.
func bars(unit string) *bargauge.PanelBuilder {
	return bargauge.NewPanelBuilder().
		Unit(unit).
		Min(0).
		DisplayMode(common.BarGaugeDisplayModeGradient).
		Orientation(common.VizOrientationHorizontal).
		ShowUnfilled(true).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
}

// grid is a table of instant values, one row per series, sorted by the
// column sortBy (none if empty); the Time column is hidden. With merge, the
// results of several queries are joined on their labels into one row.
func grid(sortBy string, merge bool) *table.PanelBuilder {
	t := table.NewPanelBuilder().
		Filterable(true).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"}))
	if merge {
		t.WithTransformation(dashboard.DataTransformerConfig{Id: "merge", Options: map[string]any{}})
	}
	t.WithTransformation(dashboard.DataTransformerConfig{
		Id:      "organize",
		Options: map[string]any{"excludeByName": map[string]bool{"Time": true}},
	})
	if sortBy != "" {
		t.SortBy([]cog.Builder[common.TableSortByFieldState]{
			common.NewTableSortByFieldStateBuilder().DisplayName(sortBy).Desc(true),
		})
	}
	return t
}

// column names and formats the "Value #<refId>" column of a table.
func column(t *table.PanelBuilder, refID, name, unit string, props ...dashboard.DynamicConfigValue) {
	t.OverrideByName("Value #"+refID, append([]dashboard.DynamicConfigValue{
		{Id: "displayName", Value: name},
		{Id: "unit", Value: unit},
	}, props...))
}

// valueColumn names and formats the "Value" column of a single-query table.
func valueColumn(t *table.PanelBuilder, name, unit string, props ...dashboard.DynamicConfigValue) {
	t.OverrideByName("Value", append([]dashboard.DynamicConfigValue{
		{Id: "displayName", Value: name},
		{Id: "unit", Value: unit},
	}, props...))
}

// colouredCells colours a column's cells by its thresholds.
func colouredCells(th *dashboard.ThresholdsConfigBuilder) []dashboard.DynamicConfigValue {
	t, _ := th.Build() // a literal thresholds config always builds
	return []dashboard.DynamicConfigValue{
		{Id: "thresholds", Value: t},
		{Id: "custom.cellOptions", Value: common.TableColoredBackgroundCellOptions{Type: common.TableCellDisplayModeColorBackground}},
	}
}

// note is a markdown text panel.
func note(markdown string) *text.PanelBuilder {
	return text.NewPanelBuilder().Mode(text.TextModeMarkdown).Content(markdown)
}

// buckets is a heatmap of histogram buckets already counted by
// Prometheus (format heatmap, no calculation), with exemplars.
func buckets(unit string) *heatmap.PanelBuilder {
	return heatmap.NewPanelBuilder().
		Calculate(false).
		Color(heatmap.NewHeatmapColorOptionsBuilder().
			Mode(heatmap.HeatmapColorModeScheme).
			Scheme("Spectral").
			Scale(heatmap.HeatmapColorScaleExponential).
			Exponent(0.5).
			Steps(64)).
		YAxis(heatmap.NewYAxisConfigBuilder().Unit(unit)).
		CellValues(heatmap.NewCellValuesBuilder().Unit(unitShort)).
		Tooltip(heatmap.NewHeatmapTooltipBuilder().Mode(common.TooltipDisplayModeSingle).YHistogram(true)).
		ExemplarsColor("rgba(255,0,255,0.7)").
		ShowLegend().
		Unit(unit)
}

func links(ls ...[]cog.Builder[dashboard.DashboardLink]) []cog.Builder[dashboard.DashboardLink] {
	var all []cog.Builder[dashboard.DashboardLink]
	for _, l := range ls {
		all = append(all, l...)
	}
	return all
}

func one(l cog.Builder[dashboard.DashboardLink]) []cog.Builder[dashboard.DashboardLink] {
	return []cog.Builder[dashboard.DashboardLink]{l}
}
