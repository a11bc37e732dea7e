package route

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// shopTemplates are the routes of the FastAPI app in testdata, with the
// file route as a routes file would give it.
var shopTemplates = []string{
	"/",
	"/health",
	"/items/",
	"/items/latest",
	"/items/{item_id}",
	"/users/me",
	"/users/{user_id}",
	"/users/{user_id}/orders/{order_id}",
	"/files/{file_path:path}",
	"/token",
}

func TestTableMatch(t *testing.T) {
	tests := []struct {
		name      string
		templates []string
		path      string
		want      string // "" for no match
	}{
		{"root", shopTemplates, "/", "/"},
		{"static", shopTemplates, "/health", "/health"},
		{"static with trailing slash", shopTemplates, "/items/", "/items/"},
		{"static wins over parameter", shopTemplates, "/items/latest", "/items/latest"},
		{"parameter", shopTemplates, "/items/42", "/items/{item_id}"},
		{"parameter takes any text", shopTemplates, "/items/abc", "/items/{item_id}"},
		{"static wins, users", shopTemplates, "/users/me", "/users/me"},
		{"two parameters", shopTemplates, "/users/7/orders/9", "/users/{user_id}/orders/{order_id}"},
		{"path parameter, one segment", shopTemplates, "/files/a.txt", "/files/{file_path:path}"},
		{"path parameter, many segments", shopTemplates, "/files/home/jo/a.txt", "/files/{file_path:path}"},
		{"path parameter, empty", shopTemplates, "/files/", "/files/{file_path:path}"},
		{"path parameter, leading empty segment", shopTemplates, "/files//etc/passwd", "/files/{file_path:path}"},
		{"path parameter needs its slash, lenient", shopTemplates, "/files", "/files/{file_path:path}"},
		{"too deep", shopTemplates, "/items/1/2", ""},
		{"unknown", shopTemplates, "/nope", ""},
		{"empty segment is no parameter", shopTemplates, "/users//orders/9", ""},
		{"not a path", shopTemplates, "items", ""},
		{"empty", shopTemplates, "", ""},

		{"lenient: slash added", shopTemplates, "/health/", "/health"},
		{"lenient: slash missing", shopTemplates, "/items", "/items/"},
		{"lenient: parameter with slash", shopTemplates, "/items/42/", "/items/{item_id}"},
		{"strict match wins over lenient",
			[]string{"/a/b/", "/a/{x}"}, "/a/b", "/a/{x}"},
		{"both forms exist",
			[]string{"/a", "/a/"}, "/a/", "/a/"},

		{"backtrack from static dead end",
			[]string{"/a/b/c", "/a/{x}/d"}, "/a/b/d", "/a/{x}/d"},
		{"backtrack to path parameter",
			[]string{"/a/{x}/c", "/a/{rest:path}"}, "/a/b/d", "/a/{rest:path}"},
		{"int convertor",
			[]string{"/n/{id:int}", "/n/{name}"}, "/n/12", "/n/{id:int}"},
		{"int convertor refuses text",
			[]string{"/n/{id:int}", "/n/{name}"}, "/n/x12", "/n/{name}"},
		{"int convertor only",
			[]string{"/n/{id:int}"}, "/n/-1", ""},
		{"float convertor",
			[]string{"/f/{x:float}"}, "/f/3.25", "/f/{x:float}"},
		{"float convertor integer",
			[]string{"/f/{x:float}"}, "/f/3", "/f/{x:float}"},
		{"float convertor refuses",
			[]string{"/f/{x:float}"}, "/f/3.", ""},
		{"uuid convertor",
			[]string{"/u/{id:uuid}"}, "/u/123e4567-e89b-12d3-a456-426614174000", "/u/{id:uuid}"},
		{"uuid convertor is lower case",
			[]string{"/u/{id:uuid}"}, "/u/123E4567-E89B-12D3-A456-426614174000", ""},
		{"str convertor",
			[]string{"/s/{x:str}"}, "/s/x", "/s/{x:str}"},
		{"mixed segment",
			[]string{"/r/{name}.json", "/r/{name}"}, "/r/a.json", "/r/{name}.json"},
		{"mixed segment needs a value",
			[]string{"/r/{name}.json", "/r/{name}"}, "/r/.json", "/r/{name}"},
		{"mixed segment prefix",
			[]string{"/api/v{version}/ping"}, "/api/v2/ping", "/api/v{version}/ping"},
		{"mixed segment two parameters",
			[]string{"/d/{a}-{b}"}, "/d/x-y-z", "/d/{a}-{b}"},
		{"mixed segment two parameters refuses",
			[]string{"/d/{a}-{b}"}, "/d/xy-", ""},
		{"more literal text first",
			[]string{"/m/{a}.{b}", "/m/{a}.tar.{b}"}, "/m/x.tar.gz", "/m/{a}.tar.{b}"},
		{"first of equivalent templates wins",
			[]string{"/e/{a}", "/e/{b}"}, "/e/1", "/e/{a}"},
		{"root only",
			[]string{"/"}, "/x", ""},
		{"root path parameter",
			[]string{"/{p:path}"}, "/anything/at/all", "/{p:path}"},
		{"root path parameter, root",
			[]string{"/{p:path}"}, "/", "/{p:path}"},
		{"unicode",
			[]string{"/café/{x}"}, "/café/1", "/café/{x}"},
		{"case sensitive",
			[]string{"/Items"}, "/items", ""},
		{"no templates", nil, "/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := Compile(tt.templates)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := tab.Match(tt.path)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("Match(%q) = %q, %v; want %q", tt.path, got, ok, tt.want)
			}
		})
	}
}

