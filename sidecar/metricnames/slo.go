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
