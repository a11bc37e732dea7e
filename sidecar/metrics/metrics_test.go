package metrics

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/faultline-dev/faultline/sidecar/exchange"
	mn "github.com/faultline-dev/faultline/sidecar/metricnames"
)

func newExchange(method, route string, status int) *exchange.Exchange {
	r := &http.Request{Method: method, URL: &url.URL{Path: "/x"}, Header: http.Header{}}
	return &exchange.Exchange{Request: r, Route: route, Status: status, Duration: 30 * time.Millisecond, BytesIn: 10, BytesOut: 100}
}

func TestEndCountsDedicatedSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		x      *exchange.Exchange
		family string
		labels []string
	}{
		{"200", newExchange("GET", "/items/{id}", 200), mn.HTTPRequestsTotal, []string{"GET", "/items/{id}", "200"}},
		{"odd method", newExchange("PURGE", "/c", 200), mn.HTTPRequestsTotal, []string{"OTHER", "/c", "200"}},
		{"401 absent", newExchange("GET", "/s", 401), mn.AuthFailuresTotal, []string{"/s", "absent"}},
		{"401 present", func() *exchange.Exchange { x := newExchange("GET", "/s", 401); x.Credentials = true; return x }(), mn.AuthFailuresTotal, []string{"/s", "present"}},
		{"500 app", newExchange("GET", "/b", 500), mn.ServerErrorsTotal, []string{"/b", "app"}},
		{"502 unreachable", func() *exchange.Exchange {
			x := newExchange("GET", "/b", 502)
			x.Source = mn.SourceUpstreamUnreachable
			return x
		}(), mn.ServerErrorsTotal, []string{"/b", "upstream_unreachable"}},
		{"422 unparsed", newExchange("POST", "/i", 422), mn.ValidationErrorsTotal, []string{"/i", "unknown", "unknown"}},
		{"422 detail", func() *exchange.Exchange {
			x := newExchange("POST", "/i", 422)
			x.ResponseBody = exchange.Tap{Armed: true, Data: []byte(`{"detail":[{"loc":["body","price"],"msg":"field required","type":"value_error.missing"}]}`)}
			return x
		}(), mn.ValidationErrorsTotal, []string{"/i", "body.price", "value_error.missing"}},
	}
	vecs := map[string]*prometheus.CounterVec{mn.HTTPRequestsTotal: m.requests, mn.AuthFailuresTotal: m.authFailures,
		mn.ServerErrorsTotal: m.serverErrors, mn.ValidationErrorsTotal: m.validation}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := vecs[tc.family].WithLabelValues(tc.labels...)
			before := testutil.ToFloat64(c)
			m.Begin(tc.x)
			if n := inFlight(t, reg); n != 1 {
				t.Errorf("in flight %v during the request", n)
			}
			m.End(tc.x)
			if got := testutil.ToFloat64(c) - before; got != 1 {
				t.Errorf("%s%v rose by %v, want 1", tc.family, tc.labels, got)
			}
		})
	}
	if n := inFlight(t, reg); n != 0 {
		t.Errorf("in flight %v after all ended", n)
	}
}

// inFlight is faultline_http_requests_in_flight as reg exposes it.
func inFlight(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == mn.HTTPRequestsInFlight {
			return f.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("%s not exposed", mn.HTTPRequestsInFlight)
	return 0
}

func TestEveryFamilyRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, Options{RouteOverflows: func() uint64 { return 3 }})
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := SpansDropped(reg, "queue_full")
	if err != nil {
		t.Fatal(err)
	}
	dropped("queue_full", 2)
	x := newExchange("GET", "/s", 401)
	m.End(x)
	x = newExchange("POST", "/i", 422)
	m.End(x)
	x = newExchange("GET", "/b", 500)
	m.End(x)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		got[f.GetName()] = f
	}
	for _, f := range mn.Families {
		switch f.Name {
		case mn.CapturesTotal, mn.CapturesDroppedTotal, mn.CaptureStoreBytes, mn.TLSHandshakeErrorsTotal, mn.TLSCertExpiry:
			continue // registered by the capture store and the TLS front end
		}
		g, ok := got[f.Name]
		if !ok {
			t.Errorf("family %s not registered", f.Name)
			continue
		}
		if strings.ToLower(g.GetType().String()) != string(f.Type) {
			t.Errorf("%s is a %s, want %s", f.Name, g.GetType(), f.Type)
		}
	}
	h := got[mn.HTTPRequestDuration].Metric[0].Histogram
	if len(h.Bucket) != len(mn.DurationBuckets) || h.GetSchema() == 0 && len(h.PositiveSpan) == 0 && h.GetZeroCount() == 0 {
		t.Errorf("duration histogram lacks classic buckets or native parts: %d buckets, schema %d", len(h.Bucket), h.GetSchema())
	}
}

