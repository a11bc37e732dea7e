// Package testkit holds what the end-to-end and reliability suites share:
// reading a live /metrics into comparable samples, and a buffer a child
// process writes while the test reads it.
package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Samples maps a series, written `name{k="v",...}` with sorted labels, to
// its value. Histograms give their _count and _sum series.
type Samples map[string]float64

// noKeepAlive scrapes without leaving an idle connection (or a goroutine)
// behind, so that leak checks stay exact.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// Scrape reads metricsURL + "/metrics" in the text format.
func Scrape(metricsURL string) (Samples, error) {
	resp, err := noKeepAlive.Get(metricsURL + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	out := Samples{}
	for name, f := range fams {
		for _, m := range f.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				out[Key(name, labels)] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[Key(name, labels)] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[Key(name+"_count", labels)] = float64(m.Histogram.GetSampleCount())
				out[Key(name+"_sum", labels)] = m.Histogram.GetSampleSum()
			case m.Untyped != nil:
				out[Key(name, labels)] = m.Untyped.GetValue()
			}
		}
	}
	return out, nil
}

// Key writes a series as Samples keys it.
func Key(name string, labels map[string]string) string {
	if len(labels) == 0 {
		return name
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name + "{")
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, labels[k])
	}
	b.WriteByte('}')
	return b.String()
}

// Sum adds the series of name whose labels include every pair of match
// (given as `k="v"`).
func (s Samples) Sum(name string, match ...string) float64 {
	var total float64
	for k, v := range s {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, m := range match {
			if !strings.Contains(k, m) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// Distinct returns the distinct values of label among the series of name.
func (s Samples) Distinct(name, label string) map[string]bool {
	out := map[string]bool{}
	for k := range s {
		if !strings.HasPrefix(k, name+"{") {
			continue
		}
		for _, part := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(k, name+"{"), "}"), "\",") {
			if v, ok := strings.CutPrefix(part, label+"=\""); ok {
				out[strings.TrimSuffix(v, "\"")] = true
			}
		}
	}
	return out
}

// Buffer is a bytes.Buffer safe for a writer and a reader at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Lines returns the complete lines written so far.
func (s *Buffer) Lines() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// Serving is the line faultline logs once it serves: the addresses it
// bound (Admin empty when the admin API is off).
type Serving struct{ Msg, Listen, Metrics, Admin string }

// ServingLine finds the serving line in faultline's stderr.
func ServingLine(stderr string) (Serving, bool) {
	for line := range strings.Lines(stderr) {
		var l Serving
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "faultline serving" {
			return l, true
		}
	}
	return Serving{}, false
}
