package dashboards

import (
	"bytes"
	"fmt"
	"github.com/faultline-dev/faultline/internal/golden"
	"path/filepath"
	"testing"
	"time"
)

// fullOptions sets every option, so that the golden files show each one.
var fullOptions = Options{
	DatasourceUID:      "prom-uid",
	DatasourceName:     "Prometheus (prod)",
	TitlePrefix:        "[prod]",
	Tags:               []string{"prod", "faultline", "fastapi"},
	CaptureURL:         "https://captures.example.com/faultline/",
	TraceDatasourceUID: "tempo-uid",
	LatencyThreshold:   time.Second,
}

func TestGolden(t *testing.T) {
	cases := []struct {
		dir  string
		opts Options
		out  Output
	}{
		{"json", Options{}, Output{}},
		{"configmap", fullOptions, Output{Format: FormatConfigMap, Namespace: "monitoring", Folder: "Faultline (prod)"}},
		{"provisioning", Options{}, Output{Format: FormatProvisioning}},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			boards, err := Build(c.opts)
			if err != nil {
				t.Fatal(err)
			}
			files, err := Render(boards, c.out)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				golden.Assert(t, filepath.Join("testdata", c.dir, filepath.FromSlash(f.Path)), f.Data)
			}
		})
	}
}

// TestGoldenQueries lists every query with default variable values: the
// list an end-to-end test runs against a real Prometheus, and an easy read
// for a reviewer of a change to the boards.
func TestGoldenQueries(t *testing.T) {
	boards, err := Build(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, b := range boards {
		fmt.Fprintf(&buf, "# %s\n\n", b.UID)
		for _, q := range Queries(b, Values{}) {
			kind := "range"
			if q.Instant {
				kind = "instant"
			}
			fmt.Fprintf(&buf, "## %d%s %s (%s)\n", q.PanelID, q.RefID, q.Panel, kind)
			if q.EmptyWhenHealthy != "" {
				fmt.Fprintf(&buf, "empty when healthy: %s\n", q.EmptyWhenHealthy)
			}
			if q.RecordingRules {
				fmt.Fprintf(&buf, "needs the SLO recording rules\n")
			}
			fmt.Fprintf(&buf, "%s\n\n", q.Expr)
		}
	}
	golden.Assert(t, filepath.Join("testdata", "queries.md"), buf.Bytes())
}

// lcsDiff diffs by a longest common subsequence, keeping unchanged lines
// as context.
func lcsDiff(x, y []string) []string {
	n, m := len(x), len(y)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			ops = append(ops, " "+x[i])
			i, j = i+1, j+1
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, "-"+x[i])
			i++
		default:
			ops = append(ops, "+"+y[j])
			j++
		}
	}
	return ops
}
