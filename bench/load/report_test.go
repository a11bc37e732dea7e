package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"count", fmtCount(fp(71621.04)), "71,621"},
		{"count small", fmtCount(fp(999.6)), "1,000"},
		{"count million", fmtCount(fp(1234567)), "1,234,567"},
		{"count unknown", fmtCount(nil), "—"},
		{"ratio", fmtRatio(fp(0.5549)), "0.55×"},
		{"latency µs", fmtLatency(fp(54)), "54 µs"},
		{"latency ms", fmtLatency(fp(1780)), "1.78 ms"},
		{"latency s", fmtLatency(fp(1.98e6)), "1.98 s"},
		{"added", fmtAdded(fp(31), false), "+31 µs"},
		{"added negative", fmtAdded(fp(-4), false), "-4 µs"},
		{"added baseline", fmtAdded(fp(0), true), "—"},
		{"cpu", fmtCPU(fp(12.345)), "12.3 µs"},
		{"rss", fmtMiB(fp(10.04)), "10.0 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func testReport() report {
	return report{
		Run: runInfo{Started: "2026-01-02T03:04:05Z", Rounds: 3, Connections: 64, Threads: 2, DurationSec: 10, LatencyDurationSec: 5, Path: "/items/42", CPUs: 2,
			Tools: map[string]string{"wrk": "wrk 4.1.0", "nginx": "nginx/1.22.1"}},
		Targets: summarize([]targetResult{
			{name: "direct", kind: "direct", samples: []sample{round(100000, 1000000, 50, 90, 600, 2000, nil, nil)}},
			{name: "nginx", kind: "nginx", samples: []sample{round(50000, 500000, 100, 200, 1200, 3000, fp(5), ip(10240))}},
			{name: "caddy", kind: "caddy", skipped: "caddy not found in $PATH nor at /usr/bin/caddy"},
		}),
	}
}

func TestWriteMarkdown(t *testing.T) {
	var buf bytes.Buffer
	if err := writeMarkdown(&buf, testReport()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"| target | req/s @64 | × nginx | × direct | p50 @1 | p99 @1 | added p50 @1 | p50 @64 | p99 @64 | CPU/req | peak RSS |",
		"| direct | 100,000 | 2.00× | 1.00× | 50 µs | 90 µs | — | 600 µs | 2.00 ms | — | — |",
		"| nginx | 50,000 | 1.00× | 0.50× | 100 µs | 200 µs | +50 µs | 1.20 ms | 3.00 ms | 10.0 µs | 10.0 MiB |",
		"- `caddy` skipped: caddy not found",
		"`wrk -t2 -c64 -d10s`",
		"`nginx`: 1 of 3 rounds measured",
		"Tools: wrk 4.1.0; nginx/1.22.1.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q; got:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| caddy |") {
		t.Errorf("a skipped target has a table row:\n%s", out)
	}
}

// TestRoundRatios: a faultline target's ratios to nginx and httputil are
// taken round by round, over the rounds both measured, and reported as a
// range.
func TestRoundRatios(t *testing.T) {
	at := func(r int, rps float64) sample {
		x := round(rps, int64(rps), 100, 200, 1000, 2000, nil, nil)
		x.Round = r
		return x
	}
	out := summarize([]targetResult{
		{name: "nginx", kind: "nginx", samples: []sample{at(1, 60000), at(2, 50000), at(3, 70000)}},
		{name: "httputil", kind: "httputil", samples: []sample{at(1, 15000), at(3, 20000)}},
		{name: "trace10", kind: "faultline", samples: []sample{at(1, 48000), at(2, 42500), at(3, 49000)}},
	})
	tr := out[2]
	if r := tr.RoundsToNginx; r == nil || r.Min != 0.7 || r.Max != 0.85 {
		t.Errorf("round ratios to nginx %+v, want 0.70–0.85", r)
	}
	if r := tr.RoundsToHTTPUtil; r == nil || r.Min != 2.45 || r.Max != 3.2 {
		t.Errorf("round ratios to httputil %+v, want 2.45–3.20 (round 2 has no httputil)", r)
	}
	if out[0].RoundsToNginx != nil {
		t.Errorf("nginx has round ratios: %+v", out[0].RoundsToNginx)
	}
	var buf bytes.Buffer
	if err := writeMarkdown(&buf, report{Run: runInfo{Rounds: 3}, Targets: out}); err != nil {
		t.Fatal(err)
	}
	if want := "`trace10`, round by round: 0.70–0.85× nginx, 2.45–3.20× httputil"; !strings.Contains(buf.String(), want) {
		t.Errorf("markdown lacks %q:\n%s", want, buf.String())
	}
}

func TestWriteJSON(t *testing.T) {
	r := testReport()
	// A target that measured nothing has NaN medians, which encoding/json
	// refuses; they must come out as null.
	r.Targets = append(r.Targets, summarize([]targetResult{{name: "x", kind: "faultline"}})...)
	path := filepath.Join(t.TempDir(), "out.json")
	if err := writeJSON(path, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Run     map[string]any   `json:"run"`
		Targets []map[string]any `json:"targets"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if len(back.Targets) != 4 || back.Targets[1]["name"] != "nginx" || back.Targets[1]["ratio_to_direct"] != 0.5 {
		t.Errorf("unexpected targets: %v", back.Targets)
	}
	if back.Targets[3]["req_per_sec"] != nil {
		t.Errorf("unknown req/s = %v, want null", back.Targets[3]["req_per_sec"])
	}
}
