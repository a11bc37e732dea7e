package redact

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonPath is the key path of the value being walked, kept as elements so
// that a string is built only for a removal.
type jsonPath struct {
	prefix string // the multipart field holding the document, or ""
	elems  []pathElem
}

type pathElem struct {
	key   string
	index int // -1 for an object key
}

// String returns "user.password", "items[2].token".
func (jp *jsonPath) String() string {
	if len(jp.elems) == 0 {
		return jp.prefix
	}
	var b strings.Builder
	b.WriteString(jp.prefix)
	for _, e := range jp.elems {
		if e.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(e.index))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e.key)
	}
	return b.String()
}

type jsonState uint8

const (
	jsonClean  jsonState = iota // complete and well-formed
	jsonCut                     // well-formed up to the end of the text
	jsonBroken                  // not JSON from some point on
)

var errNotJSON = errors.New("redact: not JSON")

// maxJSONDepth bounds the walk's recursion; deeper documents are left to
// the tolerant scan.
const maxJSONDepth = 200

// walkJSON redacts a JSON text (or a sequence of them, as in JSON Lines),
// keeping its layout: only replaced values change. Values under a
// sensitive key are replaced whole, whatever their type, except null,
// booleans and empty strings, arrays and objects, which hold nothing.
// Every other string, and every key, is scanned for assignments and
// patterns. A text cut short is walked as far as it goes.
func (r *Redactor) walkJSON(s string, rec *recorder, where, prefix string) (string, jsonState) {
	w := &jsonWalker{r: r, rec: rec, s: s, ed: editor{src: s}}
	w.path.prefix = prefix
	w.p = place{where: where, path: &w.path}
	// Angular's XSSI guard in front of a JSON answer.
	if strings.HasPrefix(s, ")]}'") {
		w.pos = len(")]}'")
		if w.pos < len(s) && s[w.pos] == ',' {
			w.pos++
		}
	}
	var err error
	for {
		w.ws()
		if w.pos >= len(s) {
			break
		}
		if err = w.value(false); err != nil || w.cut {
			break
		}
	}
	switch {
	case err != nil:
		return w.ed.String(), jsonBroken
	case w.cut:
		return w.ed.String(), jsonCut
	}
	return w.ed.String(), jsonClean
}

type jsonWalker struct {
	r     *Redactor
	rec   *recorder
	p     place
	path  jsonPath
	s     string
	pos   int
	ed    editor
	depth int
	cut   bool
}

func (w *jsonWalker) ws() {
	for w.pos < len(w.s) {
		switch w.s[w.pos] {
		case ' ', '\t', '\r', '\n':
			w.pos++
		default:
			return
		}
	}
}

// eof reports, and remembers, that the text ended inside a value.
func (w *jsonWalker) eof() bool {
	if w.pos >= len(w.s) {
		w.cut = true
		return true
	}
	return false
}

func (w *jsonWalker) value(sensitive bool) error {
	w.ws()
	if w.eof() {
		return nil
	}
	switch c := w.s[w.pos]; c {
	case '{', '[':
		if sensitive {
			w.redactContainer()
			return nil
		}
		if w.depth >= maxJSONDepth {
			return errNotJSON
		}
		w.depth++
		var err error
		if c == '{' {
			err = w.object()
		} else {
			err = w.array()
		}
		w.depth--
		return err
	case '"':
		w.str(sensitive)
		return nil
	}
	return w.literal(sensitive)
}

func (w *jsonWalker) object() error {
	w.pos++ // '{'
	var locSeen, locSens bool
	for {
		w.ws()
		if w.eof() {
			return nil
		}
		if w.s[w.pos] == '}' {
			w.pos++
			return nil
		}
		if w.s[w.pos] != '"' {
			return errNotJSON
		}
		kstart := w.pos
		key, end, closed := readJSONString(w.s, w.pos)
		w.pos = end
		label := w.r.scrub(key, &w.r.fields, w.rec, w.p)
		if label != key {
			w.ed.replace(kstart, end, string(appendJSONString(nil, label, closed)))
		}
		if !closed {
			w.cut = true
			return nil
		}
		w.ws()
		if w.eof() {
			return nil
		}
		if w.s[w.pos] != ':' {
			return errNotJSON
		}
		w.pos++
		sens := w.r.fields.match(key)
		// A pydantic / FastAPI 422 echoes the rejected value as "input"
		// beside its "loc": ["body", "password"].
		switch key {
		case "loc":
			if !locSeen {
				locSens, locSeen = w.r.locSensitive(w.s, w.pos), true
			}
		case "input":
			if !locSeen {
				locSens, locSeen = w.r.findLoc(w.s, w.pos), true
			}
			sens = sens || locSens
		}
		w.path.elems = append(w.path.elems, pathElem{key: label, index: -1})
		err := w.value(sens)
		w.path.elems = w.path.elems[:len(w.path.elems)-1]
		if err != nil || w.cut {
			return err
		}
		w.ws()
		if w.eof() {
			return nil
		}
		switch w.s[w.pos] {
		case ',':
			w.pos++
		case '}':
			w.pos++
			return nil
		default:
			return errNotJSON
		}
	}
}

