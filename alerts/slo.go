package alerts

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// ExampleSLO is a commented SLO file: every key with its default, and two
// routes with objectives of their own (`faultline alerts --slo-example`).
//
//go:embed slo-example.yaml
var ExampleSLO []byte

// Defaults of an SLO, applied where a field is zero.
const (
	DefaultAvailabilityObjective = 99.9
	DefaultLatencyObjective      = 99.0
	DefaultLatencyThreshold      = 500 * time.Millisecond
	DefaultMinRequestRate        = 0.1
)

// DefaultErrorCodes are the response codes that count against availability
// unless an SLO says otherwise.
var DefaultErrorCodes = []string{"5xx"}

// SLO holds the service level objectives that the burn-rate alerts defend.
// Every field's zero value means its default, so SLO{} is the default: 99.9 %
// of requests without a 5xx and 99 % within 500 ms, over 30 days.
type SLO struct {
	// Availability is the objective for the share of requests that do not
	// fail. It covers every route that has no availability objective of its
	// own.
	Availability AvailabilityObjective
	// Latency is the objective for the share of requests answered within a
	// threshold. It covers every route that has no latency objective of its
	// own.
	Latency LatencyObjective
	// MinRequestRate is the request rate, per second, below which ratio
	// alerts stay silent, so that 1 failure in 3 requests at night does not
	// page. Zero means DefaultMinRequestRate.
	MinRequestRate float64
	// Routes give some routes objectives of their own. A route listed here
	// with an availability (latency) objective counts only against that one,
	// and its alerts carry its route label.
	Routes []RouteObjective
}

// AvailabilityObjective is the share of requests that must not fail.
type AvailabilityObjective struct {
	// Objective is a percentage, e.g. 99.9. Zero means the service's
	// objective, or DefaultAvailabilityObjective.
	Objective float64
	// ErrorCodes are the response codes that count as failures: a class
	// such as "5xx" or "4xx", or one code such as "429". Nil means the
	// service's codes, or DefaultErrorCodes.
	ErrorCodes []string
}

// LatencyObjective is the share of requests that must be answered within
// Threshold. Requests answered with one of the availability error codes are
// left out: they count against availability. So are upgraded connections
// (code 101, WebSocket): their duration is how long they stayed open.
type LatencyObjective struct {
	// Objective is a percentage, e.g. 99. Zero means the service's
	// objective, or DefaultLatencyObjective.
	Objective float64
	// Threshold must be one of metricnames.DurationBuckets, since the SLI
	// is read from the classic histogram buckets. Zero means the service's
	// threshold, or DefaultLatencyThreshold.
	Threshold time.Duration
}

// RouteObjective gives one route objectives of its own. A nil objective
// leaves the route under the service's objective for that SLI.
type RouteObjective struct {
	// Route is a route template as the sidecar labels it, e.g.
	// "/items/{item_id}".
	Route        string
	Availability *AvailabilityObjective
	Latency      *LatencyObjective
}

// sloFile is the YAML form of an SLO, kept apart from SLO so that the Go
// API holds time.Duration while the file may say "500ms" or 0.5.
type sloFile struct {
	Availability   *availabilityFile `yaml:"availability"`
	Latency        *latencyFile      `yaml:"latency"`
	MinRequestRate float64           `yaml:"min_request_rate"`
	Routes         []routeFile       `yaml:"routes"`
}

type availabilityFile struct {
	Objective  float64  `yaml:"objective"`
	ErrorCodes []string `yaml:"error_codes"`
}

type latencyFile struct {
	Objective float64   `yaml:"objective"`
	Threshold yaml.Node `yaml:"threshold"`
}

type routeFile struct {
	Route        string            `yaml:"route"`
	Availability *availabilityFile `yaml:"availability"`
	Latency      *latencyFile      `yaml:"latency"`
}

// ParseSLO reads an SLO from YAML (see the package documentation for the
// format) and validates it. Unknown keys are errors; empty input is the
// default SLO. Errors name the setting, e.g.
// "latency.threshold: 300ms is not a bucket bound ...".
func ParseSLO(data []byte) (SLO, error) {
	var f sloFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return SLO{}, fmt.Errorf("not a valid SLO file: %s", yamlMessage(err))
	}
	var slo SLO
	var err error
	if f.Availability != nil {
		slo.Availability = f.Availability.objective()
	}
	if f.Latency != nil {
		if slo.Latency, err = f.Latency.objective("latency"); err != nil {
			return SLO{}, err
		}
	}
	slo.MinRequestRate = f.MinRequestRate
	for i, r := range f.Routes {
		ro := RouteObjective{Route: r.Route}
		if r.Availability != nil {
			a := r.Availability.objective()
			ro.Availability = &a
		}
		if r.Latency != nil {
			l, err := r.Latency.objective(fmt.Sprintf("routes[%d].latency", i))
			if err != nil {
				return SLO{}, err
			}
			ro.Latency = &l
		}
		slo.Routes = append(slo.Routes, ro)
	}
	return slo, slo.Validate()
}

