package redact

import "strings"

// assignment removes the value of "name=value", "name: value",
// `"name": value`, "name => value" or "name := value" when the name in
// s[i:j] is sensitive.
func (sc *scanner) assignment(i, j int) int {
	s := sc.s
	if i > 0 && s[i-1] == '<' && j < len(s) && s[j] == '>' {
		return sc.element(i, j)
	}
	k := j
	if k < len(s) && s[k] == ']' { // user[password]=
		k++
	}
	jsonish := false
	for k < len(s) && (s[k] == '"' || s[k] == '\'') { // one, or more in broken JSON
		jsonish = jsonish || s[k] == '"'
		k++
	}
	if k < len(s) && s[k] == '\\' { // an escaped quote: {\"password\": \"x\"}
		m := k
		for m < len(s) && s[m] == '\\' {
			m++
		}
		if m < len(s) && s[m] == '"' {
			k = m + 1
		}
	}
	// Between a quoted name and its value, JSON allows any white space.
	for k < len(s) && (s[k] == ' ' || s[k] == '\t' || jsonish && (s[k] == '\n' || s[k] == '\r')) {
		k++
	}
	if k >= len(s) {
		return 0
	}
	switch s[k] {
	case ':':
		if sc.p.urlPath && (k+1 >= len(s) || s[k+1] != ' ') || strings.HasPrefix(s[k:], "://") || strings.HasPrefix(s[k:], "::") {
			return 0
		}
		if k+1 < len(s) && s[k+1] == '=' {
			k++
		}
	case '=':
		if k+1 < len(s) && s[k+1] == '=' {
			return 0
		}
		if k+1 < len(s) && s[k+1] == '>' {
			k++
		}
	default:
		return 0
	}
	k++
	// Removals are listed under the rule's name, not the text's: in free
	// text, what looks like a name may be a piece of a secret.
	name := sc.rules.which(s[i:j])
	if name == "" {
		return 0
	}
	for k < len(s) && (s[k] == ' ' || s[k] == '\t' || jsonish && (s[k] == '\n' || s[k] == '\r')) {
		k++
	}
	return sc.value(k, name, jsonish)
}

// element removes the text of an XML element with a sensitive name,
// "<password>x</password>", up to the next tag.
func (sc *scanner) element(i, j int) int {
	s := sc.s
	name := sc.rules.which(s[i:j])
	if name == "" {
		return 0
	}
	start := j + 1
	end := len(s)
	if k := strings.IndexByte(s[start:], '<'); k >= 0 {
		end = start + k
	}
	a, b := trimSpan(s, start, end)
	for a < b && (s[a] == '\r' || s[a] == '\n') {
		a++
	}
	for b > a && (s[b-1] == '\r' || s[b-1] == '\n') {
		b--
	}
	if a < b {
		sc.redact(a, b, name, false)
	}
	return end
}

