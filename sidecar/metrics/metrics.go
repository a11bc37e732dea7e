// Package metrics exports the Prometheus metrics of the exchanges the proxy
// sees: rate, latency, sizes, and the dedicated 401, 422 and 5xx series.
//
// Every family comes from package metricnames; label values are bounded
// there and here (method sanitised, routes from templates, validation
// locations capped), so no client can grow the series count.
package metrics

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline-dev/faultline/sidecar/buildinfo"
	"github.com/faultline-dev/faultline/sidecar/exchange"
	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
	"github.com/faultline-dev/faultline/sidecar/validation"
)

// Options configures Metrics. The zero value means the defaults.
type Options struct {
	// MaxValidationLocations caps distinct 422 field locations (default 200);
	// MaxValidationTypes caps distinct error types (default 100).
	MaxValidationLocations, MaxValidationTypes int
	// RouteOverflows, when set, is exported as faultline_route_overflow_total.
	RouteOverflows func() uint64
}

// Metrics is an exchange.Observer that records metrics. It is safe for
// concurrent use.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// inFlight is faultline_http_requests_in_flight, read at scrape time:
	// an integer add per request instead of the client's compare-and-swap
	// loop on a float, on a cache line both cores write.
	inFlight      atomic.Int64
	requestSize   *prometheus.HistogramVec
	responseSize  *prometheus.HistogramVec
	authFailures  *prometheus.CounterVec
	validation    *prometheus.CounterVec
	serverErrors  *prometheus.CounterVec
	upstreamUp    prometheus.Gauge
	limiter       *validation.Limiter
	seriesMu      sync.RWMutex
	seriesByLabel map[seriesKey]*series
}

// seriesKey identifies the children of one method, route and code.
type seriesKey struct {
	method, route string
	code          int
}

// series caches the label children of one seriesKey, so the hot path does
// one map lookup instead of hashing label values for each family.
type series struct {
	requests     prometheus.Counter
	duration     prometheus.Observer
	requestSize  prometheus.Observer
	responseSize prometheus.Observer
	// exemplarAt is when each duration bucket (the classic ones, and
	// +Inf) last took an exemplar, in Unix nanoseconds.
	exemplarAt []atomic.Int64
}

// ExemplarInterval is the least time between two exemplars of one bucket
// of one duration series. A scrape shows the last exemplar of each
// classic bucket, and a handful of recent ones for the native histogram,
// so more than one a second per bucket is never seen; each costs the
// client library seven allocations, which at full sampling were all the
// allocations of a proxied request. A bucket that no request reached in
// the last second takes the next one's, so rare latencies (the slow
// bucket, a new error series) still get theirs at once.
const ExemplarInterval = time.Second

// endTime is when x ended, in Unix nanoseconds, without reading the clock
// again when the engine timed it.
func endTime(x *exchange.Exchange) int64 {
	if x.Start.IsZero() {
		return time.Now().UnixNano()
	}
	return x.Start.Add(x.Duration).UnixNano()
}

// exemplarDue reports whether the bucket of secs may take an exemplar at
// now (Unix nanoseconds), and if so claims it. A clock stepped back (now
// before the last one) does not hold exemplars back until it catches up.
func (s *series) exemplarDue(secs float64, now int64) bool {
	at := &s.exemplarAt[sort.SearchFloat64s(mn.DurationBuckets, secs)]
	last := at.Load()
	since := now - last
	return (since >= int64(ExemplarInterval) || since < 0) && at.CompareAndSwap(last, now)
}

