package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// sample is one round of one target.
type sample struct {
	Round      int       `json:"round"`
	Throughput wrkResult `json:"throughput"` // --connections connections
	Latency    wrkResult `json:"latency"`    // one connection
	// CPUSeconds is the proxy's user+system CPU time during the throughput
	// run, all its processes; nil for direct.
	CPUSeconds *float64 `json:"cpu_seconds,omitempty"`
	// PeakRSSKiB is the sum of VmHWM over the proxy's processes after the
	// throughput run: the peak since start, not of this round alone.
	PeakRSSKiB *int64 `json:"peak_rss_kib,omitempty"`
}

// summary is one target's line of the report: medians across rounds. A nil
// value is unknown or not applicable (no nginx in the run, direct has no
// proxy process).
type summary struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Skipped string   `json:"skipped,omitempty"`
	Notes   []string `json:"notes,omitempty"`
	Rounds  int      `json:"rounds_measured"`

	ReqPerSec     *float64 `json:"req_per_sec"`
	RatioToNginx  *float64 `json:"ratio_to_nginx"`
	RatioToDirect *float64 `json:"ratio_to_direct"`
	P50C1us       *float64 `json:"p50_us_1conn"`
	P99C1us       *float64 `json:"p99_us_1conn"`
	AddedP50C1us  *float64 `json:"added_p50_us_1conn_vs_direct"`
	P50CNus       *float64 `json:"p50_us_nconn"`
	P99CNus       *float64 `json:"p99_us_nconn"`
	CPUPerReqUs   *float64 `json:"cpu_us_per_request"`
	PeakRSSMiB    *float64 `json:"peak_rss_mib"`
	// Errors is the sum of wrk's socket errors and non-2xx/3xx responses over
	// all measured runs.
	Errors int64 `json:"errors"`
	// For a TLS twin (NAME-tls, with --tls) measured beside NAME: what
	// terminating TLS adds to NAME's CPU/req and p50 @1, and its req/s
	// over NAME's.
	TLSAddedCPUus   *float64 `json:"tls_added_cpu_us_per_request,omitempty"`
	TLSAddedP50C1us *float64 `json:"tls_added_p50_us_1conn,omitempty"`
	TLSRatioToPlain *float64 `json:"tls_ratio_to_plain,omitempty"`
	// For a faultline target: the lowest and highest of its req/s over
	// nginx's and over httputil's in the same round. On a shared, noisy
	// machine the rounds move together, so these say more than the ratio
	// of two medians taken from different rounds.
	RoundsToNginx    *span `json:"round_ratios_to_nginx,omitempty"`
	RoundsToHTTPUtil *span `json:"round_ratios_to_httputil,omitempty"`

	Samples []sample `json:"samples"`
}

// span is the range of a ratio across rounds.
type span struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// roundRatios is the range over the rounds both measured of a's req/s over
// b's; nil when they share no round.
func roundRatios(a, b []sample) *span {
	byRound := map[int]float64{}
	for _, x := range b {
		byRound[x.Round] = x.Throughput.RequestsPerSec
	}
	var r *span
	for _, x := range a {
		d, ok := byRound[x.Round]
		if !ok || d <= 0 {
			continue
		}
		v := x.Throughput.RequestsPerSec / d
		if r == nil {
			r = &span{v, v}
		}
		r.Min, r.Max = min(r.Min, v), max(r.Max, v)
	}
	return r
}

// targetResult is what the rounds collected for one target.
type targetResult struct {
	name, kind string
	skipped    string
	notes      []string
	samples    []sample
}

