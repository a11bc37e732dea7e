package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/bench/internal/procgroup"
)

// wrkResult is what one wrk run reports. Latencies are in microseconds.
type wrkResult struct {
	RequestsPerSec float64 `json:"requests_per_sec"`
	Requests       int64   `json:"requests"`
	ElapsedSec     float64 `json:"elapsed_sec"`
	P50us          float64 `json:"p50_us"`
	P75us          float64 `json:"p75_us"`
	P90us          float64 `json:"p90_us"`
	P99us          float64 `json:"p99_us"`
	// Errors counts socket errors (connect, read, write, timeout) and
	// responses outside 2xx/3xx; a clean run has none.
	Errors int64 `json:"errors"`
}

var (
	reReqPerSec  = regexp.MustCompile(`^Requests/sec:\s+([0-9.]+)\s*$`)
	reRequests   = regexp.MustCompile(`^(\d+) requests in ([0-9.]+)(us|ms|s|m|h),`)
	rePercentile = regexp.MustCompile(`^(50|75|90|99)(?:\.0+)?%\s+([0-9.]+)(us|ms|s|m|h)$`)
	reSocketErrs = regexp.MustCompile(`^Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)$`)
	reNon2xx     = regexp.MustCompile(`^Non-2xx or 3xx responses: (\d+)$`)
)

// unitMicros converts wrk's time units (see wrk's units.c) to microseconds.
var unitMicros = map[string]float64{"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}

// parseWrk reads the text wrk prints when run with --latency. It needs the
// Requests/sec line, the total request count and the 50% and 99% lines of the
// latency distribution; anything else it does not recognise is ignored.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveRPS, haveReqs, have50, have99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := reReqPerSec.FindStringSubmatch(line); m != nil {
			v, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				return r, fmt.Errorf("wrk: requests/sec %q: %w", m[1], err)
			}
			r.RequestsPerSec, haveRPS = v, true
			continue
		}
		if m := reRequests.FindStringSubmatch(line); m != nil {
			n, err := strconv.ParseInt(m[1], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk: request count %q: %w", m[1], err)
			}
			d, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				return r, fmt.Errorf("wrk: elapsed %q: %w", m[2], err)
			}
			r.Requests, r.ElapsedSec, haveReqs = n, d*unitMicros[m[3]]/1e6, true
			continue
		}
		if m := rePercentile.FindStringSubmatch(line); m != nil {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				return r, fmt.Errorf("wrk: %s%% latency %q: %w", m[1], m[2], err)
			}
			v *= unitMicros[m[3]]
			switch m[1] {
			case "50":
				r.P50us, have50 = v, true
			case "75":
				r.P75us = v
			case "90":
				r.P90us = v
			case "99":
				r.P99us, have99 = v, true
			}
			continue
		}
		if m := reSocketErrs.FindStringSubmatch(line); m != nil {
			for _, s := range m[1:] {
				n, _ := strconv.ParseInt(s, 10, 64) // \d+ always parses unless it overflows
				r.Errors += n
			}
			continue
		}
		if m := reNon2xx.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			r.Errors += n
		}
	}
	var missing []string
	if !haveRPS {
		missing = append(missing, "Requests/sec")
	}
	if !haveReqs {
		missing = append(missing, "request count")
	}
	if !have50 || !have99 {
		missing = append(missing, "latency distribution (was --latency given?)")
	}
	if len(missing) > 0 {
		return r, fmt.Errorf("wrk: output lacks %s", strings.Join(missing, ", "))
	}
	return r, nil
}

// wrkRun describes one wrk invocation.
type wrkRun struct {
	bin         string
	url         string
	threads     int
	connections int
	duration    time.Duration // whole seconds: wrk takes no fractions
}

// args returns wrk's command line, without the program name.
func (w wrkRun) args() []string {
	threads := min(w.threads, w.connections) // wrk refuses more threads than connections
	secs := max(int(w.duration.Round(time.Second)/time.Second), 1)
	return []string{
		"-t" + strconv.Itoa(threads),
		"-c" + strconv.Itoa(w.connections),
		"-d" + strconv.Itoa(secs) + "s",
		"--latency",
		w.url,
	}
}

// run runs wrk and parses its output. It gives up 20 s after the run should
// have ended, so that a wedged target cannot stall the whole comparison.
func (w wrkRun) run(ctx context.Context) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, w.duration+20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, w.args()...)
	out, err := cmd.CombinedOutput()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w", ctxErr)
	}
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, procgroup.LastLines(string(out), 3))
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return r, fmt.Errorf("%w; output: %s", err, procgroup.LastLines(string(out), 3))
	}
	if r.Requests == 0 {
		return r, errors.New("wrk: no request completed")
	}
	return r, nil
}
