package route

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// LoadFile reads a routes file, the --routes flag, and returns its
// templates in file order. Every template is checked as Compile would, and
// an error names the file and the line.
//
// The file is either YAML, a list of templates or a mapping whose only key
// "routes" holds that list:
//
//	routes:
//	  - /items/{item_id}
//	  - /files/{file_path:path}
//
// or plain text, one template per line, where "#" starts a comment:
//
//	/items/{item_id}   # the item page
//	/files/{file_path:path}
//
// A file whose first line that is neither blank nor a comment starts with
// "- ", "routes:" or "---" is read as YAML.
func LoadFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("route: %w", err)
	}
	return parseRoutesFile(path, data)
}

func parseRoutesFile(name string, data []byte) ([]string, error) {
	if looksLikeYAML(data) {
		return parseRoutesYAML(name, data)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		s, _, _ := strings.Cut(sc.Text(), "#")
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if _, err := parseTemplate(s); err != nil {
			return nil, fmt.Errorf("route: %s:%d: template %q: %w", name, line, s, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("route: %s: %w", name, err)
	}
	return out, nil
}

func looksLikeYAML(data []byte) bool {
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		return bytes.Equal(line, []byte("-")) || bytes.HasPrefix(line, []byte("- ")) ||
			bytes.HasPrefix(line, []byte("-\t")) || bytes.HasPrefix(line, []byte("routes:")) ||
			bytes.HasPrefix(line, []byte("---"))
	}
	return false
}

func parseRoutesYAML(name string, data []byte) ([]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml.v3 errors say "yaml: line N: ...".
		return nil, fmt.Errorf("route: %s: %w", name, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	list := doc.Content[0]
	if list.Kind == yaml.MappingNode {
		var routes *yaml.Node
		for i := 0; i+1 < len(list.Content); i += 2 {
			k, v := list.Content[i], list.Content[i+1]
			if k.Value != "routes" {
				return nil, fmt.Errorf("route: %s:%d: unknown key %q (want routes)", name, k.Line, k.Value)
			}
			routes = v
		}
		if routes == nil || routes.Tag == "!!null" {
			return nil, nil
		}
		list = routes
	}
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("route: %s:%d: want a list of templates", name, list.Line)
	}
	out := make([]string, 0, len(list.Content))
	for _, item := range list.Content {
		if item.Kind != yaml.ScalarNode || item.Tag != "!!str" {
			return nil, fmt.Errorf("route: %s:%d: want a template string", name, item.Line)
		}
		if _, err := parseTemplate(item.Value); err != nil {
			return nil, fmt.Errorf("route: %s:%d: template %q: %w", name, item.Line, item.Value, err)
		}
		out = append(out, item.Value)
	}
	return out, nil
}