// value removes the assigned value starting at v: quoted, bracketed or
// bare, keeping a leading auth scheme.
func (sc *scanner) value(v int, name string, jsonish bool) int {
	s := sc.s
	if v >= len(s) {
		return v
	}
	if end := sc.afterMarker(v, name, jsonish); end > 0 {
		return end
	}
	switch c := s[v]; c {
	case '"', '\'':
		end, closed := quotedEnd(s, v+1, c)
		// A quote glued to a word did not end the value (broken JSON,
		// `"["abc"]`): go on to the next one.
		for closed && end+1 < len(s) && isB64URL(s[end+1]) {
			end, closed = quotedEnd(s, end+1, c)
		}
		sc.credential(v+1, end, name)
		if closed {
			return end + 1
		}
		return end
	case '\\':
		m := v
		for m < len(s) && s[m] == '\\' {
			m++
		}
		if m < len(s) && s[m] == '"' {
			end := escapedQuoteEnd(s, m+1, m-v)
			sc.credential(m+1, end, name)
			return end
		}
	case '{', '[':
		end, _ := balancedEnd(s, v)
		if strings.Trim(s[v:end], "{}[] \t\r\n") != "" {
			sc.redact(v, end, name, jsonish)
		}
		return end
	}
	end := v
	for end < len(s) && !sc.delim(end) {
		end++
	}
	switch s[v:end] {
	case "", "null", "true", "false", "None", "nil":
		return end
	}
	if strings.Trim(s[v:end], "+") == "" {
		return end // spaces, in a form seen with literal pluses
	}
	// A value that is, or ends in, an auth scheme ("Bearer", "(Bearer")
	// goes on with the credentials after the space.
	w := s[v:end]
	k := len(w)
	for k > 0 && isIdent(w[k-1]) {
		k--
	}
	if end < len(s) && (s[end] == ' ' || s[end] == '\t') && schemeLen(w[k:]+" x") > 0 {
		t := end
		for t < len(s) && (s[t] == ' ' || s[t] == '\t') {
			t++
		}
		if k > 0 {
			sc.redact(v, end, name, false)
		}
		if e := sc.afterMarker(t, name, false); e > 0 {
			return e
		}
		te := t
		for te < len(s) && !sc.delim(te) {
			te++
		}
		if te > t {
			sc.redact(t, te, name, false)
			return te
		}
		return end
	}
	sc.redact(v, end, name, jsonish)
	return end
}

// afterMarker handles a value at v that starts with a marker: an earlier
// pass's work is left alone, but anything glued to the marker is removed
// ("[REDACTED]abc" is not a redacted value). It returns 0 when there is no
// marker at v.
func (sc *scanner) afterMarker(v int, name string, jsonish bool) int {
	s := sc.s
	n := markerLen(s[v:])
	if n == 0 {
		return 0
	}
	end := v + n
	for end < len(s) && !sc.delim(end) {
		end++
	}
	if end > v+n {
		sc.redact(v, end, name, jsonish)
	}
	return end
}

// credential removes s[start:end], keeping a leading auth scheme.
func (sc *scanner) credential(start, end int, name string) {
	v := sc.s[start:end]
	if v == "" || isMarker(v) {
		return
	}
	if n := schemeLen(v); n > 0 {
		if isMarker(v[n:]) {
			return
		}
		start += n
	}
	sc.redact(start, end, name, false)
}

// delim reports whether s[k] ends an unquoted value: space, punctuation
// that ends values in code, URLs and markup ('>' not after '=', so that
// "=>" stays inside), and '/' between URL path segments.
func (sc *scanner) delim(k int) bool {
	s := sc.s
	c := s[k]
	if c <= ' ' || c == 0x7f {
		return true
	}
	switch c {
	case ',', ';', '&', '"', '\'', '<', ')', '}', ']':
		return true
	case '>':
		return k == 0 || s[k-1] != '='
	case '/':
		return sc.p.urlPath
	case '\\':
		return k+1 < len(s) && strings.IndexByte(`"'nrtu`, s[k+1]) >= 0
	}
	return false
}

// quotedEnd returns the index of the quote q closing a string whose
// content starts at from, honouring backslash escapes, or len(s).
func quotedEnd(s string, from int, q byte) (int, bool) {
	for k := from; k < len(s); k++ {
		switch s[k] {
		case '\\':
			k++
		case q:
			return k, true
		}
	}
	return len(s), false
}

// escapedQuoteEnd returns the start of the first run of exactly bs
// backslashes followed by '"' at or after from, or len(s).
func escapedQuoteEnd(s string, from, bs int) int {
	for k := from; k < len(s); k++ {
		if s[k] != '\\' {
			continue
		}
		m := k
		for m < len(s) && s[m] == '\\' {
			m++
		}
		if m-k == bs && m < len(s) && s[m] == '"' {
			return k
		}
		k = m - 1
	}
	return len(s)
}
