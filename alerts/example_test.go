package alerts_test

import (
	"fmt"
	"log"

	"github.com/faultline-dev/faultline/alerts"
)

// Generate the default rules for one job and count them.
func ExampleGenerate() {
	g, err := alerts.Generate(alerts.Options{Selector: `{job="shop"}`})
	if err != nil {
		log.Fatal(err)
	}
	recording, alerting := g.Counts()
	fmt.Println(recording, "recording rules,", alerting, "alerting rules")
	for _, grp := range g.Groups {
		fmt.Println(grp.Name, len(grp.Rules))
	}
	// Output:
	// 18 recording rules, 17 alerting rules
	// faultline-slo-recording 18
	// faultline-slo-burn-rate 8
	// faultline-routes 3
	// faultline-sidecar 6
}

// An SLO with a stricter objective for one route. The threshold must be
// a bucket bound of the duration histogram.
func ExampleParseSLO() {
	slo, err := alerts.ParseSLO([]byte(`
availability:
  objective: 99.5
latency:
  threshold: 1s
routes:
  - route: /payments/{payment_id}
    availability:
      objective: 99.95
`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(slo.Availability.Objective, slo.Latency.Threshold, slo.Routes[0].Route, slo.Routes[0].Availability.Objective)

	_, err = alerts.ParseSLO([]byte("latency:\n  threshold: 300ms\n"))
	fmt.Println(err)
	// Output:
	// 99.5 1s /payments/{payment_id} 99.95
	// latency.threshold: 300ms is not a bucket bound of faultline_http_request_duration_seconds; use one of 1ms, 2.5ms, 5ms, 10ms, 25ms, 50ms, 100ms, 250ms, 500ms, 1s, 2.5s, 5s, 10s
}
