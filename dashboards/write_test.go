package dashboards

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestRenderFileNames(t *testing.T) {
	boards, err := Build(Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[Format][]string{
		"":         {"faultline-overview.json", "faultline-troubleshooting.json", "faultline-slo.json"},
		FormatJSON: {"faultline-overview.json", "faultline-troubleshooting.json", "faultline-slo.json"},
		FormatConfigMap: {"faultline-overview.configmap.yaml", "faultline-troubleshooting.configmap.yaml",
			"faultline-slo.configmap.yaml"},
		FormatProvisioning: {"dashboards/faultline-overview.json", "dashboards/faultline-troubleshooting.json",
			"dashboards/faultline-slo.json", "provisioning/dashboards/faultline.yaml"},
	}
	for format, want := range cases {
		files, err := Render(boards, Output{Format: format})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range files {
			got = append(got, f.Path)
		}
		if !slices.Equal(got, want) {
			t.Errorf("format %q: files %q, want %q", format, got, want)
		}
	}
	if _, err := Render(boards, Output{Format: "yaml"}); err == nil {
		t.Error("Render accepted an unknown format")
	}
	if _, err := Render(nil, Output{}); err == nil {
		t.Error("Render accepted no boards")
	}
}

func TestConfigMap(t *testing.T) {
	boards, err := Build(Options{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := Render(boards, Output{Format: FormatConfigMap, Namespace: "monitoring"})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		var cm struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Metadata   struct {
				Name        string            `yaml:"name"`
				Namespace   string            `yaml:"namespace"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Data map[string]string `yaml:"data"`
		}
		if err := yaml.Unmarshal(f.Data, &cm); err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || cm.Metadata.Namespace != "monitoring" {
			t.Errorf("%s: %+v", f.Path, cm)
		}
		if cm.Metadata.Labels[ConfigMapLabel] != "1" {
			t.Errorf("%s: labels %v lack %s: \"1\"", f.Path, cm.Metadata.Labels, ConfigMapLabel)
		}
		if cm.Metadata.Annotations[FolderAnnotation] != DefaultFolder {
			t.Errorf("%s: annotations %v", f.Path, cm.Metadata.Annotations)
		}
		want, _ := boards[i].JSON()
		if got := cm.Data[boards[i].UID+".json"]; got != string(want) {
			t.Errorf("%s: the ConfigMap does not hold the dashboard JSON as is", f.Path)
		}
	}
}

func TestProvider(t *testing.T) {
	boards, err := Build(Options{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := Render(boards, Output{Format: FormatProvisioning, Folder: "SRE", ProvisioningPath: "/srv/dashboards"})
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Folder  string `yaml:"folder"`
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(files[len(files)-1].Data, &p); err != nil {
		t.Fatal(err)
	}
	if p.APIVersion != 1 || len(p.Providers) != 1 || p.Providers[0].Folder != "SRE" ||
		p.Providers[0].Type != "file" || p.Providers[0].Options.Path != "/srv/dashboards" {
		t.Errorf("provider %+v", p)
	}
}

func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	files := []File{{Path: "a.json", Data: []byte("{}\n")}, {Path: "sub/dir/b.yaml", Data: []byte("b: 1\n")}}
	if err := WriteFiles(dir, files); err != nil {
		t.Fatal(err)
	}
	// Writing again replaces the files.
	files[0].Data = []byte("{\"v\": 2}\n")
	if err := WriteFiles(dir, files); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("%s: %q, %v", f.Path, got, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	for _, bad := range []string{"", "../x.json", "/etc/x.json"} {
		if err := WriteFiles(dir, []File{{Path: bad}}); err == nil {
			t.Errorf("WriteFiles accepted the path %q", bad)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range Formats {
		if got, err := ParseFormat(string(f)); err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %q, %v", f, got, err)
		}
	}
	if _, err := ParseFormat("JSON"); err == nil {
		t.Error("ParseFormat accepted JSON in capitals")
	}
}
