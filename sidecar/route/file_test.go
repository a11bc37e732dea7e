package route

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"lines", "# shop routes\n\n/items/{item_id}   # item page\n  /files/{file_path:path}\n/health\n",
			[]string{"/items/{item_id}", "/files/{file_path:path}", "/health"}},
		{"lines, CRLF", "/a\r\n/b/{x}\r\n", []string{"/a", "/b/{x}"}},
		{"YAML list", "# shop\n- /items/{item_id}\n- \"/files/{file_path:path}\"\n", []string{"/items/{item_id}", "/files/{file_path:path}"}},
		{"YAML routes key", "routes:\n  - /items/{item_id}\n  - /users/{user_id}/orders/{order_id} # nested\n",
			[]string{"/items/{item_id}", "/users/{user_id}/orders/{order_id}"}},
		{"YAML document marker", "---\nroutes: ['/a', '/b/{c}']\n", []string{"/a", "/b/{c}"}},
		{"YAML empty routes", "routes:\n", nil},
		{"empty", "", nil},
		{"comments only", "# nothing yet\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadFile(writeFile(t, tt.content))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("LoadFile() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string // the error after "route: <file>"
	}{
		{"bad template on a line", "/a\n\n/b/{\n", `:3: template "/b/{": segment "{": unclosed "{"`},
		{"relative template", "/a\nitems\n", `:2: template "items": does not start with "/"`},
		{"bad template in YAML", "routes:\n  - /a\n  - /a//b\n", `:3: template "/a//b": empty segment ("//")`},
		{"not a string in YAML", "- /a\n- [1]\n", ":2: want a template string"},
		{"number in YAML", "- /a\n- 12\n", ":2: want a template string"},
		{"unknown key", "routes:\n  - /a\nroute:\n  - /b\n", `:3: unknown key "route" (want routes)`},
		{"routes not a list", "routes: /a\n", ":1: want a list of templates"},
		{"YAML syntax", "- /a\n- [\n", ": yaml: line 2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.content)
			_, err := LoadFile(path)
			if err == nil || !strings.HasPrefix(err.Error(), "route: "+path+tt.want) {
				t.Errorf("LoadFile() error = %v\nwant it to start with %q", err, "route: "+path+tt.want)
			}
		})
	}
	_, err := LoadFile(filepath.Join(t.TempDir(), "missing.txt"))
	if err == nil || !strings.Contains(err.Error(), "missing.txt") {
		t.Errorf("LoadFile(missing) error = %v, want it to name the file", err)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "routes.txt")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