// summarize reduces each target's samples to medians and relates them to the
// targets named "nginx" and "direct" when those were measured. Ratios and the
// added latency are taken between medians. A TLS twin (NAME-tls) is compared
// with "nginx-tls" for × nginx, and with NAME for what TLS adds.
func summarize(results []targetResult) []summary {
	out := make([]summary, 0, len(results))
	type med struct{ rps, p50c1, cpu float64 }
	meds := map[string]med{}
	for _, r := range results {
		s := summary{Name: r.name, Kind: r.kind, Skipped: r.skipped, Notes: r.notes, Rounds: len(r.samples), Samples: r.samples}
		var rps, p50c1, p99c1, p50cn, p99cn, cpu, rss []float64
		for _, x := range r.samples {
			rps = append(rps, x.Throughput.RequestsPerSec)
			p50cn = append(p50cn, x.Throughput.P50us)
			p99cn = append(p99cn, x.Throughput.P99us)
			p50c1 = append(p50c1, x.Latency.P50us)
			p99c1 = append(p99c1, x.Latency.P99us)
			if x.CPUSeconds != nil && x.Throughput.Requests > 0 {
				cpu = append(cpu, *x.CPUSeconds*1e6/float64(x.Throughput.Requests))
			}
			if x.PeakRSSKiB != nil {
				rss = append(rss, float64(*x.PeakRSSKiB)/1024)
			}
			s.Errors += x.Throughput.Errors + x.Latency.Errors
		}
		m := med{median(rps), median(p50c1), median(cpu)}
		meds[r.name] = m
		s.ReqPerSec, s.P50C1us = opt(m.rps), opt(m.p50c1)
		s.P99C1us, s.P50CNus, s.P99CNus = opt(median(p99c1)), opt(median(p50cn)), opt(median(p99cn))
		s.CPUPerReqUs, s.PeakRSSMiB = opt(median(cpu)), opt(maxOf(rss))
		out = append(out, s)
	}
	direct, haveDirect := meds["direct"]
	samples := map[string][]sample{}
	for _, r := range results {
		samples[r.name] = r.samples
	}
	for i := range out {
		if out[i].Kind == "faultline" {
			out[i].RoundsToNginx = roundRatios(samples[out[i].Name], samples["nginx"])
			out[i].RoundsToHTTPUtil = roundRatios(samples[out[i].Name], samples["httputil"])
		}
		m := meds[out[i].Name]
		nginxName := "nginx"
		if plain, ok := strings.CutSuffix(out[i].Name, "-tls"); ok {
			nginxName = "nginx-tls"
			if p, ok := meds[plain]; ok {
				out[i].TLSAddedCPUus = opt(diff(m.cpu, p.cpu))
				out[i].TLSAddedP50C1us = opt(diff(m.p50c1, p.p50c1))
				out[i].TLSRatioToPlain = opt(ratio(m.rps, p.rps))
			}
		}
		if nginx, ok := meds[nginxName]; ok {
			out[i].RatioToNginx = opt(ratio(m.rps, nginx.rps))
		}
		if haveDirect {
			out[i].RatioToDirect = opt(ratio(m.rps, direct.rps))
			out[i].AddedP50C1us = opt(diff(m.p50c1, direct.p50c1))
		}
	}
	return out
}

