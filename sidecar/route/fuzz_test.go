package route

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// The seed corpora are in testdata/fuzz/<FuzzName>/; run for example
//
//	go test -run '^$' -fuzz FuzzMatch -fuzztime 30s ./sidecar/route/

// FuzzMatch checks that whatever the path, Match returns a bounded label:
// a template of the Table, the path's collapsed form (printable ASCII, at
// most MaxCollapsedLen bytes), RouteOther or RouteUnmatched.
func FuzzMatch(f *testing.F) {
	f.Add("/items/42")
	f.Add("/files//a/b/")
	tab, err := Compile(append(shopTemplates, "/r/{name}.json", "/n/{id:int}", "/u/{id:uuid}", "/f/{x:float}"))
	if err != nil {
		f.Fatal(err)
	}
	m := NewMatcher(Options{MaxRoutes: 10})
	m.SetTemplates(tab)
	f.Fuzz(func(t *testing.T, path string) {
		got := m.Match(path)
		p := cutQuery(path)
		if s, ok := tab.Match(p); ok {
			if got != s {
				t.Fatalf("Match(%q) = %q, but the Table says %q", path, got, s)
			}
			return
		}
		switch got {
		case metricnames.RouteOther:
			return
		case metricnames.RouteUnmatched:
			if p != "" && p[0] == '/' {
				t.Fatalf("Match(%q) = %q", path, got)
			}
			return
		}
		if len(got) > MaxCollapsedLen {
			t.Fatalf("Match(%q) = %q, %d bytes, longer than %d", path, got, len(got), MaxCollapsedLen)
		}
		if want := string(collapse(nil, p)); got != want {
			t.Fatalf("Match(%q) = %q, want the collapsed form %q", path, got, want)
		}
		for i := 0; i < len(got); i++ {
			if got[i] <= ' ' || got[i] >= 0x7f {
				t.Fatalf("Match(%q) = %q: byte %q is not printable ASCII", path, got, got[i])
			}
		}
	})
}

func cutQuery(p string) string {
	p, _, _ = strings.Cut(p, "?")
	return p
}

// FuzzCompile checks that Compile never panics, that a template it takes
// matches a path made from it, and that matching any path against it
// returns that template or nothing.
func FuzzCompile(f *testing.F) {
	f.Add("/items/{item_id}", "/items/1")
	f.Add("/r/{a}-{b}.json", "/r/x-y.json")
	f.Fuzz(func(t *testing.T, template, path string) {
		tab, err := Compile([]string{template})
		if err != nil {
			if !strings.Contains(err.Error(), "route: template ") {
				t.Fatalf("Compile(%q) error %q does not name the template", template, err)
			}
			return
		}
		if !utf8.ValidString(template) {
			t.Fatalf("Compile took %q, which is not valid UTF-8", template)
		}
		if got, ok := tab.Match(path); ok && got != template {
			t.Fatalf("Match(%q) = %q, want %q or nothing", path, got, template)
		}
		inst := instantiate(template)
		if got, ok := tab.Match(inst); !ok || got != template {
			t.Fatalf("Match(%q) = %q, %v; want %q", inst, got, ok, template)
		}
	})
}

// instantiate returns a path that template matches: each parameter is
// replaced by a value its convertor takes.
func instantiate(template string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(template, '{')
		if i < 0 {
			b.WriteString(template)
			return b.String()
		}
		j := strings.IndexByte(template[i:], '}')
		b.WriteString(template[:i])
		if strings.HasSuffix(template[i:i+j], ":uuid") {
			b.WriteString("123e4567-e89b-12d3-a456-426614174000")
		} else {
			b.WriteString("1")
		}
		template = template[i+j+1:]
	}
}

// FuzzParseOpenAPI checks that no document makes ParseOpenAPI panic, and
// that what it returns goes through the compiler and the matcher.
func FuzzParseOpenAPI(f *testing.F) {
	f.Add([]byte(`{"openapi":"3.0.2","info":{"title":"x","version":"1"},"paths":{"/a/{id}":{}}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		templates, err := ParseOpenAPI(doc)
		if err != nil {
			return
		}
		tab, _ := compileSkipping(templates)
		m := NewMatcher(Options{MaxRoutes: 5})
		m.SetTemplates(tab)
		for _, p := range templates {
			if got := m.Match(p); len(got) > MaxCollapsedLen && !tabHas(tab, got) {
				t.Fatalf("Match(%q) = %q", p, got)
			}
		}
	})
}
