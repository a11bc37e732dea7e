package dashboards

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

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
				golden(t, filepath.Join("testdata", c.dir, filepath.FromSlash(f.Path)), f.Data)
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
	golden(t, filepath.Join("testdata", "queries.md"), buf.Bytes())
}

// golden compares got with the file name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run go test ./dashboards/ -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the generated output (run go test ./dashboards/ -update if the change is intended):\n%s",
			name, diff(string(want), string(got)))
	}
}

// diff is a line diff of a (the golden file) and b (the output): lines
// only in a start with "-", lines only in b with "+", and up to three
// lines of context surround each change.
func diff(a, b string) string {
	x := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	y := strings.Split(strings.TrimSuffix(b, "\n"), "\n")
	// Trim the common head and tail; the middle is usually small.
	head := 0
	for head < len(x) && head < len(y) && x[head] == y[head] {
		head++
	}
	tail := 0
	for tail < len(x)-head && tail < len(y)-head && x[len(x)-1-tail] == y[len(y)-1-tail] {
		tail++
	}
	mx, my := x[head:len(x)-tail], y[head:len(y)-tail]
	const maxCells = 4 << 20
	var ops []string
	if len(mx)*len(my) > maxCells {
		for _, l := range mx {
			ops = append(ops, "-"+l)
		}
		for _, l := range my {
			ops = append(ops, "+"+l)
		}
	} else {
		ops = lcsDiff(mx, my)
	}
	var out strings.Builder
	const context = 3
	for i := max(0, head-context); i < head; i++ {
		fmt.Fprintf(&out, " %s\n", x[i])
	}
	const maxLines = 200
	for i, op := range ops {
		if i == maxLines {
			fmt.Fprintf(&out, "… %d more lines\n", len(ops)-maxLines)
			break
		}
		out.WriteString(op + "\n")
	}
	for i := len(x) - tail; i < len(x) && i < len(x)-tail+context; i++ {
		fmt.Fprintf(&out, " %s\n", x[i])
	}
	return out.String()
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

func TestDiff(t *testing.T) {
	got := diff("a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nd\nE\nf\ng\nh\n")
	want := " b\n c\n d\n-e\n+E\n f\n g\n h\n"
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
}
