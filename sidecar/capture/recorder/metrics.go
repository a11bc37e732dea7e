package recorder

import (
	"github.com/prometheus/client_golang/prometheus"

	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

// Metrics are the recorder's Prometheus collectors, as named in package
// metricnames.
type Metrics struct {
	// Captured counts stored captures by status code (faultline_captures_total).
	Captured *prometheus.CounterVec
	// Dropped counts captures not stored, and stored captures evicted, by
	// reason (faultline_captures_dropped_total).
	Dropped *prometheus.CounterVec
	// StoreBytes is the size of the store on disk (faultline_capture_store_bytes).
	StoreBytes prometheus.Gauge
}

// NewMetrics builds the recorder's metrics and registers them on reg. Every
// drop reason starts at zero, so alerts never meet a missing series.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := newMetrics()
	for _, c := range []prometheus.Collector{m.Captured, m.Dropped, m.StoreBytes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func newMetrics() *Metrics {
	m := &Metrics{
		Captured:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: mn.CapturesTotal, Help: help(mn.CapturesTotal)}, []string{mn.LabelCode}),
		Dropped:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: mn.CapturesDroppedTotal, Help: help(mn.CapturesDroppedTotal)}, []string{mn.LabelReason}),
		StoreBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: mn.CaptureStoreBytes, Help: help(mn.CaptureStoreBytes)}),
	}
	for _, r := range mn.DropReasons {
		m.Dropped.WithLabelValues(r)
	}
	return m
}

func help(name string) string {
	f, _ := mn.Lookup(name)
	return f.Help
}