func TestExemplarOnSampledRequests(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, _ := New(reg, Options{})
	x := newExchange("GET", "/e", 200)
	x.TraceID, x.Sampled = "4bf92f3577b34da6a3ce929d0e0e4736", true
	m.End(x)
	fams, _ := reg.Gather()
	for _, f := range fams {
		if f.GetName() != mn.HTTPRequestDuration {
			continue
		}
		for _, b := range f.Metric[0].Histogram.Bucket {
			if e := b.Exemplar; e != nil {
				if e.Label[0].GetName() != "trace_id" || e.Label[0].GetValue() != x.TraceID {
					t.Errorf("exemplar %v", e)
				}
				return
			}
		}
	}
	t.Error("no exemplar on the duration histogram")
}

func TestMethod(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "PATCH": "PATCH", "get": "OTHER", "BREW": "OTHER", "": "OTHER"} {
		if got := Method(in); got != want {
			t.Errorf("Method(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkEnd(b *testing.B) {
	m, _ := New(prometheus.NewRegistry(), Options{})
	x := newExchange("GET", "/items/{item_id}", 200)
	b.ReportAllocs()
	for b.Loop() {
		m.Begin(x)
		m.End(x)
	}
}

// TestExemplarInterval: a bucket takes at most one exemplar per
// ExemplarInterval; another bucket of the same series takes its own at
// once, and the first takes a new one once the interval has passed.
func TestExemplarInterval(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, _ := New(reg, Options{})
	start := time.Unix(1_800_000_000, 0)
	end := func(id string, d, at time.Duration) {
		x := newExchange("GET", "/e", 200)
		x.TraceID, x.Sampled, x.Start, x.Duration = id, true, start.Add(at), d
		m.End(x)
	}
	exemplars := func() map[float64]string {
		got := map[float64]string{}
		fams, _ := reg.Gather()
		for _, f := range fams {
			if f.GetName() == mn.HTTPRequestDuration {
				for _, b := range f.Metric[0].Histogram.Bucket {
					if e := b.Exemplar; e != nil {
						got[b.GetUpperBound()] = e.Label[0].GetValue()
					}
				}
			}
		}
		return got
	}
	end("a1", 2*time.Millisecond, 0)
	end("a2", 2*time.Millisecond, ExemplarInterval/2)   // same bucket, too soon
	end("b1", 300*time.Millisecond, ExemplarInterval/2) // another bucket
	if got := exemplars(); got[0.0025] != "a1" || got[0.5] != "b1" || len(got) != 2 {
		t.Errorf("exemplars %v, want a1 in le=0.0025 and b1 in le=0.5", got)
	}
	end("a3", 2*time.Millisecond, ExemplarInterval+time.Millisecond)
	if got := exemplars(); got[0.0025] != "a3" {
		t.Errorf("after the interval: exemplars %v, want a3 in le=0.0025", got)
	}
	end("a4", 2*time.Millisecond, -time.Hour) // the clock stepped back
	if got := exemplars(); got[0.0025] != "a4" {
		t.Errorf("after the clock stepped back: exemplars %v, want a4 in le=0.0025", got)
	}
	fams, _ := reg.Gather()
	for _, f := range fams {
		if f.GetName() == mn.HTTPRequestDuration {
			if n := f.Metric[0].Histogram.GetSampleCount(); n != 5 {
				t.Errorf("%d observations, want 5: a request without an exemplar is still counted", n)
			}
		}
	}
}