// yamlMessage drops the "yaml: " prefix and Go type names from a decoder
// error, which mean nothing to someone editing the file.
func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	return typeNameRE.ReplaceAllString(msg, "")
}

var typeNameRE = regexp.MustCompile(` (in|into)( type)? [\[\]*]*alerts\.\w+`)

func (a availabilityFile) objective() AvailabilityObjective {
	return AvailabilityObjective{Objective: a.Objective, ErrorCodes: a.ErrorCodes}
}

func (l latencyFile) objective(setting string) (LatencyObjective, error) {
	lo := LatencyObjective{Objective: l.Objective}
	if l.Threshold.Kind == 0 {
		return lo, nil
	}
	d, err := parseThreshold(l.Threshold)
	if err != nil {
		return lo, fmt.Errorf("%s.threshold: %w", setting, err)
	}
	lo.Threshold = d
	return lo, nil
}

// parseThreshold reads a duration ("500ms", "2.5s") or a number of seconds.
func parseThreshold(n yaml.Node) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, errors.New("want a duration such as 500ms")
	}
	if d, err := time.ParseDuration(n.Value); err == nil {
		return d, nil
	}
	secs, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) {
		return 0, fmt.Errorf("%q is not a duration such as 500ms", n.Value)
	}
	return time.Duration(math.Round(secs * float64(time.Second))), nil
}

// Validate reports the first invalid setting of s, named as in the YAML
// file ("routes[1].latency.threshold").
func (s SLO) Validate() error {
	if err := s.Availability.validate("availability"); err != nil {
		return err
	}
	if err := s.Latency.validate("latency"); err != nil {
		return err
	}
	if s.MinRequestRate < 0 || math.IsNaN(s.MinRequestRate) || math.IsInf(s.MinRequestRate, 0) {
		return fmt.Errorf("min_request_rate: %v is not a request rate per second (zero means %v)", s.MinRequestRate, DefaultMinRequestRate)
	}
	seen := map[string]int{}
	for i, r := range s.Routes {
		setting := fmt.Sprintf("routes[%d]", i)
		if err := validRoute(r.Route); err != nil {
			return fmt.Errorf("%s.route: %w", setting, err)
		}
		if j, ok := seen[r.Route]; ok {
			return fmt.Errorf("%s.route: %q is already listed as routes[%d]", setting, r.Route, j)
		}
		seen[r.Route] = i
		if r.Availability == nil && r.Latency == nil {
			return fmt.Errorf("%s: set availability or latency for route %q, or leave the route out", setting, r.Route)
		}
		if r.Availability != nil {
			if err := r.Availability.validate(setting + ".availability"); err != nil {
				return err
			}
		}
		if r.Latency != nil {
			if err := r.Latency.validate(setting + ".latency"); err != nil {
				return err
			}
		}
	}
	return nil
}

func validRoute(route string) error {
	switch {
	case route == "":
		return errors.New("must be set, e.g. /items/{item_id}")
	case route == metricnames.RouteOther || route == metricnames.RouteUnmatched:
		return nil
	case !strings.HasPrefix(route, "/"):
		return fmt.Errorf("%q is not a route template such as /items/{item_id}", route)
	}
	return nil
}

func (a AvailabilityObjective) validate(setting string) error {
	if err := validObjective(a.Objective); err != nil {
		return fmt.Errorf("%s.objective: %w", setting, err)
	}
	if a.ErrorCodes != nil && len(a.ErrorCodes) == 0 {
		return fmt.Errorf("%s.error_codes: list at least one code, e.g. [5xx]", setting)
	}
	for _, c := range a.ErrorCodes {
		if _, err := codePattern(c); err != nil {
			return fmt.Errorf("%s.error_codes: %w", setting, err)
		}
	}
	return nil
}

func (l LatencyObjective) validate(setting string) error {
	if err := validObjective(l.Objective); err != nil {
		return fmt.Errorf("%s.objective: %w", setting, err)
	}
	if l.Threshold == 0 {
		return nil
	}
	if _, ok := bucketBound(l.Threshold); !ok {
		bounds := make([]string, len(metricnames.DurationBuckets))
		for i, b := range metricnames.DurationBuckets {
			bounds[i] = secondsDuration(b).String()
		}
		return fmt.Errorf("%s.threshold: %v is not a bucket bound of %s; use one of %s",
			setting, l.Threshold, metricnames.HTTPRequestDuration, strings.Join(bounds, ", "))
	}
	return nil
}

// validObjective accepts zero (the default) and percentages from 50 up to,
// not including, 100. Below 50 a value is most likely a ratio (0.999) typed
// for a percentage, and the fast-burn alerts could never fire.
func validObjective(p float64) error {
	if p == 0 {
		return nil
	}
	if !(p >= 50 && p < 100) {
		return fmt.Errorf("%v is not a percentage from 50 to below 100, e.g. 99.9", p)
	}
	return nil
}

