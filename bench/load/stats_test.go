package main

import (
	"math"
	"reflect"
	"strconv"
	"testing"
)

func TestMedian(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"empty", nil, nan},
		{"one", []float64{7}, 7},
		{"odd unsorted", []float64{3, 1, 2}, 2},
		{"even is mean of middle two", []float64{4, 1, 3, 2}, 2.5},
		{"outlier ignored", []float64{100, 101, 1e9}, 101},
		{"NaN left out", []float64{nan, 5, 1, nan}, 3},
		{"only NaN", []float64{nan, nan}, nan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.in...)
			got := median(in)
			if !sameFloat(got, tt.want) {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if !reflect.DeepEqual(fmtFloats(in), fmtFloats(tt.in)) {
				t.Errorf("median reordered its input: %v", in)
			}
		})
	}
}

func TestRatioDiffMax(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name      string
		got, want float64
	}{
		{"ratio", ratio(50, 100), 0.5},
		{"ratio by zero", ratio(50, 0), nan},
		{"ratio of unknown", ratio(nan, 100), nan},
		{"ratio to unknown", ratio(1, nan), nan},
		{"diff", diff(130, 100), 30},
		{"negative diff", diff(90, 100), -10},
		{"diff unknown", diff(nan, 1), nan},
		{"max", maxOf([]float64{1, nan, 3, 2}), 3},
		{"max empty", maxOf(nil), nan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !sameFloat(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	xs := []string{"a", "b", "c"}
	tests := []struct {
		k    int
		want []string
	}{
		{0, []string{"a", "b", "c"}},
		{1, []string{"b", "c", "a"}},
		{2, []string{"c", "a", "b"}},
		{3, []string{"a", "b", "c"}},
		{-1, []string{"c", "a", "b"}},
	}
	for _, tt := range tests {
		if got := rotate(xs, tt.k); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("rotate(%v, %d) = %v, want %v", xs, tt.k, got, tt.want)
		}
	}
	if got := rotate([]string(nil), 1); got != nil {
		t.Errorf("rotate(nil) = %v", got)
	}
	if !reflect.DeepEqual(xs, []string{"a", "b", "c"}) {
		t.Errorf("rotate changed its input: %v", xs)
	}
}

// round builds a sample from the numbers the summary uses.
func round(rps float64, requests int64, p50c1, p99c1, p50cn, p99cn float64, cpuSec *float64, rssKiB *int64) sample {
	return sample{
		Throughput: wrkResult{RequestsPerSec: rps, Requests: requests, P50us: p50cn, P99us: p99cn},
		Latency:    wrkResult{RequestsPerSec: 1, Requests: 1, P50us: p50c1, P99us: p99c1},
		CPUSeconds: cpuSec,
		PeakRSSKiB: rssKiB,
	}
}

func fp(x float64) *float64 { return &x }
func ip(x int64) *int64     { return &x }

func TestSummarize(t *testing.T) {
	results := []targetResult{
		{name: "direct", kind: "direct", samples: []sample{
			round(100000, 1000000, 50, 90, 600, 2000, nil, nil),
			round(90000, 900000, 60, 95, 700, 2100, nil, nil),
			round(110000, 1100000, 55, 99, 650, 1900, nil, nil),
		}},
		{name: "nginx", kind: "nginx", samples: []sample{
			round(50000, 500000, 100, 200, 1200, 3000, fp(5), ip(10240)),
			round(40000, 400000, 110, 210, 1300, 3100, fp(4), ip(11264)),
			round(60000, 600000, 90, 190, 1100, 2900, fp(6), ip(10240)),
		}},
		{name: "faultline", kind: "faultline", samples: []sample{
			// Two rounds only: medians of two are means.
			round(20000, 200000, 150, 300, 3000, 9000, fp(4), ip(20480)),
			round(30000, 300000, 170, 320, 2000, 7000, fp(9), ip(30720)),
		}, notes: []string{"round 3 not measured: boom"}},
		{name: "caddy", kind: "caddy", skipped: "caddy not found"},
	}
	got := summarize(results)
	if len(got) != 4 {
		t.Fatalf("summarize returned %d summaries, want 4", len(got))
	}
	type row struct {
		rps, vsNginx, vsDirect, p50c1, p99c1, added, p50cn, p99cn, cpu, rss *float64
		rounds                                                              int
	}
	want := map[string]row{
		"direct": {rps: fp(100000), vsNginx: fp(2), vsDirect: fp(1), p50c1: fp(55), p99c1: fp(95), added: fp(0), p50cn: fp(650), p99cn: fp(2000), rounds: 3},
		"nginx": {rps: fp(50000), vsNginx: fp(1), vsDirect: fp(0.5), p50c1: fp(100), p99c1: fp(200), added: fp(45), p50cn: fp(1200), p99cn: fp(3000),
			cpu: fp(10), rss: fp(11), rounds: 3},
		// cpu per request: 4 s / 200000 = 20 µs, 9 s / 300000 = 30 µs; median 25.
		"faultline": {rps: fp(25000), vsNginx: fp(0.5), vsDirect: fp(0.25), p50c1: fp(160), p99c1: fp(310), added: fp(105), p50cn: fp(2500), p99cn: fp(8000),
			cpu: fp(25), rss: fp(30), rounds: 2},
		"caddy": {rounds: 0},
	}
	for _, s := range got {
		t.Run(s.Name, func(t *testing.T) {
			w := want[s.Name]
			checks := []struct {
				field     string
				got, want *float64
			}{
				{"req/s", s.ReqPerSec, w.rps}, {"× nginx", s.RatioToNginx, w.vsNginx}, {"× direct", s.RatioToDirect, w.vsDirect},
				{"p50@1", s.P50C1us, w.p50c1}, {"p99@1", s.P99C1us, w.p99c1}, {"added p50@1", s.AddedP50C1us, w.added},
				{"p50@n", s.P50CNus, w.p50cn}, {"p99@n", s.P99CNus, w.p99cn}, {"cpu/req", s.CPUPerReqUs, w.cpu}, {"peak rss", s.PeakRSSMiB, w.rss},
			}
			for _, c := range checks {
				if (c.got == nil) != (c.want == nil) || (c.got != nil && !approx(*c.got, *c.want)) {
					t.Errorf("%s = %s, want %s", c.field, show(c.got), show(c.want))
				}
			}
			if s.Rounds != w.rounds {
				t.Errorf("rounds = %d, want %d", s.Rounds, w.rounds)
			}
		})
	}
}

func TestSummarizeWithoutBaselines(t *testing.T) {
	got := summarize([]targetResult{{name: "faultline", kind: "faultline", samples: []sample{round(1000, 10000, 100, 200, 300, 400, fp(1), ip(1024))}}})
	s := got[0]
	if s.RatioToNginx != nil || s.RatioToDirect != nil || s.AddedP50C1us != nil {
		t.Errorf("ratios without nginx/direct = %s, %s, %s; want all nil", show(s.RatioToNginx), show(s.RatioToDirect), show(s.AddedP50C1us))
	}
	if s.ReqPerSec == nil || *s.ReqPerSec != 1000 {
		t.Errorf("req/s = %s, want 1000", show(s.ReqPerSec))
	}
}

// TestSummarizeTLSTwins: a NAME-tls target is compared with nginx-tls for
// × nginx, and with NAME for what TLS adds.
func TestSummarizeTLSTwins(t *testing.T) {
	got := summarize([]targetResult{
		{name: "nginx", kind: "nginx", samples: []sample{round(40000, 400000, 50, 100, 1000, 2000, fp(4), ip(1024))}},
		{name: "nginx-tls", kind: "nginx", samples: []sample{round(30000, 300000, 80, 150, 1500, 3000, fp(4.5), ip(1024))}},
		{name: "faultline", kind: "faultline", samples: []sample{round(20000, 200000, 100, 200, 3000, 6000, fp(6), ip(1024))}},
		{name: "faultline-tls", kind: "faultline", samples: []sample{round(15000, 150000, 150, 260, 4000, 8000, fp(6), ip(1024))}},
	})
	by := map[string]summary{}
	for _, s := range got {
		by[s.Name] = s
	}
	ft := by["faultline-tls"]
	for _, c := range []struct {
		field     string
		got, want *float64
	}{
		{"× nginx", ft.RatioToNginx, fp(0.5)},
		{"tls ratio", ft.TLSRatioToPlain, fp(0.75)},
		{"tls cpu", ft.TLSAddedCPUus, fp(10)},      // 40 µs - 30 µs
		{"tls p50 @1", ft.TLSAddedP50C1us, fp(50)}, // 150 - 100
		{"nginx-tls × nginx", by["nginx-tls"].RatioToNginx, fp(1)},
		{"nginx tls cpu", by["nginx-tls"].TLSAddedCPUus, fp(5)},
		{"plain × nginx", by["faultline"].RatioToNginx, fp(0.5)},
	} {
		if c.got == nil || !approx(*c.got, *c.want) {
			t.Errorf("%s = %s, want %s", c.field, show(c.got), show(c.want))
		}
	}
	if by["faultline"].TLSRatioToPlain != nil {
		t.Error("a plain target has TLS figures")
	}
}

func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return approx(a, b)
}

func fmtFloats(xs []float64) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = show(&x)
	}
	return out
}

func show(x *float64) string {
	if x == nil {
		return "nil"
	}
	return fmtFloat(*x)
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
