package alerts

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// Runbook is the Markdown runbook of one alert.
type Runbook struct {
	Alert string
	// FileName is Alert + ".md", the name the runbook URL template expects.
	FileName string
	Markdown []byte
}

//go:embed runbook.md.tmpl
var runbookTemplate string

var runbookTmpl = template.Must(template.New("runbook").
	Funcs(template.FuncMap{"add1": func(i int) int { return i + 1 }}).
	Parse(runbookTemplate))

// runbookData is what runbook.md.tmpl reads.
type runbookData struct {
	Alert, Severity, FiresWhen, Meaning string
	Checks, Causes                      []string
	DashboardName, DashboardURL         string
	Matchers, Silence                   string
	// MinRequestRate is set for ratio alerts only.
	MinRequestRate string
}

// Runbooks returns one runbook per alert that Generate writes, in the order
// of the rules, with dashboard links built from opts.
func Runbooks(opts Options) ([]Runbook, error) {
	r, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	b := &builder{r: r}
	var out []Runbook
	for _, d := range runbookDocs() {
		url := b.dashboardURL(d.dashboard, false)
		if d.routeVar {
			url = strings.Replace(b.dashboardURL(d.dashboard, true), "{{ $labels.route | urlquery }}", "ROUTE", 1)
		}
		minRate := ""
		if d.ratio {
			minRate = num(r.minRate)
		}
		var buf bytes.Buffer
		err := runbookTmpl.Execute(&buf, runbookData{
			Alert:          d.alert,
			Severity:       d.severity,
			FiresWhen:      d.firesWhen,
			Meaning:        d.meaning,
			Checks:         d.checks,
			Causes:         d.causes,
			DashboardName:  d.dashboard,
			DashboardURL:   url,
			Matchers:       d.matchers,
			Silence:        d.silence,
			MinRequestRate: minRate,
		})
		if err != nil {
			return nil, fmt.Errorf("alerts: runbook %s: %w", d.alert, err)
		}
		out = append(out, Runbook{Alert: d.alert, FileName: d.alert + ".md", Markdown: buf.Bytes()})
	}
	return out, nil
}

// WriteRunbooks writes each runbook into dir, creating it if needed, and
// returns the paths written.
func WriteRunbooks(dir string, runbooks []Runbook) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("alerts: runbooks: %w", err)
	}
	var paths []string
	for _, rb := range runbooks {
		p := filepath.Join(dir, rb.FileName)
		if err := writeFileAtomic(p, rb.Markdown); err != nil {
			return paths, fmt.Errorf("alerts: runbooks: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
