package redact

import "strings"

// place says where a string was found, to name its removals.
type place struct {
	where string
	// name is the header, cookie or parameter; empty in a body.
	name string
	// path, inside a JSON body, is the current key path.
	path *jsonPath
	// urlPath is set in a URL path, where ':' is no assignment unless a
	// space follows ("/v1/tokens:revoke") but ";jsessionid=" is.
	urlPath bool
}

// label names a removal: the JSON path or the place's name, or else
// fallback (the assignment's name or the pattern's kind, "<jwt>").
func (p place) label(fallback string) string {
	if p.path != nil {
		if s := p.path.String(); s != "" {
			return s
		}
	}
	if p.name != "" {
		return p.name
	}
	return fallback
}

// editor builds a copy of src with spans replaced, allocating only at the
// first replacement. Spans must be replaced in increasing order.
type editor struct {
	src   string
	b     strings.Builder
	last  int
	dirty bool
}

func (e *editor) replace(start, end int, repl string) {
	if !e.dirty {
		e.b.Grow(len(e.src) + len(repl) + 16)
		e.dirty = true
	}
	e.b.WriteString(e.src[e.last:start])
	e.b.WriteString(repl)
	e.last = end
}

// String returns the edited text; the editor takes no more edits after.
func (e *editor) String() string {
	if !e.dirty {
		return e.src
	}
	e.b.WriteString(e.src[e.last:])
	e.last = len(e.src)
	return e.b.String()
}

// scrub returns s with inline assignments of names in rules and patterns
// removed, listing each removal at p. It returns s itself, without
// allocating, when nothing was found.
func (r *Redactor) scrub(s string, rules *ruleSet, rec *recorder, p place) string {
	if len(s) < 3 {
		return s
	}
	sc := scanner{r: r, rules: rules, rec: rec, p: p, s: s, ed: editor{src: s}}
	sc.run()
	out := sc.ed.String()
	if strings.IndexByte(out, '\\') < 0 {
		return out
	}
	// JSON escapes can hide a name or a token from the scan
	// ({"api\u006bey": ...} in a log line, "https:\/\/u:pw@h"). Look
	// behind them: first with the quotes left as they are, then a level
	// down, for a JSON text inside a JSON string. Each view is taken of
	// what the one before left, so it can only remove more.
	cur := out
	for level := 0; level < 3; level++ {
		view := unescapeLevel(cur)
		if level == 0 {
			view = unescapeLetters(cur)
		}
		if view == cur {
			if level == 0 {
				continue
			}
			break
		}
		vc := scanner{r: r, rules: rules, rec: rec, p: p, s: view, ed: editor{src: view}}
		vc.run()
		if cur = vc.ed.String(); vc.ed.dirty {
			out = cur
		} else if level == 0 {
			cur = out // nothing behind the letters: go down from the text
		}
	}
	return out
}

// scrubEncoded is scrub for values that may be percent-encoded (cookies,
// paths): what hides behind %XX is found too, and the result re-encoded.
func (r *Redactor) scrubEncoded(s string, rules *ruleSet, rec *recorder, p place, keep string) string {
	out := r.scrub(s, rules, rec, p)
	if strings.IndexByte(out, '%') < 0 {
		return out
	}
	dec := unescape(out, false)
	if dec == out {
		return out
	}
	if d2 := r.scrub(dec, rules, rec, p); d2 != dec {
		return escape(d2, keep, false)
	}
	return out
}

type scanner struct {
	r     *Redactor
	rules *ruleSet
	rec   *recorder
	p     place
	s     string
	ed    editor
}

func (sc *scanner) redact(start, end int, kind string, quoted bool) {
	if isMarker(sc.s[start:end]) {
		return // already done, by another rule or an earlier pass
	}
	m := sc.rec.redact(sc.r, sc.p.where, sc.p.label(kind), sc.s[start:end])
	if quoted {
		m = `"` + m + `"`
	}
	sc.ed.replace(start, end, m)
}

func (sc *scanner) run() {
	s := sc.s
	for i := 0; i < len(s); {
		if !isIdent(s[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isIdent(s[j]) {
			j++
		}
		if end := sc.word(i, j); end > i {
			i = end
		} else {
			i = j
		}
	}
}

// word looks at the identifier run s[i:j] and what follows it. It returns
// where scanning goes on after a removal, or 0.
func (sc *scanner) word(i, j int) int {
	s := sc.s
	if end := sc.authScheme(i, j); end > 0 {
		return end
	}
	if j-i >= 10 && s[i] == '-' && strings.HasPrefix(s[i:], "-----BEGIN") {
		if end := sc.pem(i); end > 0 {
			return end
		}
	}
	// Tokens inside the run first: the editor takes spans in order.
	end := sc.shapes(i, j)
	next := end
	if next == 0 {
		next = j
	}
	if strings.HasPrefix(s[next:], "://") {
		if e := sc.userinfo(next + 3); e > 0 {
			return e
		}
	}
	if end > 0 {
		return end
	}
	return sc.assignment(i, j)
}

// Identifier bytes: names, and the base64url alphabet of tokens.
var identTable = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	t['_'], t['-'], t['.'] = true, true, true
	return t
}()

func isIdent(c byte) bool { return identTable[c] }

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isB64URL(c byte) bool { return isAlnum(c) || c == '-' || c == '_' }

// isToken68 is RFC 9110's token68 alphabet, without the trailing '='.
func isToken68(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
}
