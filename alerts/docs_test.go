package alerts

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedRunbooksAreCurrent: docs/runbooks is where the default
// runbook_url points, so it must hold exactly what the generator writes.
// Regenerate with: faultline alerts --out /dev/null --runbooks docs/runbooks
func TestCommittedRunbooksAreCurrent(t *testing.T) {
	rbs, err := Runbooks(Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "docs", "runbooks")
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(rbs) {
		t.Errorf("docs/runbooks has %d files, the generator writes %d", len(entries), len(rbs))
	}
	for _, rb := range rbs {
		got, err := os.ReadFile(filepath.Join(dir, rb.FileName))
		if err != nil {
			t.Errorf("%s: %v", rb.FileName, err)
			continue
		}
		if string(got) != string(rb.Markdown) {
			t.Errorf("docs/runbooks/%s is stale: regenerate with 'faultline alerts --out /dev/null --runbooks docs/runbooks'", rb.FileName)
		}
	}
}