// opt turns NaN (unknown) into nil, for JSON and for the table.
func opt(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// runInfo describes the run, printed above the table and kept in the JSON.
type runInfo struct {
	Started            string            `json:"started"`
	Rounds             int               `json:"rounds"`
	Connections        int               `json:"connections"`
	Threads            int               `json:"threads"`
	DurationSec        int               `json:"duration_sec"`
	LatencyDurationSec int               `json:"latency_duration_sec"`
	WarmupSec          int               `json:"warmup_sec"`
	Path               string            `json:"path"`
	CPUs               int               `json:"cpus"`
	Kernel             string            `json:"kernel,omitempty"`
	GoVersion          string            `json:"go_version"`
	Tools              map[string]string `json:"tools"`
}

// report is the JSON document written by --json.
type report struct {
	Run     runInfo   `json:"run"`
	Targets []summary `json:"targets"`
}

// writeJSON writes the report to path.
func writeJSON(path string, r report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("json: %w", err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeMarkdown writes the table and its notes, ready to paste into a README.
func writeMarkdown(w io.Writer, r report) error {
	ri := r.Run
	var b strings.Builder
	fmt.Fprintf(&b, "Medians of %d round(s); throughput: `wrk -t%d -c%d -d%ds`, latency: `wrk -t1 -c1 -d%ds`; `GET %s`; %d CPUs shared by wrk, proxy and upstream; %s.\n\n",
		ri.Rounds, min(ri.Threads, ri.Connections), ri.Connections, ri.DurationSec, ri.LatencyDurationSec, ri.Path, ri.CPUs, ri.Started)
	n := strconv.Itoa(ri.Connections)
	fmt.Fprintf(&b, "| target | req/s @%s | × nginx | × direct | p50 @1 | p99 @1 | added p50 @1 | p50 @%s | p99 @%s | CPU/req | peak RSS |\n", n, n, n)
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	var notes []string
	for _, s := range r.Targets {
		if s.Skipped != "" && s.Rounds == 0 {
			notes = append(notes, fmt.Sprintf("`%s` skipped: %s", s.Name, s.Skipped))
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			s.Name, fmtCount(s.ReqPerSec), fmtRatio(s.RatioToNginx), fmtRatio(s.RatioToDirect),
			fmtLatency(s.P50C1us), fmtLatency(s.P99C1us), fmtAdded(s.AddedP50C1us, s.Name == "direct"),
			fmtLatency(s.P50CNus), fmtLatency(s.P99CNus), fmtCPU(s.CPUPerReqUs), fmtMiB(s.PeakRSSMiB))
		if s.Skipped != "" {
			notes = append(notes, fmt.Sprintf("`%s` stopped early: %s", s.Name, s.Skipped))
		}
		if s.Rounds < ri.Rounds {
			notes = append(notes, fmt.Sprintf("`%s`: %d of %d rounds measured", s.Name, s.Rounds, ri.Rounds))
		}
		if s.Errors > 0 {
			notes = append(notes, fmt.Sprintf("`%s`: wrk reported %d socket errors or non-2xx/3xx responses", s.Name, s.Errors))
		}
		for _, note := range s.Notes {
			notes = append(notes, fmt.Sprintf("`%s`: %s", s.Name, note))
		}
		if s.RoundsToNginx != nil || s.RoundsToHTTPUtil != nil {
			var parts []string
			if r := s.RoundsToNginx; r != nil {
				parts = append(parts, fmt.Sprintf("%.2f–%.2f× nginx", r.Min, r.Max))
			}
			if r := s.RoundsToHTTPUtil; r != nil {
				parts = append(parts, fmt.Sprintf("%.2f–%.2f× httputil", r.Min, r.Max))
			}
			notes = append(notes, fmt.Sprintf("`%s`, round by round: %s", s.Name, strings.Join(parts, ", ")))
		}
		if s.TLSRatioToPlain != nil {
			plain := strings.TrimSuffix(s.Name, "-tls")
			notes = append(notes, fmt.Sprintf("`%s`: terminating TLS adds %s CPU/req and %s p50 @1 to `%s`, at %s its req/s; × nginx compares with `nginx-tls`",
				s.Name, fmtCPU(s.TLSAddedCPUus), fmtLatency(s.TLSAddedP50C1us), plain, fmtRatio(s.TLSRatioToPlain)))
		}
	}
	b.WriteString("\n")
	b.WriteString("× nginx, × direct: ratio of req/s. Added p50 @1: p50 at one connection minus direct's. CPU/req: the proxy's user+system CPU time (all its processes) during the throughput run over the requests wrk completed. Peak RSS: VmHWM summed over the proxy's processes.\n")
	if len(ri.Tools) > 0 {
		b.WriteString("\nTools: ")
		first := true
		for _, k := range []string{"wrk", "nginx", "haproxy", "caddy", "go"} {
			if v := ri.Tools[k]; v != "" {
				if !first {
					b.WriteString("; ")
				}
				b.WriteString(v)
				first = false
			}
		}
		b.WriteString(".\n")
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

const dash = "—"

// fmtCount formats a rate with thousands separators: 71621.04 -> "71,621".
func fmtCount(x *float64) string {
	if x == nil {
		return dash
	}
	s := strconv.FormatInt(int64(math.Round(*x)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtRatio formats a ratio: 0.5 -> "0.50×".
func fmtRatio(x *float64) string {
	if x == nil {
		return dash
	}
	return fmt.Sprintf("%.2f×", *x)
}

// fmtLatency formats microseconds in the unit that keeps 2-3 significant digits.
func fmtLatency(us *float64) string {
	if us == nil {
		return dash
	}
	v := *us
	switch a := math.Abs(v); {
	case a < 1000:
		return fmt.Sprintf("%.0f µs", v)
	case a < 1e6:
		return fmt.Sprintf("%.2f ms", v/1e3)
	default:
		return fmt.Sprintf("%.2f s", v/1e6)
	}
}

// fmtAdded formats an added latency with its sign; the baseline itself shows
// a dash.
func fmtAdded(us *float64, baseline bool) string {
	if us == nil || baseline {
		return dash
	}
	if *us >= 0 {
		return "+" + fmtLatency(us)
	}
	return fmtLatency(us) // carries its minus sign
}

// fmtCPU formats CPU microseconds per request.
func fmtCPU(us *float64) string {
	if us == nil {
		return dash
	}
	return fmt.Sprintf("%.1f µs", *us)
}

// fmtMiB formats mebibytes.
func fmtMiB(x *float64) string {
	if x == nil {
		return dash
	}
	return fmt.Sprintf("%.1f MiB", *x)
}
