package main

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseStatus(t *testing.T) {
	const status = `Name:	faultline
VmPeak:	 1262456 kB
VmHWM:	   41236 kB
VmRSS:	   38112 kB
RssAnon:	   27000 kB
RssFile:	   11112 kB
RssShmem:	       0 kB
Threads:	8
`
	got, err := parseStatus(status)
	if err != nil {
		t.Fatal(err)
	}
	want := memStatus{VmRSS: 38112, VmHWM: 41236, RssAnon: 27000, RssFile: 11112, Threads: 8}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseStatus("Name:\tzombie\nThreads:\t1\n"); err == nil {
		t.Error("no error without VmRSS")
	}
}

func TestMetricSum(t *testing.T) {
	text := strings.Join([]string{
		"# HELP faultline_captures_total Captures stored.",
		"# TYPE faultline_captures_total counter",
		`faultline_captures_total{code="422"} 5000`,
		`faultline_captures_total{code="500"} 4990`,
		`faultline_captures_dropped_total{reason="evicted"} 3`,
		`faultline_captures_dropped_total{reason="queue_full"} 10`,
		`go_goroutines 12`,
		`go_goroutines_other 99`,
		`go_memstats_heap_inuse_bytes 1.2345e+07`,
	}, "\n")
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"faultline_captures_total", nil, 9990},
		{"faultline_captures_dropped_total", []string{`reason="evicted"`}, 3},
		{"faultline_captures_dropped_total", nil, 13},
		{"go_goroutines", nil, 12},
		{"go_memstats_heap_inuse_bytes", nil, 12345000},
		{"missing", nil, 0},
	} {
		if got := metricSum(text, tc.name, tc.labels...); got != tc.want {
			t.Errorf("metricSum(%s, %v) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

func TestServingLine(t *testing.T) {
	line := `{"time":"2025-01-01T00:00:00Z","level":"INFO","msg":"faultline serving","listen":"127.0.0.1:40001","scheme":"http","upstream":"http://127.0.0.1:40000","metrics":"127.0.0.1:40002","admin":"127.0.0.1:40003","redirect":""}`
	a, ok := servingLine(line)
	if !ok || a.Listen != "127.0.0.1:40001" || a.Metrics != "127.0.0.1:40002" || a.Admin != "127.0.0.1:40003" {
		t.Errorf("got %+v, %v", a, ok)
	}
	if _, ok := servingLine(`{"msg":"learned routes"}`); ok {
		t.Error("matched another line")
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{1: "1", 999: "999", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFailingRequest(t *testing.T) {
	seen := map[string]bool{}
	for i := range 8 {
		req, want := failingRequest("h:1", i)
		line, _, _ := strings.Cut(string(req), "\r\n")
		if seen[line] {
			t.Errorf("request line %q twice", line)
		}
		seen[line] = true
		if want != 422 && want != 500 {
			t.Errorf("request %d: want status %d", i, want)
		}
		if !strings.Contains(line, "/status/"+strconv.Itoa(want)+"/") {
			t.Errorf("request %d: %q does not ask for %d", i, line, want)
		}
		if !strings.HasSuffix(string(req), "}") && !strings.HasSuffix(string(req), "\r\n\r\n") {
			t.Errorf("request %d malformed: %q", i, req)
		}
	}
}
