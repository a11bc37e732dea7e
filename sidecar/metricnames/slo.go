package metricnames

// SLO recording rules. The alerts generator writes these rules and the SLO
// dashboard reads them, so both take the names from here.
//
// Each rule is an error ratio (bad events / all events) over one window,
// aggregated by RecordingLabels, e.g.
//
//	faultline:slo_availability_errors:ratio_rate5m
//	faultline:slo_latency_errors:ratio_rate1h
const (
	SLIAvailability = "availability"
	SLILatency      = "latency"
)

// SLOWindows are the windows for which recording rules exist: the short and
// long windows of the multiwindow burn-rate alerts (SRE workbook), plus the
// 30-day budget window.
var SLOWindows = []string{"5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"}

// RecordingLabels are the labels kept by the SLO recording rules.
var RecordingLabels = []string{"namespace", "job"}

// SLOErrorRatio names the recording rule holding the error ratio of sli
// (SLIAvailability or SLILatency) over window (one of SLOWindows).
func SLOErrorRatio(sli, window string) string {
	return "faultline:slo_" + sli + "_errors:ratio_rate" + window
}

// SLORouteErrorRatio names the recording rule holding the error ratio of sli
// over window for the routes that have an objective of their own (the
// `routes:` of an SLO file). It keeps RecordingLabels and LabelRoute. The
// SLOErrorRatio rules then cover the other routes only, so that every
// request counts against exactly one objective per SLI.
func SLORouteErrorRatio(sli, window string) string {
	return "faultline:slo_route_" + sli + "_errors:ratio_rate" + window
}

// SLOObjective names the recording rule holding the objective of sli as a
// ratio (0.999 for 99.9 %), without labels, so that a dashboard can draw the
// error budget, 1 - SLOObjective, without reading the SLO file.
func SLOObjective(sli string) string {
	return "faultline:slo_" + sli + "_objective:ratio"
}

// SLORouteObjective names the recording rule holding the objective of sli
// for each route that has one of its own; its only label is LabelRoute.
func SLORouteObjective(sli string) string {
	return "faultline:slo_route_" + sli + "_objective:ratio"
}

// SLOBudgetWindow is the window of the objectives, the longest of SLOWindows.
const SLOBudgetWindow = "30d"
