package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name string
		file string // under testdata; or in
		in   string
		want wrkResult
	}{
		{
			name: "64 connections",
			file: "wrk_c64.txt",
			want: wrkResult{RequestsPerSec: 71621.04, Requests: 144543, ElapsedSec: 2.02, P50us: 748, P75us: 1780, P90us: 3180, P99us: 6960},
		},
		{
			name: "1 connection",
			file: "wrk_c1.txt",
			want: wrkResult{RequestsPerSec: 17950.62, Requests: 37685, ElapsedSec: 2.10, P50us: 54, P75us: 84, P90us: 104, P99us: 472},
		},
		{
			name: "errors and seconds",
			file: "wrk_errors.txt",
			want: wrkResult{RequestsPerSec: 1997.12, Requests: 6011, ElapsedSec: 3.01, P50us: 12500, P75us: 401000, P90us: 1.2e6, P99us: 1.98e6, Errors: 12 + 3 + 41 + 57},
		},
		{
			name: "minutes, hours and decimal percentiles",
			in: `  Latency Distribution
     50.000%    1.50m
     99.000%    2.00h
  10 requests in 1.00m, 1.00KB read
Requests/sec:      0.17
`,
			want: wrkResult{RequestsPerSec: 0.17, Requests: 10, ElapsedSec: 60, P50us: 90e6, P99us: 7200e6},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if tt.file != "" {
				b, err := os.ReadFile(filepath.Join("testdata", tt.file))
				if err != nil {
					t.Fatal(err)
				}
				in = string(b)
			}
			got, err := parseWrk(in)
			if err != nil {
				t.Fatalf("parseWrk: %v", err)
			}
			if !approxEqualResult(got, tt.want) {
				t.Errorf("parseWrk:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseWrkIncomplete(t *testing.T) {
	full, err := os.ReadFile(filepath.Join("testdata", "wrk_c64.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "Requests/sec"},
		{"no --latency", dropLines(string(full), "%"), "latency distribution"},
		{"no rate", dropLines(string(full), "Requests/sec"), "Requests/sec"},
		{"no count", dropLines(string(full), "requests in"), "request count"},
		{"connection refused", "unable to connect to 127.0.0.1:1 Connection refused\n", "Requests/sec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseWrk(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseWrk error = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestWrkArgs(t *testing.T) {
	tests := []struct {
		name string
		run  wrkRun
		want []string
	}{
		{"throughput", wrkRun{url: "http://127.0.0.1:1/x", threads: 2, connections: 64, duration: 10 * time.Second},
			[]string{"-t2", "-c64", "-d10s", "--latency", "http://127.0.0.1:1/x"}},
		{"threads capped by connections", wrkRun{url: "u", threads: 2, connections: 1, duration: 5 * time.Second},
			[]string{"-t1", "-c1", "-d5s", "--latency", "u"}},
		{"at least one second", wrkRun{url: "u", threads: 1, connections: 1, duration: 100 * time.Millisecond},
			[]string{"-t1", "-c1", "-d1s", "--latency", "u"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.run.args(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("args() = %q, want %q", got, tt.want)
			}
		})
	}
}

func dropLines(s, substr string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, substr) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func approxEqualResult(a, b wrkResult) bool {
	fs := func(r wrkResult) []float64 {
		return []float64{r.RequestsPerSec, r.ElapsedSec, r.P50us, r.P75us, r.P90us, r.P99us}
	}
	fa, fb := fs(a), fs(b)
	for i := range fa {
		if !approx(fa[i], fb[i]) {
			return false
		}
	}
	return a.Requests == b.Requests && a.Errors == b.Errors
}

func approx(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-9*max(1, a, b, -a, -b)
}
