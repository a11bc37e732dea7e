package alerts

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	k8syaml "sigs.k8s.io/yaml"
)

// promtool returns the path of promtool. Without it the test fails, since
// CI installs it; -short skips instead.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if testing.Short() {
			t.Skip("promtool is not installed; skipped with -short")
		}
		t.Fatal("promtool is not on PATH: install it (Debian: apt-get install prometheus) or run go test -short")
	}
	return path
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestPromtoolCheckRules runs `promtool check rules` on every output: the
// rule files, and the groups inside the PrometheusRule resources.
func TestPromtoolCheckRules(t *testing.T) {
	promtool(t)
	dir := t.TempDir()
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			g := generate(t, c)
			rules, err := Encode(g, FormatRules)
			if err != nil {
				t.Fatal(err)
			}
			cr, err := Encode(g, FormatPrometheusRule)
			if err != nil {
				t.Fatal(err)
			}
			spec := specOf(t, cr)
			for name, data := range map[string][]byte{"rules": rules, "prometheusrule-spec": spec} {
				path := filepath.Join(dir, c.name+"."+name+".yaml")
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
				runPromtool(t, "check", "rules", path)
			}
		})
	}
}

// specOf returns the spec of a PrometheusRule as a rule file: the operator
// hands exactly that to Prometheus.
func specOf(t *testing.T, cr []byte) []byte {
	t.Helper()
	var pr struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Metadata   map[string]any `json:"metadata"`
		Spec       map[string]any `json:"spec"`
	}
	if err := k8syaml.UnmarshalStrict(cr, &pr); err != nil {
		t.Fatalf("PrometheusRule: %v", err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" {
		t.Errorf("PrometheusRule has apiVersion %q and kind %q", pr.APIVersion, pr.Kind)
	}
	spec, err := yaml.Marshal(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestPromtoolTestRules runs the rule unit tests in testdata/tests.
func TestPromtoolTestRules(t *testing.T) {
	promtool(t)
	files, err := filepath.Glob(filepath.Join("testdata", "tests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule tests in testdata/tests: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			runPromtool(t, "test", "rules", f)
		})
	}
}

// ruleTestFile is the part of a promtool test file the coverage test reads.
type ruleTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestRuleTestsCoverEveryAlert checks that every alert has a unit test in
// which it fires, with its labels and annotations, and test groups in which
// it stays silent (healthy, low and no traffic).
func TestRuleTestsCoverEveryAlert(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "tests", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	firing := map[string]int{}
	silentGroups := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tf ruleTestFile
		if err := yaml.Unmarshal(data, &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, rf := range tf.RuleFiles {
			if !strings.HasPrefix(rf, "../golden/") || !strings.HasSuffix(rf, ".rules.yaml") {
				t.Errorf("%s: rule file %s is not a golden output", f, rf)
			}
		}
		for _, tg := range tf.Tests {
			silentHere := map[string]bool{}
			for _, at := range tg.AlertRuleTest {
				if len(at.ExpAlerts) == 0 {
					silentHere[at.Alertname] = true
					continue
				}
				for _, ea := range at.ExpAlerts {
					firing[at.Alertname]++
					if ea.ExpLabels[LabelSeverity] == "" {
						t.Errorf("%s: %s at %s: expected alert without severity", f, at.Alertname, at.EvalTime)
					}
					for _, k := range []string{AnnotationSummary, AnnotationDescription, AnnotationRunbookURL, AnnotationDashboardURL} {
						if ea.ExpAnnotations[k] == "" {
							t.Errorf("%s: %s at %s: expected alert without %s", f, at.Alertname, at.EvalTime, k)
						}
					}
				}
			}
			for a := range silentHere {
				silentGroups[a]++
			}
		}
	}
	var alerts []string
	for _, c := range goldenCases {
		for _, grp := range generate(t, c).Groups {
			for _, r := range grp.Rules {
				if r.Alert != "" && !slices.Contains(alerts, r.Alert) {
					alerts = append(alerts, r.Alert)
				}
			}
		}
	}
	for _, a := range alerts {
		if firing[a] == 0 {
			t.Errorf("%s never fires in testdata/tests", a)
		}
		if silentGroups[a] < 3 {
			t.Errorf("%s is silent in %d test groups, want healthy, low and no traffic at least", a, silentGroups[a])
		}
	}
}
