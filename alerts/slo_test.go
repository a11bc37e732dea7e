package alerts

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseSLO(t *testing.T) {
	slo, err := ParseSLO(ExampleSLO)
	if err != nil {
		t.Fatal(err)
	}
	want := SLO{
		Availability:   AvailabilityObjective{Objective: 99.9, ErrorCodes: []string{"5xx"}},
		Latency:        LatencyObjective{Objective: 99, Threshold: 500 * time.Millisecond},
		MinRequestRate: 0.1,
		Routes: []RouteObjective{
			{Route: "/payments/{payment_id}", Availability: &AvailabilityObjective{Objective: 99.95}},
			{Route: "/reports/{report_id}", Latency: &LatencyObjective{Threshold: 2500 * time.Millisecond}},
		},
	}
	if got, want := describeSLO(slo), describeSLO(want); got != want {
		t.Errorf("ParseSLO(ExampleSLO) =\n%s\nwant\n%s", got, want)
	}

	// The example spells out the defaults: its service rules are those of
	// an empty file.
	empty, err := ParseSLO([]byte("# nothing set\n"))
	if err != nil {
		t.Fatal(err)
	}
	fromExample, _ := (SLO{Availability: slo.Availability, Latency: slo.Latency, MinRequestRate: slo.MinRequestRate}).resolved()
	fromEmpty, _ := empty.resolved()
	if describeObjectives(fromExample) != describeObjectives(fromEmpty) {
		t.Errorf("the example's service objectives differ from the defaults:\n%s\n%s", describeObjectives(fromExample), describeObjectives(fromEmpty))
	}
}

func describeSLO(s SLO) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(strings.ReplaceAll(fmtAny(s.Availability)+" "+fmtAny(s.Latency)+" "+fmtAny(s.MinRequestRate), "  ", " ")))
	for _, r := range s.Routes {
		b.WriteString("\n" + r.Route)
		if r.Availability != nil {
			b.WriteString(" availability " + fmtAny(*r.Availability))
		}
		if r.Latency != nil {
			b.WriteString(" latency " + fmtAny(*r.Latency))
		}
	}
	return b.String()
}

func describeObjectives(os []objective) string {
	var b strings.Builder
	for _, o := range os {
		b.WriteString(fmtAny(o) + "\n")
	}
	return b.String()
}

func TestParseSLOThresholdForms(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"500ms": 500 * time.Millisecond,
		"0.5":   500 * time.Millisecond,
		"2.5s":  2500 * time.Millisecond,
		"1":     time.Second,
		"10s":   10 * time.Second,
		"1ms":   time.Millisecond,
	} {
		slo, err := ParseSLO([]byte("latency:\n  threshold: " + in + "\n"))
		if err != nil || slo.Latency.Threshold != want {
			t.Errorf("threshold %s: %v, %v; want %v", in, slo.Latency.Threshold, err, want)
		}
	}
}

func TestParseSLOErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"threshold off the buckets", "latency:\n  threshold: 300ms\n",
			"latency.threshold: 300ms is not a bucket bound of faultline_http_request_duration_seconds; use one of 1ms, 2.5ms, 5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s, 2.5s, 5s, 10s"},
		{"route threshold off the buckets", "routes:\n  - route: /r\n    latency:\n      threshold: 2s\n", "routes[0].latency.threshold: 2s is not a bucket bound"},
		{"threshold not a duration", "latency:\n  threshold: fast\n", `latency.threshold: "fast" is not a duration`},
		{"threshold a list", "latency:\n  threshold: [1s]\n", "latency.threshold: want a duration"},
		{"ratio for a percentage", "availability:\n  objective: 0.999\n", "availability.objective: 0.999 is not a percentage from 50 to below 100"},
		{"hundred percent", "latency:\n  objective: 100\n", "latency.objective: 100 is not a percentage"},
		{"bad error code", "availability:\n  error_codes: [5xx, 5x]\n", `availability.error_codes: "5x" is not a status code (429) or class (5xx)`},
		{"no error codes", "availability:\n  error_codes: []\n", "availability.error_codes: list at least one code"},
		{"negative rate", "min_request_rate: -1\n", "min_request_rate: -1 is not a request rate"},
		{"unknown key", "availabilty:\n  objective: 99\n", "field availabilty not found"},
		{"unknown nested key", "latency:\n  treshold: 1s\n", "field treshold not found"},
		{"route without objectives", "routes:\n  - route: /r\n", `routes[0]: set availability or latency for route "/r"`},
		{"route not a template", "routes:\n  - route: items\n    latency: {}\n", `routes[0].route: "items" is not a route template`},
		{"route missing", "routes:\n  - latency: {}\n", "routes[0].route: must be set"},
		{"route twice", "routes:\n  - route: /r\n    latency: {}\n  - route: /r\n    latency: {}\n", `routes[1].route: "/r" is already listed as routes[0]`},
		{"route objective", "routes:\n  - route: /r\n    availability:\n      objective: 20\n", "routes[0].availability.objective: 20 is not a percentage"},
		{"not a map", "- 1\n", "not a valid SLO file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSLO([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseSLO: %v\nwant an error containing %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "alerts.") {
				t.Errorf("error names a Go type: %v", err)
			}
		})
	}
}

func TestRouteObjectivesInherit(t *testing.T) {
	slo, err := ParseSLO([]byte(`
availability:
  objective: 99.5
  error_codes: [5xx, 429]
latency:
  objective: 95
  threshold: 1s
routes:
  - route: /a
    latency:
      threshold: 250ms
  - route: /b
    availability:
      error_codes: [5xx]
    latency: {}
`))
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := slo.resolved()
	got := map[string]objective{}
	for _, o := range objs {
		got[o.sli+" "+o.route] = o
	}
	check := func(key string, percent float64, codes string, threshold float64, exclude string) {
		t.Helper()
		o, ok := got[key]
		if !ok {
			t.Fatalf("no objective %q", key)
		}
		if o.percent != percent || o.errorCodes != codes || o.threshold != threshold || strings.Join(o.exclude, ",") != exclude {
			t.Errorf("%s: %v%% codes %q threshold %v exclude %q; want %v%% %q %v %q", key, o.percent, o.errorCodes, o.threshold, o.exclude, percent, codes, threshold, exclude)
		}
	}
	check("availability ", 99.5, "5..|429", 0, "/b")
	check("latency ", 95, "5..|429", 1, "/a,/b")
	check("latency /a", 95, "5..|429", 0.25, "")
	check("availability /b", 99.5, "5..", 0, "")
	check("latency /b", 95, "5..", 1, "")
	if len(objs) != 5 {
		t.Errorf("%d objectives, want 5", len(objs))
	}
}

func FuzzParseSLO(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("latency:\n  threshold: 0.5\n"))
	f.Add([]byte("availability:\n  objective: 99.99\n  error_codes: [5xx, 429]\nroutes:\n  - route: /a/{b}\n    latency: {threshold: 10s}\n"))
	f.Add([]byte("routes:\n  - route: '/x|y.*'\n    availability: {}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		slo, err := ParseSLO(data)
		if err != nil {
			return
		}
		// Whatever ParseSLO accepts, Generate turns into valid rules.
		if _, err := Generate(Options{SLO: slo}); err != nil {
			t.Fatalf("ParseSLO accepted %q, Generate failed: %v", data, err)
		}
	})
}

func fmtAny(v any) string { return fmt.Sprintf("%+v", v) }
