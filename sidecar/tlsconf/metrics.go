package tlsconf

import (
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

// LogEvery is the most often one handshake failure reason is logged; the
// counter counts them all.
const LogEvery = time.Minute

// Metrics exports the TLS families and logs a sample of failed
// handshakes. It is safe for concurrent use.
type Metrics struct {
	errors map[string]prometheus.Counter
	log    *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	sample map[string]*logSample
}

type logSample struct {
	last       time.Time
	suppressed int
}

// NewMetrics registers faultline_tls_handshake_errors_total (every reason
// at zero) and faultline_tls_cert_expiry_timestamp_seconds, read from s's
// current certificate at each scrape, on reg.
func NewMetrics(reg prometheus.Registerer, s *Server, log *slog.Logger) (*Metrics, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fam, _ := mn.Lookup(mn.TLSHandshakeErrorsTotal)
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: fam.Name, Help: fam.Help}, fam.Labels)
	m := &Metrics{errors: map[string]prometheus.Counter{}, log: log, now: time.Now, sample: map[string]*logSample{}}
	for _, r := range mn.TLSHandshakeReasons {
		m.errors[r] = vec.WithLabelValues(r)
	}
	exp, _ := mn.Lookup(mn.TLSCertExpiry)
	expiry := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: exp.Name, Help: exp.Help}, func() float64 {
		return float64(s.Leaf().NotAfter.Unix())
	})
	for _, c := range []prometheus.Collector{vec, expiry} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// HandshakeError counts a failed handshake under its Reason and logs it,
// at most once per reason every LogEvery, with how many were not logged.
func (m *Metrics) HandshakeError(remote net.Addr, err error) {
	reason := Reason(err)
	m.errors[reason].Inc()
	now := m.now()
	m.mu.Lock()
	s := m.sample[reason]
	if s == nil {
		s = &logSample{}
		m.sample[reason] = s
	}
	if !s.last.IsZero() && now.Sub(s.last) < LogEvery {
		s.suppressed++
		m.mu.Unlock()
		return
	}
	suppressed := s.suppressed
	s.last, s.suppressed = now, 0
	m.mu.Unlock()
	addr := ""
	if remote != nil {
		addr = remote.String()
	}
	m.log.Warn("tls: handshake failed", "reason", reason, "client", addr, "err", err.Error(), "not_logged_since_last", suppressed)
}