// New registers the metric families on reg and returns the observer.
func New(reg prometheus.Registerer, opts Options) (*Metrics, error) {
	if opts.MaxValidationLocations == 0 {
		opts.MaxValidationLocations = 200
	}
	if opts.MaxValidationTypes == 0 {
		opts.MaxValidationTypes = 100
	}
	m := &Metrics{
		requests: prometheus.NewCounterVec(counterOpts(mn.HTTPRequestsTotal), labels(mn.HTTPRequestsTotal)),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                            mn.HTTPRequestDuration,
			Help:                            help(mn.HTTPRequestDuration),
			Buckets:                         mn.DurationBuckets,
			NativeHistogramBucketFactor:     mn.NativeHistogramBucketFactor,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: time.Hour,
		}, labels(mn.HTTPRequestDuration)),
		requestSize:   sizeHistogram(mn.HTTPRequestSize),
		responseSize:  sizeHistogram(mn.HTTPResponseSize),
		authFailures:  prometheus.NewCounterVec(counterOpts(mn.AuthFailuresTotal), labels(mn.AuthFailuresTotal)),
		validation:    prometheus.NewCounterVec(counterOpts(mn.ValidationErrorsTotal), labels(mn.ValidationErrorsTotal)),
		serverErrors:  prometheus.NewCounterVec(counterOpts(mn.ServerErrorsTotal), labels(mn.ServerErrorsTotal)),
		upstreamUp:    prometheus.NewGauge(prometheus.GaugeOpts{Name: mn.UpstreamUp, Help: help(mn.UpstreamUp)}),
		limiter:       validation.NewLimiter(opts.MaxValidationLocations, opts.MaxValidationTypes),
		seriesByLabel: make(map[seriesKey]*series),
	}
	bi := buildinfo.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        mn.BuildInfo,
		Help:        help(mn.BuildInfo),
		ConstLabels: prometheus.Labels{mn.LabelVersion: bi.Version, mn.LabelRevision: bi.Revision, mn.LabelGoVersion: bi.GoVersion},
	})
	build.Set(1)
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: mn.HTTPRequestsInFlight, Help: help(mn.HTTPRequestsInFlight)},
		func() float64 { return float64(m.inFlight.Load()) })
	cs := []prometheus.Collector{m.requests, m.duration, inFlight, m.requestSize, m.responseSize,
		m.authFailures, m.validation, m.serverErrors, m.upstreamUp, build}
	if opts.RouteOverflows != nil {
		f := opts.RouteOverflows
		cs = append(cs, prometheus.NewCounterFunc(counterOpts(mn.RoutesOverflowTotal), func() float64 { return float64(f()) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func help(name string) string {
	f, _ := mn.Lookup(name)
	return f.Help
}

func labels(name string) []string {
	f, _ := mn.Lookup(name)
	return f.Labels
}

func counterOpts(name string) prometheus.CounterOpts {
	return prometheus.CounterOpts{Name: name, Help: help(name)}
}

func sizeHistogram(name string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help(name), Buckets: mn.SizeBuckets}, labels(name))
}

// SetUpstreamUp sets faultline_upstream_up.
func (m *Metrics) SetUpstreamUp(up bool) {
	if up {
		m.upstreamUp.Set(1)
	} else {
		m.upstreamUp.Set(0)
	}
}

// Begin counts the request in flight.
func (m *Metrics) Begin(x *exchange.Exchange) { m.inFlight.Add(1) }

// End records the finished exchange.
func (m *Metrics) End(x *exchange.Exchange) {
	m.inFlight.Add(-1)
	method := Method(x.Request.Method)
	s := m.series(method, x.Route, x.Status)
	s.requests.Inc()
	secs := x.Duration.Seconds()
	eo, ok := s.duration.(prometheus.ExemplarObserver)
	if ok && x.TraceID != "" && x.Sampled && s.exemplarDue(secs, endTime(x)) {
		// The exemplar outlives the exchange, whose strings do not.
		eo.ObserveWithExemplar(secs, prometheus.Labels{"trace_id": strings.Clone(x.TraceID)})
	} else {
		s.duration.Observe(secs)
	}
	s.requestSize.Observe(float64(x.BytesIn))
	s.responseSize.Observe(float64(x.BytesOut))

	switch {
	case x.Status == 401:
		cred := mn.CredentialsAbsent
		if x.Credentials {
			cred = mn.CredentialsPresent
		}
		m.authFailures.WithLabelValues(x.Route, cred).Inc()
	case x.Status == 422:
		m.validationErrors(x)
	case x.Status >= 500 && x.Status < 600:
		src := x.Source
		if src == "" {
			src = mn.SourceApp
		}
		m.serverErrors.WithLabelValues(x.Route, src).Inc()
	}
}

// validationErrors counts one increment per item of a 422 detail list. A
// 422 whose body is not such a list still counts once, as unknown, so that
// every 422 is visible in the family.
func (m *Metrics) validationErrors(x *exchange.Exchange) {
	n := 0
	if x.ResponseBody.Armed && len(x.ResponseBody.Data) > 0 {
		n, _ = validation.Parse(x.ResponseBody.Data, func(loc, typ string) {
			m.validation.WithLabelValues(x.Route, m.limiter.Location(loc), m.limiter.Type(typ)).Inc()
		})
	}
	if n == 0 {
		m.validation.WithLabelValues(x.Route, validation.Unknown, validation.Unknown).Inc()
	}
}

// series returns the cached children for a label set, creating them once.
// Keys are bounded: method and route are bounded by their producers, and
// codes are clamped to 100..999 by net/http.
func (m *Metrics) series(method, route string, code int) *series {
	k := seriesKey{method, route, code}
	m.seriesMu.RLock()
	s := m.seriesByLabel[k]
	m.seriesMu.RUnlock()
	if s != nil {
		return s
	}
	m.seriesMu.Lock()
	defer m.seriesMu.Unlock()
	if s = m.seriesByLabel[k]; s != nil {
		return s
	}
	c := strconv.Itoa(code)
	s = &series{
		requests:     m.requests.WithLabelValues(method, route, c),
		duration:     m.duration.WithLabelValues(method, route, c),
		requestSize:  m.requestSize.WithLabelValues(method, route),
		responseSize: m.responseSize.WithLabelValues(method, route),
		exemplarAt:   make([]atomic.Int64, len(mn.DurationBuckets)+1),
	}
	m.seriesByLabel[k] = s
	return s
}

// Method returns the method label value: a standard method, or
// metricnames.MethodOther. It never allocates.
func Method(m string) string {
	for _, s := range mn.Methods {
		if m == s {
			return s
		}
	}
	return mn.MethodOther
}

// SpansDropped registers faultline_spans_dropped_total on reg and returns
// the function the tracing pipeline calls when it loses spans. Both reasons
// start at zero, so an alert can watch them before the first loss.
func SpansDropped(reg prometheus.Registerer, reasons ...string) (func(reason string, n int), error) {
	c := prometheus.NewCounterVec(counterOpts(mn.SpansDroppedTotal), labels(mn.SpansDroppedTotal))
	if err := reg.Register(c); err != nil {
		return nil, err
	}
	for _, r := range reasons {
		c.WithLabelValues(r)
	}
	return func(reason string, n int) { c.WithLabelValues(reason).Add(float64(n)) }, nil
}