func (w *jsonWalker) array() error {
	w.pos++ // '['
	for i := 0; ; i++ {
		w.ws()
		if w.eof() {
			return nil
		}
		if w.s[w.pos] == ']' {
			w.pos++
			return nil
		}
		w.path.elems = append(w.path.elems, pathElem{index: i})
		err := w.value(false)
		w.path.elems = w.path.elems[:len(w.path.elems)-1]
		if err != nil || w.cut {
			return err
		}
		w.ws()
		if w.eof() {
			return nil
		}
		switch w.s[w.pos] {
		case ',':
			w.pos++
		case ']':
			w.pos++
			return nil
		default:
			return errNotJSON
		}
	}
}

func (w *jsonWalker) str(sensitive bool) {
	start := w.pos
	v, end, closed := readJSONString(w.s, w.pos)
	w.pos = end
	if !closed {
		w.cut = true
	}
	if sensitive {
		if v != "" && !isMarker(v) {
			m := w.rec.redact(w.r, w.p.where, w.path.String(), v)
			w.ed.replace(start, end, `"`+m+`"`)
		}
		return
	}
	if sv := w.r.scrub(v, &w.r.fields, w.rec, w.p); sv != v {
		w.ed.replace(start, end, string(appendJSONString(nil, sv, closed)))
	}
}

func isLiteralByte(c byte) bool {
	return isAlnum(c) || c == '.' || c == '+' || c == '-'
}

func isNumber(s string) bool {
	if s == "" || !(s[0] == '-' || '0' <= s[0] && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
			return false
		}
	}
	return true
}

// literal handles numbers, true, false, null, and the NaN and Infinity
// that Python's json module writes.
func (w *jsonWalker) literal(sensitive bool) error {
	start := w.pos
	for w.pos < len(w.s) && isLiteralByte(w.s[w.pos]) {
		w.pos++
	}
	lit := w.s[start:w.pos]
	atEnd := w.pos == len(w.s)
	switch {
	case lit == "":
		return errNotJSON
	case isNumber(lit):
		if sensitive {
			m := w.rec.redact(w.r, w.p.where, w.path.String(), lit)
			w.ed.replace(start, w.pos, `"`+m+`"`)
		}
		if atEnd {
			w.cut = true
		}
		return nil
	}
	switch lit {
	case "true", "false", "null", "NaN", "Infinity", "-Infinity":
		return nil
	}
	for _, word := range [...]string{"true", "false", "null", "NaN", "Infinity", "-Infinity"} {
		if atEnd && strings.HasPrefix(word, lit) {
			w.cut = true
			return nil
		}
	}
	return errNotJSON
}

// redactContainer replaces the object or array at w.pos, which sits under
// a sensitive key, by one marker: its keys may be secrets too.
func (w *jsonWalker) redactContainer() {
	start := w.pos
	end, closed := balancedEnd(w.s, start)
	w.pos = end
	if !closed {
		w.cut = true
	}
	raw := w.s[start:end]
	if strings.Trim(raw, "{}[] \t\r\n") == "" {
		return
	}
	m := w.rec.redact(w.r, w.p.where, w.path.String(), raw)
	w.ed.replace(start, end, `"`+m+`"`)
}

// balancedEnd returns the end of the bracketed value starting at v and
// whether it is closed, skipping strings. A closing bracket of the wrong
// kind (broken JSON) does not close anything.
func balancedEnd(s string, v int) (int, bool) {
	var buf [32]byte
	open := buf[:0]
	for k := v; k < len(s); k++ {
		switch c := s[k]; c {
		case '{':
			open = append(open, '}')
		case '[':
			open = append(open, ']')
		case '}', ']':
			if len(open) > 0 && open[len(open)-1] == c {
				open = open[:len(open)-1]
				if len(open) == 0 {
					return k + 1, true
				}
			}
		case '"':
			end, closed := quotedEnd(s, k+1, '"')
			if !closed {
				return len(s), false
			}
			k = end
		}
	}
	return len(s), false
}

