// These tests hold the generated rules to the upstream definitions:
// Prometheus' own rulefmt parser and validation, and prometheus-operator's
// PrometheusRule type, decoded strictly.

package alerts

import (
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	k8syaml "sigs.k8s.io/yaml"
)

// TestUpstreamRulefmt checks that the rule files parse strictly into
// rulefmt.RuleGroups and pass its validation with the 2.x name rules.
func TestUpstreamRulefmt(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			data, err := Encode(generate(t, c), FormatRules)
			if err != nil {
				t.Fatal(err)
			}
			groups, errs := rulefmt.Parse(data, false, model.LegacyValidation, parser.NewParser(parser.Options{}), logger)
			for _, err := range errs {
				t.Error(err)
			}
			if groups == nil || len(groups.Groups) != 4 {
				t.Fatalf("rulefmt.Parse: %v", groups)
			}
			for _, g := range groups.Groups {
				if g.Labels != nil || g.QueryOffset != nil {
					t.Errorf("group %s has labels or query_offset", g.Name)
				}
			}
		})
	}
}

// TestUpstreamPrometheusRule checks that the PrometheusRule decodes
// strictly into monitoringv1.PrometheusRule and encodes back to the same
// document.
func TestUpstreamPrometheusRule(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			data, err := Encode(generate(t, c), FormatPrometheusRule)
			if err != nil {
				t.Fatal(err)
			}
			var pr monitoringv1.PrometheusRule
			if err := k8syaml.UnmarshalStrict(data, &pr); err != nil {
				t.Fatalf("monitoringv1.PrometheusRule: %v", err)
			}
			if pr.Kind != monitoringv1.PrometheusRuleKind || pr.APIVersion != monitoringv1.SchemeGroupVersion.String() {
				t.Errorf("kind %q apiVersion %q", pr.Kind, pr.APIVersion)
			}
			theirs, err := k8syaml.Marshal(pr)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := asJSON(t, data), asJSON(t, theirs); !reflect.DeepEqual(a["spec"], b["spec"]) {
				t.Errorf("spec changes through monitoringv1:\nours   %v\ntheirs %v", a["spec"], b["spec"])
			}
		})
	}
}

func asJSON(t *testing.T, y []byte) map[string]any {
	t.Helper()
	j, err := k8syaml.YAMLToJSON(y)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
