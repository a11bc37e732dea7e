package dashboards

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestPromtool has the queries checked by the Prometheus the users run:
// every query becomes a recording rule, and `promtool check rules` parses
// it with that version's parser and functions (Debian's is 2.42). The test
// is skipped where promtool is not installed (apt-get install prometheus).
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed")
	}
	version, _ := exec.Command(promtool, "--version").CombinedOutput()
	t.Logf("%s", strings.SplitN(string(version), "\n", 2)[0])

	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for _, opts := range optionSets {
		boards, err := Build(opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range boards {
			for _, q := range Queries(b, sentinel) {
				rules = append(rules, rule{
					Record: fmt.Sprintf("faultline_dashboard_check:%s:%d%s", strings.ReplaceAll(b.UID, "-", "_"), q.PanelID, q.RefID),
					Expr:   q.Expr,
				})
			}
		}
	}
	data, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "queries.rules.yaml")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// --lint=none: the same query appears once per option set.
	out, err := exec.Command(promtool, "check", "rules", "--lint=none", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	t.Logf("promtool checked %d queries", len(rules))
}