// skipJSONValue returns the end of the value at or after pos.
func skipJSONValue(s string, pos int) int {
	for pos < len(s) && strings.IndexByte(" \t\r\n", s[pos]) >= 0 {
		pos++
	}
	if pos >= len(s) {
		return pos
	}
	switch s[pos] {
	case '{', '[':
		end, _ := balancedEnd(s, pos)
		return end
	case '"':
		_, end, _ := readJSONString(s, pos)
		return end
	}
	for pos < len(s) && isLiteralByte(s[pos]) {
		pos++
	}
	return pos
}

// locSensitive reports whether the array at pos (a pydantic error's
// "loc") names a sensitive field anywhere in it.
func (r *Redactor) locSensitive(s string, pos int) bool {
	pos = skipSpace(s, pos)
	if pos >= len(s) || s[pos] != '[' {
		return false
	}
	pos++
	for pos < len(s) {
		pos = skipSpace(s, pos)
		if pos >= len(s) || s[pos] == ']' {
			return false
		}
		if s[pos] == '"' {
			v, end, _ := readJSONString(s, pos)
			if r.fields.match(v) {
				return true
			}
			pos = end
		} else {
			next := skipJSONValue(s, pos)
			if next == pos {
				return false
			}
			pos = next
		}
		pos = skipSpace(s, pos)
		if pos < len(s) && s[pos] == ',' {
			pos++
		}
	}
	return false
}

// findLoc looks ahead, from the value of "input" at pos, for a "loc"
// member of the same object.
func (r *Redactor) findLoc(s string, pos int) bool {
	pos = skipJSONValue(s, pos)
	for {
		pos = skipSpace(s, pos)
		if pos >= len(s) || s[pos] != ',' {
			return false
		}
		pos = skipSpace(s, pos+1)
		if pos >= len(s) || s[pos] != '"' {
			return false
		}
		key, end, closed := readJSONString(s, pos)
		if !closed {
			return false
		}
		pos = skipSpace(s, end)
		if pos >= len(s) || s[pos] != ':' {
			return false
		}
		pos++
		if key == "loc" {
			return r.locSensitive(s, pos)
		}
		next := skipJSONValue(s, pos)
		if next == pos {
			return false
		}
		pos = next
	}
}

func skipSpace(s string, pos int) int {
	for pos < len(s) && strings.IndexByte(" \t\r\n", s[pos]) >= 0 {
		pos++
	}
	return pos
}

// readJSONString decodes the string starting at s[pos] == '"'. It returns
// the value, the end of the string and whether it was closed; a string cut
// short yields what was there, and bad escapes are kept leniently.
func readJSONString(s string, pos int) (string, int, bool) {
	i := pos + 1
	j := i
	for ; j < len(s); j++ {
		if s[j] == '"' {
			return s[i:j], j + 1, true
		}
		if s[j] == '\\' {
			break
		}
	}
	if j == len(s) {
		return s[i:], len(s), false
	}
	b := make([]byte, 0, len(s)-i)
	b = append(b, s[i:j]...)
	for j < len(s) {
		c := s[j]
		if c == '"' {
			return string(b), j + 1, true
		}
		if c != '\\' {
			b = append(b, c)
			j++
			continue
		}
		if j+1 >= len(s) {
			return string(b), len(s), false
		}
		e := s[j+1]
		j += 2
		switch e {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r1, ok := hex4(s, j)
			if !ok {
				if j+4 > len(s) { // cut inside the escape
					return string(b), len(s), false
				}
				b = append(b, '\\', 'u')
				continue
			}
			j += 4
			if utf16.IsSurrogate(r1) {
				if j+6 <= len(s) && s[j] == '\\' && s[j+1] == 'u' {
					if r2, ok := hex4(s, j+2); ok {
						if dec := utf16.DecodeRune(r1, r2); dec != utf8.RuneError {
							b = utf8.AppendRune(b, dec)
							j += 6
							continue
						}
					}
				}
				r1 = utf8.RuneError
			}
			b = utf8.AppendRune(b, r1)
		default: // '"', '\\', '/', and leniently anything else
			b = append(b, e)
		}
	}
	return string(b), len(s), false
}

func hex4(s string, j int) (rune, bool) {
	if j+4 > len(s) {
		return 0, false
	}
	var r rune
	for k := j; k < j+4; k++ {
		v, ok := unhex(s[k])
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// appendJSONString appends s as a JSON string, keeping bytes that need no
// escape as they are (invalid UTF-8 included, so base64 bodies round-trip).
func appendJSONString(b []byte, s string, closeQuote bool) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&15])
		default:
			b = append(b, c)
		}
	}
	if closeQuote {
		b = append(b, '"')
	}
	return b
}