func TestTableMatchOrderIndependent(t *testing.T) {
	fwd, err := Compile(shopTemplates)
	if err != nil {
		t.Fatal(err)
	}
	rev := make([]string, len(shopTemplates))
	for i, s := range shopTemplates {
		rev[len(rev)-1-i] = s
	}
	bwd, err := Compile(rev)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/items/latest", "/items/1", "/users/me", "/users/1/orders/2", "/files/a/b"} {
		a, _ := fwd.Match(p)
		b, _ := bwd.Match(p)
		if a != b {
			t.Errorf("Match(%q): %q in one order, %q in the other", p, a, b)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		template string
		reason   string // a part of the error
	}{
		{"", "empty"},
		{"items", `does not start with "/"`},
		{"/a//b", "empty segment"},
		{"//", "empty segment"},
		{"/a/{", `unclosed "{"`},
		{"/a/}", `unbalanced "}"`},
		{"/a/{}", "not an identifier"},
		{"/a/{1x}", "not an identifier"},
		{"/a/{x-y}", "not an identifier"},
		{"/a/{x:bogus}", `unknown convertor "bogus"`},
		{"/a/{x}/{x}", `duplicate parameter "x"`},
		{"/a/{p:path}/b", "must be the last segment"},
		{"/a/{p:path}/", "must be the last segment"},
		{"/a/x{p:path}", "must be the whole segment"},
		{"/a b", "not allowed"},
		{"/a?b=1", "not allowed"},
		{"/a\x00", "not allowed"},
		{"/\xff", "not valid UTF-8"},
		{"/" + strings.Repeat("a", MaxTemplateLen), "longer than"},
		{"/a/{a}{b}{c}{d}{e}{f}{g}{h}{i}", "more than 8 parameters"},
	}
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			_, err := Compile([]string{"/ok", tt.template})
			var te *TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("Compile(%q) error = %v, want a *TemplateError", tt.template, err)
			}
			if te.Template != tt.template || !strings.Contains(err.Error(), tt.reason) ||
				!strings.Contains(err.Error(), fmt.Sprintf("%q", tt.template)) {
				t.Errorf("Compile(%q) error = %q, want it to name the template and say %q", tt.template, err, tt.reason)
			}
		})
	}
}

func TestTableTemplates(t *testing.T) {
	tab, err := Compile([]string{"/b", "/a/{x}", "/b", "/a/{y}", "/c/{p:path}", "/c/{q:path}"})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(tab.Templates())
	if want := "[/a/{x} /b /c/{p:path}]"; got != want {
		t.Errorf("Templates() = %s, want %s", got, want)
	}
	if tab.Len() != 3 {
		t.Errorf("Len() = %d, want 3", tab.Len())
	}
	var nilTable *Table
	if nilTable.Len() != 0 || nilTable.Templates() != nil {
		t.Error("nil Table is not empty")
	}
	if s, ok := nilTable.Match("/b"); ok || s != "" {
		t.Errorf("nil Table matched %q", s)
	}
}

func TestTableMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector may allocate")
	}
	tab, err := Compile(benchTemplates())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range benchPaths {
		if n := testing.AllocsPerRun(100, func() { tab.Match(p) }); n != 0 {
			t.Errorf("Match(%q) allocates %v times", p, n)
		}
	}
}

// benchTemplates returns 50 templates shaped like a mid-sized FastAPI app.
func benchTemplates() []string {
	var ts []string
	for _, r := range []string{"items", "users", "orders", "invoices", "products", "carts", "shipments", "reviews"} {
		ts = append(ts,
			"/api/v1/"+r+"/",
			"/api/v1/"+r+"/{id}",
			"/api/v1/"+r+"/{id}/history",
			"/api/v1/"+r+"/{id}/comments/{comment_id}",
			"/api/v1/"+r+"/search",
			"/api/v2/"+r+"/{id:int}",
		)
	}
	return append(ts, "/health", "/files/{file_path:path}")
}

var benchPaths = []string{
	"/health",                            // static, exact map
	"/api/v1/orders/",                    // static, exact map
	"/api/v1/reviews/12345",              // one parameter
	"/api/v1/shipments/987/comments/654", // two parameters, deep
	"/api/v2/products/42",                // int convertor
	"/files/a/b/c.txt",                   // path parameter
	"/api/v1/reviews/12345/",             // lenient second pass
	"/nope/nothing/here",                 // miss
}

func BenchmarkTableMatch(b *testing.B) {
	tab, err := Compile(benchTemplates())
	if err != nil {
		b.Fatal(err)
	}
	if tab.Len() != 50 {
		b.Fatalf("%d templates, want 50", tab.Len())
	}
	for _, p := range benchPaths {
		b.Run(strings.ReplaceAll(p, "/", "_"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tab.Match(p)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	ts := benchTemplates()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(ts); err != nil {
			b.Fatal(err)
		}
	}
}