// bucketBound returns the bucket bound, in seconds, equal to d.
func bucketBound(d time.Duration) (float64, bool) {
	for _, b := range metricnames.DurationBuckets {
		if secondsDuration(b) == d {
			return b, true
		}
	}
	return 0, false
}

func secondsDuration(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}

var codeRE = regexp.MustCompile(`^[1-5]([0-9][0-9]|xx)$`)

// codePattern turns "5xx" into the regular expression "5.." and "429" into
// itself.
func codePattern(code string) (string, error) {
	c := strings.ToLower(strings.TrimSpace(code))
	if !codeRE.MatchString(c) {
		return "", fmt.Errorf("%q is not a status code (429) or class (5xx)", code)
	}
	return strings.ReplaceAll(c, "x", "."), nil
}

// objective is one resolved SLO: an SLI over the service's remaining routes
// or over one route, with every default applied.
type objective struct {
	sli   string // metricnames.SLIAvailability or metricnames.SLILatency
	route string // "" for the service
	// exclude lists routes with an objective of their own (service only).
	exclude []string
	// percent is the objective, e.g. 99.9.
	percent float64
	// errorCodes is a regular expression over the code label.
	errorCodes string
	// errorCodesText names the error codes for people: "5xx or 429".
	errorCodesText string
	// threshold is the latency bound in seconds (latency only).
	threshold float64
}

// budget is the allowed error ratio, e.g. 0.001 for 99.9 %, rounded so that
// float noise does not reach the rules.
func (o objective) budget() float64 {
	return roundSignificant((100 - o.percent) / 100)
}

// resolved applies the defaults and returns the service objectives first,
// then per-route ones in file order.
func (s SLO) resolved() (objectives []objective, minRate float64) {
	avail := s.Availability
	if avail.Objective == 0 {
		avail.Objective = DefaultAvailabilityObjective
	}
	if avail.ErrorCodes == nil {
		avail.ErrorCodes = DefaultErrorCodes
	}
	lat := s.Latency
	if lat.Objective == 0 {
		lat.Objective = DefaultLatencyObjective
	}
	if lat.Threshold == 0 {
		lat.Threshold = DefaultLatencyThreshold
	}
	minRate = s.MinRequestRate
	if minRate == 0 {
		minRate = DefaultMinRequestRate
	}

	var availExcl, latExcl []string
	for _, r := range s.Routes {
		if r.Availability != nil {
			availExcl = append(availExcl, r.Route)
		}
		if r.Latency != nil {
			latExcl = append(latExcl, r.Route)
		}
	}
	objectives = append(objectives,
		availabilityObjective("", availExcl, avail, avail),
		latencyObjective("", latExcl, lat, lat, avail.ErrorCodes))
	for _, r := range s.Routes {
		routeAvail := avail
		if r.Availability != nil {
			objectives = append(objectives, availabilityObjective(r.Route, nil, *r.Availability, avail))
			routeAvail = inheritAvailability(*r.Availability, avail)
		}
		if r.Latency != nil {
			objectives = append(objectives, latencyObjective(r.Route, nil, *r.Latency, lat, routeAvail.ErrorCodes))
		}
	}
	return objectives, minRate
}

func inheritAvailability(a, parent AvailabilityObjective) AvailabilityObjective {
	if a.Objective == 0 {
		a.Objective = parent.Objective
	}
	if a.ErrorCodes == nil {
		a.ErrorCodes = parent.ErrorCodes
	}
	return a
}

func availabilityObjective(route string, exclude []string, a, parent AvailabilityObjective) objective {
	a = inheritAvailability(a, parent)
	re, text := errorCodes(a.ErrorCodes)
	return objective{
		sli:            metricnames.SLIAvailability,
		route:          route,
		exclude:        exclude,
		percent:        a.Objective,
		errorCodes:     re,
		errorCodesText: text,
	}
}

func latencyObjective(route string, exclude []string, l, parent LatencyObjective, codes []string) objective {
	if l.Objective == 0 {
		l.Objective = parent.Objective
	}
	if l.Threshold == 0 {
		l.Threshold = parent.Threshold
	}
	bound, _ := bucketBound(l.Threshold)
	re, text := errorCodes(codes)
	return objective{
		sli:            metricnames.SLILatency,
		route:          route,
		exclude:        exclude,
		percent:        l.Objective,
		errorCodes:     re,
		errorCodesText: text,
		threshold:      bound,
	}
}

// errorCodes returns a regular expression over the code label and a text
// for people, both in a stable order without duplicates.
func errorCodes(codes []string) (re, text string) {
	var pats, names []string
	for _, c := range codes {
		p, err := codePattern(c)
		if err != nil || slices.Contains(pats, p) {
			continue
		}
		pats = append(pats, p)
		names = append(names, strings.ToLower(strings.TrimSpace(c)))
	}
	return strings.Join(pats, "|"), strings.Join(names, " or ")
}

// roundSignificant rounds v to 10 significant digits.
func roundSignificant(v float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 10, 64), 64)
	return r
}
