package route

import (
	"slices"
	"strings"
)

// A Table is an immutable set of compiled route templates. It is safe for
// concurrent use. The nil *Table matches nothing.
//
// Matching follows Starlette, which FastAPI routes with: "{name}" matches
// one non-empty segment, "{name:int}", "{name:float}" and "{name:uuid}" only
// segments of that form, and "{name:path}" the rest of the path, slashes
// and all, even nothing ("/files/{p:path}" matches "/files/"). Unlike
// Starlette, which takes the first route in declaration order, a Table
// prefers at each segment a static segment, then a segment mixing text and
// parameters, then int, uuid, float and plain parameters, and a path
// parameter last, backtracking when a branch leads nowhere; so
// "/items/latest" wins over "/items/{id}" in whatever order they come.
// A trailing slash makes a distinct path, as in Starlette ("/items/" is not
// "/items"), but when a path matches no template in its own form and does
// in the other, that template is returned: Starlette would have redirected
// there.
type Table struct {
	root node
	// exact maps each fully static template to itself, the common case.
	exact     map[string]string
	templates []string
}

// node is a trie node; the edges out of it consume one path segment.
type node struct {
	static map[string]*node
	params []*paramEdge // in the order they are tried
	// rest is the template ending here in a path parameter, or "".
	rest string
	// end[0] is the template ending here without a trailing slash,
	// end[1] the one ending with a trailing slash; "" when none.
	end [2]string
}

type paramEdge struct {
	kind   segKind
	pieces []string // kindMixed only
	key    string
	next   *node
}

// Compile compiles templates into a Table. A malformed template is an
// error that names it (a *TemplateError), and no Table is returned.
// Duplicates are ignored, and so is a template that differs from an
// earlier one only in its parameter names ("/u/{a}" after "/u/{b}"): it
// could never be chosen. Compile(nil) returns an empty Table.
func Compile(templates []string) (*Table, error) {
	t := &Table{exact: map[string]string{}}
	for _, s := range templates {
		p, err := parseTemplate(s)
		if err != nil {
			return nil, &TemplateError{Template: s, Reason: err.Error()}
		}
		t.add(s, p)
	}
	slices.Sort(t.templates)
	return t, nil
}

// compileSkipping compiles the well-formed templates and returns the
// errors of the others, so that one odd path in an OpenAPI document does
// not cost the whole table.
func compileSkipping(templates []string) (*Table, []error) {
	t := &Table{exact: map[string]string{}}
	var errs []error
	for _, s := range templates {
		p, err := parseTemplate(s)
		if err != nil {
			errs = append(errs, &TemplateError{Template: s, Reason: err.Error()})
			continue
		}
		t.add(s, p)
	}
	slices.Sort(t.templates)
	return t, errs
}

func (t *Table) add(s string, p parsedTemplate) {
	n := &t.root
	static := true
	for _, seg := range p.segs {
		if seg.kind == kindPath {
			static = false
			if n.rest == "" {
				n.rest = s
				t.templates = append(t.templates, s)
			}
			return
		}
		n = n.child(seg)
		static = static && seg.kind == kindStatic
	}
	i := 0
	if p.trailing {
		i = 1
	}
	if n.end[i] != "" {
		return
	}
	n.end[i] = s
	t.templates = append(t.templates, s)
	if static {
		t.exact[s] = s
	}
}

// child returns the node reached from n over seg, adding it if needed.
func (n *node) child(seg segment) *node {
	if seg.kind == kindStatic {
		if c := n.static[seg.lit]; c != nil {
			return c
		}
		if n.static == nil {
			n.static = map[string]*node{}
		}
		c := &node{}
		n.static[seg.lit] = c
		return c
	}
	key := seg.key()
	for _, e := range n.params {
		if e.key == key {
			return e.next
		}
	}
	e := &paramEdge{kind: seg.kind, pieces: seg.pieces, key: key, next: &node{}}
	n.params = append(n.params, e)
	slices.SortStableFunc(n.params, func(a, b *paramEdge) int {
		if a.kind != b.kind {
			return int(a.kind) - int(b.kind)
		}
		// Among mixed segments, more literal text is more specific.
		return literalLen(b.pieces) - literalLen(a.pieces)
	})
	return e.next
}

func literalLen(pieces []string) int {
	n := 0
	for _, p := range pieces {
		n += len(p)
	}
	return n
}

// Match returns the template that path matches, and whether there is one.
// path is a URL path as in net/url.URL.Path: decoded, starting with "/",
// without the query. The returned string is the Table's own, so Match does
// not allocate.
func (t *Table) Match(path string) (string, bool) {
	if t == nil || path == "" || path[0] != '/' {
		return "", false
	}
	if s, ok := t.exact[path]; ok {
		return s, true
	}
	if s := t.root.match(path, false); s != "" {
		return s, true
	}
	if s := t.root.match(path, true); s != "" {
		return s, true
	}
	return "", false
}

// match matches r, the part of the path not yet consumed: empty, or a "/"
// and whatever follows. With lenient set, a path may end with a trailing
// slash where the template has none, and the other way round. Each node
// is visited at most once, since a node's depth fixes how much of the
// path has been consumed, so a match is linear in the size of the trie
// at worst, and in the number of segments usually.
func (n *node) match(r string, lenient bool) string {
	if r == "" {
		switch {
		case n.end[0] != "":
			return n.end[0]
		case !lenient:
			return ""
		case n.end[1] != "":
			return n.end[1]
		}
		return n.rest
	}
	more := r[1:]
	if more == "" {
		switch {
		case n.end[1] != "":
			return n.end[1]
		case n.rest != "":
			return n.rest
		case lenient:
			return n.end[0]
		}
		return ""
	}
	seg, next := more, ""
	if i := strings.IndexByte(more, '/'); i >= 0 {
		seg, next = more[:i], more[i:]
	}
	if seg != "" {
		if c := n.static[seg]; c != nil {
			if s := c.match(next, lenient); s != "" {
				return s
			}
		}
		for _, e := range n.params {
			if matchSegment(e.kind, e.pieces, seg) {
				if s := e.next.match(next, lenient); s != "" {
					return s
				}
			}
		}
	}
	return n.rest
}

// Templates returns the Table's templates, sorted, without duplicates.
func (t *Table) Templates() []string {
	if t == nil {
		return nil
	}
	return slices.Clone(t.templates)
}

// Len returns the number of templates in the Table.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.templates)
}
