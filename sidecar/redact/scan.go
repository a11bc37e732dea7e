package redact

import (
	"encoding/base64"
	"strings"
)

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
	if strings.Contains(out, `\u00`) {
		// JSON escapes can hide a name or a token from the scan
		// ({"api\u006bey": ...} inside a log line): look behind them too.
		if view := unescapeASCII(out); view != out {
			vc := scanner{r: r, rules: rules, rec: rec, p: p, s: view, ed: editor{src: view}}
			vc.run()
			if vc.ed.dirty {
				return vc.ed.String()
			}
		}
	}
	return out
}

// unescapeASCII decodes the JSON escapes \u00XX of printable ASCII but
// quotes and backslashes, which would change where strings end.
func unescapeASCII(s string) string {
	var b []byte
	last := 0
	for i := 0; i+6 <= len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if s[i+1] != 'u' || s[i+2] != '0' || s[i+3] != '0' {
			i++ // skip the escaped byte
			continue
		}
		h, ok1 := unhex(s[i+4])
		l, ok2 := unhex(s[i+5])
		if c := h<<4 | l; ok1 && ok2 && ' ' <= c && c < 0x7f && c != '"' && c != '\'' && c != '\\' {
			b = append(b, s[last:i]...)
			b = append(b, c)
			last = i + 6
			i += 5
		}
	}
	if b == nil {
		return s
	}
	return string(append(b, s[last:]...))
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
	if strings.HasPrefix(s[j:], "://") {
		if end := sc.userinfo(j + 3); end > 0 {
			return end
		}
	}
	if end := sc.shapes(i, j); end > 0 {
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

// authSchemes are kept in front of a redacted credential so that a 401
// still shows how the client tried to authenticate.
var authSchemes = []string{
	"Bearer", "Basic", "Digest", "Token", "ApiKey", "Api-Key", "JWT", "DPoP",
	"Negotiate", "NTLM", "OAuth", "HOBA", "Mutual", "AWS4-HMAC-SHA256", "SCRAM-SHA-256",
}

// schemeLen returns the length of "<scheme><spaces>" at the start of v
// when what follows is non-empty, else 0.
func schemeLen(v string) int {
	sp := strings.IndexAny(v, " \t")
	if sp <= 0 {
		return 0
	}
	known := false
	for _, a := range authSchemes {
		if strings.EqualFold(v[:sp], a) {
			known = true
			break
		}
	}
	if !known {
		return 0
	}
	k := sp
	for k < len(v) && (v[k] == ' ' || v[k] == '\t') {
		k++
	}
	if k == len(v) {
		return 0
	}
	return k
}

// authParams are the auth-param names of WWW-Authenticate challenges:
// `Bearer error_description="..."` is a challenge, not a credential.
var authParams = []string{"realm", "scope", "error", "error_description", "error_uri", "resource_metadata", "charset"}

// authScheme removes the credentials after "Bearer" and "Basic". Bearer
// tokens shorter than 8 bytes are taken for prose ("Bearer of ...");
// Basic credentials must decode to "user:password" or be 16 bytes or
// longer.
func (sc *scanner) authScheme(i, j int) int {
	s := sc.s
	w := s[i:j]
	bearer := strings.EqualFold(w, "bearer")
	if !bearer && !strings.EqualFold(w, "basic") {
		return 0
	}
	k, sep := j, false
	for k < len(s) {
		switch {
		case s[k] == ' ' || s[k] == '\t' || s[k] == '+':
			k++
		case strings.HasPrefix(s[k:], "%20"):
			k += 3
		default:
			goto sepDone
		}
		sep = true
	}
sepDone:
	if !sep {
		return 0
	}
	t := k
	for t < len(s) && isToken68(s[t]) {
		t++
	}
	body := t - k
	for t < len(s) && s[t] == '=' {
		t++
	}
	if n := markerLen(s[k:]); n > 0 {
		// Done before; but "[REDACTED]xyz" is not.
		end := k + n
		for end < len(s) && isToken68(s[end]) {
			end++
		}
		if end > k+n {
			sc.redact(k, end, "<bearer>", false)
		}
		return end
	}
	tok := s[k:t]
	if bearer {
		if body < 8 {
			return 0
		}
		if t > k+body && t < len(s) && (s[t] == '"' || s[t] == '\\') {
			for _, a := range authParams {
				if strings.EqualFold(tok[:body], a) {
					return 0
				}
			}
		}
		sc.redact(k, t, "<bearer>", false)
		return t
	}
	if body < 16 && !basicCredentials(tok) {
		return 0
	}
	sc.redact(k, t, "<basic>", false)
	return t
}

// basicCredentials reports whether tok is base64 of "user:password".
func basicCredentials(tok string) bool {
	if len(tok) < 4 || len(tok)%4 != 0 || len(tok) > 32 {
		return false
	}
	var buf [24]byte
	n, err := base64.StdEncoding.Decode(buf[:], []byte(tok))
	return err == nil && strings.IndexByte(string(buf[:n]), ':') >= 0
}

// pem removes the body of a PEM private key block starting at i, up to its
// END line or the end of s.
func (sc *scanner) pem(i int) int {
	s := sc.s
	const begin = "-----BEGIN"
	head := s[i+len(begin):]
	if len(head) > 48 {
		head = head[:48]
	}
	e := strings.Index(head, "-----")
	if e < 0 {
		return 0
	}
	if !strings.Contains(head[:e], "PRIVATE KEY") {
		return 0
	}
	start := i + len(begin) + e + 5
	next := len(s)
	if x := strings.Index(s[start:], "-----END"); x >= 0 {
		next = start + x
	}
	end := next
	for start < end && strings.IndexByte(" \t\r\n", s[start]) >= 0 {
		start++
	}
	for end > start && strings.IndexByte(" \t\r\n", s[end-1]) >= 0 {
		end--
	}
	if end > start {
		sc.redact(start, end, "<private_key>", false)
	}
	return next
}

// userinfo removes the password of "scheme://user:password@host" whose
// authority starts at k.
func (sc *scanner) userinfo(k int) int {
	s := sc.s
	end := k
	for end < len(s) {
		c := s[end]
		if c <= ' ' || strings.IndexByte(`/?#"'<>\`, c) >= 0 {
			break
		}
		end++
	}
	auth := s[k:end]
	at := strings.LastIndexByte(auth, '@')
	if at < 0 {
		// A text cut inside the user info ("postgres://app:pw") still
		// holds the password; "host:8000" is a port.
		colon := strings.IndexByte(auth, ':')
		if end < len(s) || colon < 0 || colon+1 == len(auth) || strings.Trim(auth[colon+1:], "0123456789") == "" {
			return 0
		}
		sc.redact(k+colon+1, end, "<userinfo>", false)
		return end
	}
	colon := strings.IndexByte(auth[:at], ':')
	if colon < 0 || colon+1 == at || isMarker(auth[colon+1:at]) {
		return 0
	}
	sc.redact(k+colon+1, k+at, "<userinfo>", false)
	return k + at + 1
}

// shapes removes JWTs and well-known key shapes inside the run s[i:j]; a
// match may run past j.
func (sc *scanner) shapes(i, j int) int {
	s := sc.s
	noJWT := 0 // an "eyJ" before this ends where a failed one did: no JWT
	for k := i; k < j; k++ {
		c := s[k]
		if c == 'e' && k >= noJWT && strings.HasPrefix(s[k:], "eyJ") {
			end, skip := jwtEnd(s, k)
			if end > 0 {
				sc.redact(k, end, "<jwt>", false)
				return end
			}
			noJWT = skip
		}
		if k > i && isAlnum(s[k-1]) {
			continue // key shapes start a word
		}
		for _, sh := range shapeIndex[c] {
			if !strings.HasPrefix(s[k:], sh.prefix) {
				continue
			}
			p := k + len(sh.prefix)
			n := 0
			for p+n < len(s) && sh.class(s[p+n]) {
				n++
			}
			if n >= sh.min {
				sc.redact(p, p+n, sh.kind, false)
				return p + n
			}
		}
	}
	return 0
}

// jwtEnd returns the end of the JWT (or JWE) starting at k, or 0 and the
// end of the first segment.
func jwtEnd(s string, k int) (end, skip int) {
	seg := func(p int) int {
		n := 0
		for p+n < len(s) && isB64URL(s[p+n]) {
			n++
		}
		return n
	}
	n := seg(k)
	p := k + n
	if n < 4 || p >= len(s) || s[p] != '.' {
		return 0, p
	}
	n = seg(p + 1)
	if n < 2 {
		return 0, p
	}
	q := p + 1 + n
	if q >= len(s) || s[q] != '.' {
		return 0, p
	}
	q += 1 + seg(q+1)
	for q < len(s) && s[q] == '.' { // JWE: five segments
		n = seg(q + 1)
		if n == 0 {
			break
		}
		q += 1 + n
	}
	return q, p
}

// shape is a well-known key format: a fixed prefix (kept) and at least min
// bytes of class (removed).
type shape struct {
	prefix string
	class  func(byte) bool
	min    int
	kind   string
}

func isUpperDigit(c byte) bool { return 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' }
func isWordByte(c byte) bool   { return isAlnum(c) || c == '_' }

var shapes = []shape{
	{"AKIA", isUpperDigit, 16, "<aws_access_key>"},
	{"ASIA", isUpperDigit, 16, "<aws_access_key>"},
	{"AIza", isB64URL, 30, "<google_api_key>"},
	{"sk_live_", isAlnum, 16, "<stripe_key>"},
	{"sk_test_", isAlnum, 16, "<stripe_key>"},
	{"rk_live_", isAlnum, 16, "<stripe_key>"},
	{"rk_test_", isAlnum, 16, "<stripe_key>"},
	{"whsec_", isAlnum, 16, "<stripe_webhook_secret>"},
	{"sk-", isB64URL, 20, "<api_key>"},
	{"ghp_", isAlnum, 30, "<github_token>"},
	{"gho_", isAlnum, 30, "<github_token>"},
	{"ghu_", isAlnum, 30, "<github_token>"},
	{"ghs_", isAlnum, 30, "<github_token>"},
	{"ghr_", isAlnum, 30, "<github_token>"},
	{"github_pat_", isWordByte, 30, "<github_token>"},
	{"glpat-", isB64URL, 20, "<gitlab_token>"},
	{"xoxb-", isB64URL, 10, "<slack_token>"},
	{"xoxp-", isB64URL, 10, "<slack_token>"},
	{"xoxa-", isB64URL, 10, "<slack_token>"},
	{"xoxr-", isB64URL, 10, "<slack_token>"},
	{"xoxs-", isB64URL, 10, "<slack_token>"},
	{"xoxe-", isB64URL, 10, "<slack_token>"},
}

var shapeIndex = func() (idx [256][]shape) {
	for _, sh := range shapes {
		idx[sh.prefix[0]] = append(idx[sh.prefix[0]], sh)
	}
	return idx
}()

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
	if k < len(s) {
		switch s[k] {
		case '"':
			jsonish = true
			k++
		case '\'':
			k++
		case '\\': // an escaped quote: {\"password\": \"x\"}
			m := k
			for m < len(s) && s[m] == '\\' {
				m++
			}
			if m < len(s) && s[m] == '"' {
				k = m + 1
			}
		}
	}
	for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
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
	name := s[i:j]
	if !sc.rules.match(name) {
		return 0
	}
	for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
		k++
	}
	return sc.value(k, name, jsonish)
}

// element removes the text of an XML element with a sensitive name,
// "<password>x</password>", up to the next tag.
func (sc *scanner) element(i, j int) int {
	s := sc.s
	if !sc.rules.match(s[i:j]) {
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
		sc.redact(a, b, s[i:j], false)
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
	if end < len(s) && (s[end] == ' ' || s[end] == '\t') && schemeLen(s[v:end]+" x") > 0 {
		t := end
		for t < len(s) && (s[t] == ' ' || s[t] == '\t') {
			t++
		}
		if end := sc.afterMarker(t, name, false); end > 0 {
			return end
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
