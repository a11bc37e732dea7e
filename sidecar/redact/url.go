package redact

import "strings"

// Bytes left unescaped when a changed value is written back, besides the
// unreserved ones: enough to keep "[REDACTED:hmac-sha256:...]" readable.
const (
	keepQuery  = "[]:/@!$'()*,"
	keepPath   = "[]:/@!$&'()*+,;="
	keepCookie = "[]:/@!$'()*+"
)

// url redacts a request URI or absolute URL: passwords in user info,
// assignments and patterns in the path, and the query and fragment
// parameters. owner, when set, is the header the URL came from and
// prefixes the parameter names ("Referer?token").
func (r *Redactor) url(u string, rec *recorder, where, owner string) string {
	if u == "" {
		return u
	}
	pathEnd := strings.IndexAny(u, "?#")
	if pathEnd < 0 {
		pathEnd = len(u)
	}
	path := u[:pathEnd]
	p := place{where: where, name: owner, urlPath: true}
	newPath := r.scrubEncoded(path, &r.query, rec, p, keepPath)

	var query, frag string
	hasQuery, hasFrag := false, false
	if rest := u[pathEnd:]; rest != "" {
		if rest[0] == '?' {
			hasQuery = true
			query = rest[1:]
			if h := strings.IndexByte(query, '#'); h >= 0 {
				hasFrag, frag, query = true, query[h+1:], query[:h]
			}
		} else {
			hasFrag, frag = true, rest[1:]
		}
	}
	// Fragments carry parameters too: the OAuth implicit flow puts
	// "#access_token=..." there.
	newQuery := r.rawQuery(query, &r.query, rec, where, owner)
	newFrag := r.rawQuery(frag, &r.query, rec, where, owner)
	if newPath == path && newQuery == query && newFrag == frag {
		return u
	}
	var b strings.Builder
	b.Grow(len(newPath) + len(newQuery) + len(newFrag) + 2)
	b.WriteString(newPath)
	if hasQuery {
		b.WriteByte('?')
		b.WriteString(newQuery)
	}
	if hasFrag {
		b.WriteByte('#')
		b.WriteString(newFrag)
	}
	return b.String()
}

// rawQuery redacts "a=1&b=2": the value of each parameter whose decoded
// name is in rules, and assignments and patterns in the other names and
// values. Repeated names are each redacted.
func (r *Redactor) rawQuery(raw string, rules *ruleSet, rec *recorder, where, owner string) string {
	if raw == "" {
		return raw
	}
	ed := editor{src: raw}
	for start := 0; start <= len(raw); {
		end := strings.IndexByte(raw[start:], '&')
		if end < 0 {
			end = len(raw)
		} else {
			end += start
		}
		if end > start {
			r.param(&ed, start, end, rules, rec, where, owner)
		}
		start = end + 1
	}
	return ed.String()
}

func (r *Redactor) param(ed *editor, start, end int, rules *ruleSet, rec *recorder, where, owner string) {
	raw := ed.src
	keyEnd := end
	if eq := strings.IndexByte(raw[start:end], '='); eq >= 0 {
		keyEnd = start + eq
	}
	key := unescape(raw[start:keyEnd], true)
	p := place{where: where}
	if owner != "" {
		p.name = owner
	}
	sk := r.scrub(key, rules, rec, p)
	if sk != key {
		ed.replace(start, keyEnd, escape(sk, keepQuery, true))
	}
	if keyEnd == end || keyEnd+1 == end {
		return
	}
	val := unescape(raw[keyEnd+1:end], true)
	name := sk
	if owner != "" {
		name = owner + "?" + sk
	}
	if rules.match(key) {
		if val != "" && !isMarker(val) {
			ed.replace(keyEnd+1, end, rec.redact(r, where, name, val))
		}
		return
	}
	p.name = name
	rawVal := raw[keyEnd+1 : end]
	out := rawVal
	if sv := r.scrub(val, rules, rec, p); sv != val {
		out = escape(sv, keepQuery, true)
	}
	if strings.IndexByte(out, '+') >= 0 {
		// A client that did not encode '+' may have meant it literally
		// ("Bearer abc+def"): look at the value that way too.
		lit := unescape(out, false)
		if sl := r.scrub(lit, rules, rec, p); sl != lit {
			out = escape(sl, keepQuery+"+", false)
		}
	}
	if out != rawVal {
		ed.replace(keyEnd+1, end, out)
	}
}
