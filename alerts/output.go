package alerts

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Format is the form of the rules output.
type Format string

// Formats.
const (
	// FormatRules is a Prometheus rule file (rule_files, promtool check rules).
	FormatRules Format = "rules"
	// FormatPrometheusRule is a prometheus-operator PrometheusRule resource.
	FormatPrometheusRule Format = "prometheusrule"
)

// Formats lists every Format.
var Formats = []Format{FormatRules, FormatPrometheusRule}

// FileName is the name of the output in a directory given as --out.
func (f Format) FileName() string {
	if f == FormatPrometheusRule {
		return "faultline-prometheusrule.yaml"
	}
	return "faultline-rules.yaml"
}

// Encode returns g in format f; the empty Format is FormatRules.
func Encode(g RuleGroups, f Format) ([]byte, error) {
	switch f {
	case FormatRules, "":
		return MarshalRules(g)
	case FormatPrometheusRule:
		return MarshalPrometheusRule(NewPrometheusRule(g, ""))
	}
	return nil, fmt.Errorf("alerts: unknown format %q", f)
}

// WriteOutput writes data to out and returns where it went: "-" is stdout;
// an existing directory, or a path ending in a separator, receives a file
// named name; anything else is the file itself. Files are replaced
// atomically, so that a Prometheus reloading its rules never reads half a
// file.
func WriteOutput(out, name string, data []byte, stdout io.Writer) (string, error) {
	if out == "-" {
		_, err := stdout.Write(data)
		return "standard output", err
	}
	path := out
	if strings.HasSuffix(out, "/") || strings.HasSuffix(out, string(filepath.Separator)) {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return "", err
		}
		path = filepath.Join(out, name)
	} else if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		path = filepath.Join(out, name)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, writeFileAtomic(path, data)
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path. A path that exists and is not a regular file (/dev/null, a
// named pipe) is written directly.
func writeFileAtomic(path string, data []byte) error {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return os.WriteFile(path, data, 0o644)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
