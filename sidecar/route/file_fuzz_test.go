package route

import (
	"strings"
	"testing"
)

// FuzzRoutesFile feeds the --routes file parser hostile text and YAML
// (anchors, aliases, tags, deep nesting): it never panics; an error names
// the file; and every template it returns compiles and is matched by a
// path made from it.
//
// The seed corpus is in testdata/fuzz/FuzzRoutesFile; run for example
//
//	go test -run '^$' -fuzz FuzzRoutesFile -fuzztime 1m ./sidecar/route/
func FuzzRoutesFile(f *testing.F) {
	for _, s := range []string{
		"/items/{item_id}\n/files/{p:path}  # files\n",
		"routes:\n  - /a/{id}\n  - /b\n",
		"- /a\n- /b/{x:int}\n",
		"---\nroutes: null\n",
		"routes: &a [*a]\n",
		"- &x /a\n- *x\n",
		"- !!binary L2E=\n",
		"routes:\n  - [/nested]\n",
		"# only a comment\n\n",
		"/a/{\n",
		"- " + strings.Repeat("[", 500) + "\n",
		"routes: {a: b}\nother: 1\n",
		"\xef\xbb\xbf/bom\n",
		"/a\r\n/b\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		templates, err := parseRoutesFile("routes.yaml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "routes.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		tab, err := Compile(templates)
		if err != nil {
			// Two templates may clash (the same path twice); each alone
			// must compile.
			for _, tpl := range templates {
				if _, err := Compile([]string{tpl}); err != nil {
					t.Fatalf("parseRoutesFile took %q, which does not compile: %v", tpl, err)
				}
			}
			return
		}
		for _, tpl := range templates {
			if got, ok := tab.Match(instantiate(tpl)); !ok {
				t.Fatalf("template %q does not match %q (got %q)", tpl, instantiate(tpl), got)
			}
		}
	})
}
