package route

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

func TestMatcherMatch(t *testing.T) {
	tab, err := Compile(shopTemplates)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatcher(Options{})
	m.SetTemplates(tab)
	tests := []struct {
		path, want string
	}{
		// Templates.
		{"/items/42", "/items/{item_id}"},
		{"/items/42?q=1", "/items/{item_id}"},
		{"/items/latest", "/items/latest"},
		{"/files/a/b", "/files/{file_path:path}"},
		{"/", "/"},
		// The heuristic, one placeholder each.
		{"/orders/42", "/orders/{id}"},
		{"/orders/0042/lines/7", "/orders/{id}/lines/{id}"},
		{"/orders/123e4567-e89b-12d3-a456-426614174000", "/orders/{uuid}"},
		{"/orders/123E4567-E89B-12D3-A456-426614174000", "/orders/{uuid}"},
		{"/blobs/9f86d081884c7d659a2feaa0c55ad015", "/blobs/{hex}"},
		{"/blobs/deadbeefdeadbeef", "/blobs/{hex}"},
		{"/blobs/deadbeef", "/blobs/deadbeef"},
		{"/report/2024-01-31", "/report/{date}"},
		{"/report/2024-01-31T10:00:00Z", "/report/{date}"},
		{"/report/2024-01-31x", "/report/2024-01-31x"},
		{"/people/jo.doe+x@example.com/avatar", "/people/{email}/avatar"},
		{"/people/@handle", "/people/@handle"},
		{"/reset/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "/reset/{token}"},
		{"/reset/AbCdEfGh1234567890Xy", "/reset/{token}"},
		{"/reset/abcdefghijklmnopqrstuvwxyz", "/reset/abcdefghijklmnopqrstuvwxyz"},
		{"/reset/" + strings.Repeat("word-", 9), "/reset/{token}"},
		{"/search/hello world", "/search/{token}"},
		{"/search/caf\u00e9", "/search/{token}"},
		{"/search/\xff", "/search/{token}"},
		// Words, versions and short codes stay.
		{"/api/v2/status", "/api/v2/status"},
		{"/static/app.css", "/static/app.css"},
		// Shape.
		{"/a/b/c/d/e/f/g/h", "/a/b/c/d/e/f/..."},
		{"/a/b/c/d/e/f", "/a/b/c/d/e/f"},
		{"/a/b/c/d/e/f/", "/a/b/c/d/e/f/"},
		{"/a/b/c/d/e/f//", "/a/b/c/d/e/f/..."},
		{"/orders/", "/orders/"},
		{"/a//b", "/a//b"},
		// Not a path.
		{"", metricnames.RouteUnmatched},
		{"*", metricnames.RouteUnmatched},
		{"?x", metricnames.RouteUnmatched},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := m.Match(tt.path); got != tt.want {
				t.Errorf("Match(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestMatcherCap(t *testing.T) {
	m := NewMatcher(Options{MaxRoutes: 3})
	for i, p := range []string{"/a", "/b", "/a", "/c/1", "/c/2"} {
		if got := m.Match(p); got == metricnames.RouteOther {
			t.Fatalf("path %d %q: got %q before the cap", i, p, got)
		}
	}
	if m.Overflows() != 0 {
		t.Fatalf("Overflows() = %d before the cap", m.Overflows())
	}
	for _, p := range []string{"/d", "/e/f"} {
		if got := m.Match(p); got != metricnames.RouteOther {
			t.Errorf("Match(%q) = %q past the cap, want %q", p, got, metricnames.RouteOther)
		}
	}
	// Known routes keep their label, templates too.
	if got := m.Match("/c/99"); got != "/c/{id}" {
		t.Errorf("Match(/c/99) = %q, want /c/{id}", got)
	}
	tab, _ := Compile([]string{"/d"})
	m.SetTemplates(tab)
	if got := m.Match("/d"); got != "/d" {
		t.Errorf("Match(/d) = %q with a template, want /d", got)
	}
	if got := m.Overflows(); got != 2 {
		t.Errorf("Overflows() = %d, want 2", got)
	}
}

func TestMatcherDefaultCap(t *testing.T) {
	m := NewMatcher(Options{MaxRoutes: -1})
	for i := range DefaultMaxRoutes {
		if got := m.Match(fmt.Sprintf("/r%d", i)); got == metricnames.RouteOther {
			t.Fatalf("route %d overflowed", i)
		}
	}
	if got := m.Match("/one-more"); got != metricnames.RouteOther {
		t.Errorf("route %d = %q, want %q", DefaultMaxRoutes+1, got, metricnames.RouteOther)
	}
}

// TestMatcherBoundedLabels sends what a busy app and a scanner send:
// hundreds of real requests with random ids, and random 404 probes.
func TestMatcherBoundedLabels(t *testing.T) {
	const maxRoutes = 50
	tab, err := Compile(shopTemplates)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatcher(Options{MaxRoutes: maxRoutes})
	m.SetTemplates(tab)
	r := rand.New(rand.NewPCG(1, 2))
	labels := map[string]int{}
	add := func(p string) {
		l := m.Match(p)
		labels[l]++
		if len(l) > MaxCollapsedLen && !tabHas(tab, l) {
			t.Fatalf("Match(%q) = %q, longer than %d", p, l, MaxCollapsedLen)
		}
	}
	// Known routes with random ids, and unknown ones with ids in them.
	for range 500 {
		add(fmt.Sprintf("/items/%d", r.IntN(1e9)))
		add(fmt.Sprintf("/users/%s/orders/%d", randUUID(r), r.IntN(1e6)))
		add(fmt.Sprintf("/legacy/orders/%d/lines/%d", r.IntN(1e9), r.IntN(100)))
		add(fmt.Sprintf("/legacy/blobs/f%x", r.Uint64()|1<<63))
		add(fmt.Sprintf("/legacy/report/2024-%02d-%02d", 1+r.IntN(12), 1+r.IntN(28)))
		add("/legacy/tokens/" + randToken(r, 32))
	}
	legacy := 0
	for l := range labels {
		if strings.HasPrefix(l, "/legacy/") {
			legacy++
		}
	}
	if legacy != 4 {
		t.Errorf("%d distinct labels for 4 legacy routes: %v", legacy, labels)
	}
	// A scanner: random words, random depth.
	for range 1000 {
		var b strings.Builder
		for range 1 + r.IntN(9) {
			b.WriteByte('/')
			b.WriteString(randWord(r))
		}
		add(b.String())
	}
	if n := len(labels); n > tab.Len()+maxRoutes+1 {
		t.Errorf("%d distinct labels, want at most %d templates + %d + %q", n, tab.Len(), maxRoutes, metricnames.RouteOther)
	}
	if labels[metricnames.RouteOther] == 0 || m.Overflows() != uint64(labels[metricnames.RouteOther]) {
		t.Errorf("%d %q labels, Overflows() = %d", labels[metricnames.RouteOther], metricnames.RouteOther, m.Overflows())
	}
}

func tabHas(t *Table, s string) bool {
	for _, x := range t.templates {
		if x == s {
			return true
		}
	}
	return false
}

func randUUID(r *rand.Rand) string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func randToken(r *rand.Rand, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	// Make sure of a digit and a letter, as in any real token.
	b[0], b[1] = 'a', '1'
	return string(b)
}

func randWord(r *rand.Rand) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz.-"
	b := make([]byte, 2+r.IntN(10))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

func TestMatcherDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector may allocate")
	}
	tab, err := Compile(shopTemplates)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatcher(Options{MaxRoutes: 2})
	m.SetTemplates(tab)
	paths := []string{
		"/items/42",                  // template
		"/legacy/orders/42",          // interned heuristic route
		"/legacy/orders/42/lines/1/", // interned heuristic route
		"/scanner/probe",             // past the cap
	}
	for _, p := range paths {
		m.Match(p) // intern
	}
	// The first lookups of a new route promote it to the lock-free map;
	// after that nothing allocates.
	for range 10 {
		for _, p := range paths {
			m.Match(p)
		}
	}
	for _, p := range paths {
		if n := testing.AllocsPerRun(100, func() { m.Match(p) }); n != 0 {
			t.Errorf("Match(%q) allocates %v times", p, n)
		}
	}
}

func TestMatcherConcurrent(t *testing.T) {
	m := NewMatcher(Options{MaxRoutes: 20})
	tabs := make([]*Table, 2)
	tabs[0], _ = Compile(shopTemplates)
	tabs[1], _ = Compile([]string{"/items/{id}", "/other"})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0))
			for i := range 2000 {
				if g == 0 && i%100 == 0 {
					m.SetTemplates(tabs[i/100%2])
				}
				p := fmt.Sprintf("/x%d/%d", r.IntN(40), r.IntN(1000))
				if got := m.Match(p); got != metricnames.RouteOther && !strings.HasSuffix(got, "/{id}") {
					t.Errorf("Match(%q) = %q", p, got)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(*m.read.Load()); n != 20 {
		t.Errorf("%d routes interned, want 20", n)
	}
}

func BenchmarkMatcherMatch(b *testing.B) {
	tab, err := Compile(benchTemplates())
	if err != nil {
		b.Fatal(err)
	}
	m := NewMatcher(Options{MaxRoutes: 3})
	m.SetTemplates(tab)
	cases := []struct{ name, path string }{
		{"template", "/api/v1/shipments/987/comments/654"},
		{"interned", "/legacy/orders/123456/lines/7"},
		{"overflow", "/scanner/wp-login.php"},
	}
	m.Match("/legacy/orders/1/lines/2")
	m.Match("/a")
	m.Match("/b")
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Match(c.path)
			}
		})
	}
	b.Run("interned-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Match("/legacy/orders/123456/lines/7")
			}
		})
	})
}
