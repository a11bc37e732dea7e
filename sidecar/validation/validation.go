// Package validation reads the bodies of FastAPI's 422 responses, so that
// the sidecar can count validation errors by field and error type
// (faultline_validation_errors_total), and bounds those label values.
//
// FastAPI answers a request that fails validation with 422 and a body
//
//	{"detail": [{"loc": ["body", "price"], "msg": "field required", "type": "value_error.missing"}]}
//
// in pydantic v1 form, or with pydantic v2
//
//	{"detail": [{"type": "missing", "loc": ["body", "price"], "msg": "Field required", "input": {...}, "url": "..."}]}
//
// Parse reads both; a Limiter caps the distinct values.
package validation

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Unknown is the location, and the type, of an item that does not say:
// a "detail" that is not a list (HTTPException(422, "...")), a list
// element that is not an object, or an object without "loc" or "type".
const Unknown = "unknown"

// Errors of Parse.
var (
	ErrNotJSON  = errors.New("validation: body is not JSON")
	ErrNoDetail = errors.New(`validation: body is not an object with "detail"`)
)

// Parse reads a 422 body and calls fn once per validation error in it,
// with the error's location and type, then returns how many there were.
//
// The location is "loc" joined with dots, each integer in it (a list
// index) written "*" to bound cardinality: ["body", "items", 0, "price"]
// is "body.items.*.price". Other non-string elements are "*" too. The
// type is "type" as the app wrote it: "value_error.missing" (pydantic v1)
// or "missing" (v2).
//
// A "detail" that is not a list, as from HTTPException(422, "..."), counts
// as one item of location and type Unknown; so does a list element that
// is not an object. An empty list is no item. An object without "loc", or
// with an empty one, has location Unknown; one without "type" has type
// Unknown.
//
// A body that is not JSON is ErrNotJSON, and one that is not an object
// with a "detail" key ErrNoDetail; then fn is never called. Callers that
// count every 422 may record one item (Unknown, Unknown) for them. The
// values passed to fn may be anything the app wrote, including what a
// client sent (pydantic puts the keys of a dict in "loc"): pass them
// through a Limiter before they become labels.
//
// Parse is safe for concurrent use, never panics, and allocates only for
// the location strings and the rare type outside the common ones.
func Parse(body []byte, fn func(location, errType string)) (items int, err error) {
	if !json.Valid(body) {
		return 0, ErrNotJSON
	}
	// From here on the body is known to be valid JSON, so the scanner
	// needs no error handling of its own; it still checks every index.
	s := scanner{b: body}
	s.ws()
	if !s.consume('{') {
		return 0, ErrNoDetail
	}
	// The last "detail" counts, as with encoding/json.
	detail := -1
	for {
		s.ws()
		if s.peek() != '"' {
			break // "}"
		}
		key := s.str()
		s.ws()
		s.consume(':')
		s.ws()
		if s.keyIs(key, "detail") {
			detail = s.i
		}
		s.skip()
		s.ws()
		s.consume(',')
	}
	if detail < 0 {
		return 0, ErrNoDetail
	}
	s.i = detail
	return s.detail(fn), nil
}

// detail reads the value of "detail" and reports its items to fn.
func (s *scanner) detail(fn func(location, errType string)) int {
	if !s.consume('[') {
		s.skip()
		fn(Unknown, Unknown)
		return 1
	}
	n := 0
	var buf [128]byte
	for {
		s.ws()
		if c := s.peek(); c == ']' || c == 0 {
			s.consume(']')
			return n
		}
		at := s.i
		loc, typ := s.item(buf[:0])
		fn(loc, typ)
		n++
		s.ws()
		s.consume(',')
		if s.i == at {
			return n // cannot happen in valid JSON; never loop forever
		}
	}
}

// item reads one element of the detail list; buf is scratch space for
// the location.
func (s *scanner) item(buf []byte) (location, errType string) {
	location, errType = Unknown, Unknown
	if !s.consume('{') {
		s.skip()
		return location, errType
	}
	for {
		s.ws()
		if s.peek() != '"' {
			s.consume('}')
			return location, errType
		}
		key := s.str()
		s.ws()
		s.consume(':')
		s.ws()
		// A repeated key counts the last time, as with encoding/json.
		switch {
		case s.keyIs(key, "loc"):
			location = Unknown
			if s.peek() != '[' {
				s.skip()
			} else if loc := s.loc(buf[:0]); len(loc) > 0 {
				location = string(loc)
			}
		case s.keyIs(key, "type"):
			errType = Unknown
			if s.peek() != '"' {
				s.skip()
			} else if t := s.str(); len(t) > 2 {
				errType = typeString(t)
			}
		default:
			s.skip()
		}
		s.ws()
		s.consume(',')
	}
}

// loc reads a "loc" array, appending the location to dst.
func (s *scanner) loc(dst []byte) []byte {
	s.consume('[')
	for i := 0; ; i++ {
		s.ws()
		c := s.peek()
		if c == ']' || c == 0 {
			s.consume(']')
			return dst
		}
		if i > 0 {
			dst = append(dst, '.')
		}
		at := s.i
		if c == '"' {
			dst = appendUnquoted(dst, s.str())
		} else {
			s.skip()
			dst = append(dst, '*')
		}
		s.ws()
		s.consume(',')
		if s.i == at {
			return dst // cannot happen in valid JSON; never loop forever
		}
	}
}

// typeString returns the type in the JSON string t, without allocating for
// the types FastAPI apps commonly report.
func typeString(t []byte) string {
	if known, ok := commonTypes[string(t[1:len(t)-1])]; ok {
		return known
	}
	return string(appendUnquoted(nil, t))
}

// commonTypes holds error types of pydantic v1 and v2, so that Parse does
// not allocate a string for them.
var commonTypes = func() map[string]string {
	m := map[string]string{}
	for _, t := range []string{
		// pydantic v1
		"value_error.missing", "value_error.extra", "value_error.any_str.min_length",
		"value_error.any_str.max_length", "value_error.str.regex", "value_error.email",
		"value_error.number.not_gt", "value_error.number.not_ge", "value_error.number.not_lt",
		"value_error.number.not_le", "value_error.list.min_items", "value_error.list.max_items",
		"value_error.jsondecode", "value_error.const", "value_error.date", "value_error.datetime",
		"value_error.uuid", "value_error.url", "value_error", "type_error.integer", "type_error.float",
		"type_error.bool", "type_error.none.not_allowed", "type_error.str", "type_error.dict",
		"type_error.list", "type_error.enum", "type_error",
		// pydantic v2
		"missing", "extra_forbidden", "string_type", "string_too_short", "string_too_long",
		"string_pattern_mismatch", "int_type", "int_parsing", "float_type", "float_parsing",
		"bool_type", "bool_parsing", "greater_than", "greater_than_equal", "less_than",
		"less_than_equal", "too_short", "too_long", "list_type", "dict_type", "model_type",
		"model_attributes_type", "json_invalid", "enum", "literal_error", "value_error",
		"uuid_type", "uuid_parsing", "date_type", "date_parsing", "datetime_type",
		"datetime_parsing", "url_type", "url_parsing", "none_required", "union_tag_invalid",
		"assertion_error",
	} {
		m[t] = t
	}
	return m
}()

// appendUnquoted appends the contents of the JSON string q, quotes
// included, to dst.
func appendUnquoted(dst, q []byte) []byte {
	if len(q) < 2 {
		return dst
	}
	inner := q[1 : len(q)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		var v string
		if json.Unmarshal(q, &v) != nil {
			return dst
		}
		return append(dst, v...)
	}
	return append(dst, inner...)
}

// scanner walks a document already known to be valid JSON. At the end of
// the input peek returns 0 and every method does nothing.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) consume(c byte) bool {
	if s.peek() == c && c != 0 {
		s.i++
		return true
	}
	return false
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str reads a string at s.i and returns it with its quotes.
func (s *scanner) str() []byte {
	start := s.i
	if !s.consume('"') {
		return nil
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return s.b[start:min(s.i, len(s.b))]
		default:
			s.i++
		}
	}
	s.i = len(s.b)
	return s.b[start:]
}

// keyIs reports whether the JSON string key, quotes included, is name.
func (s *scanner) keyIs(key []byte, name string) bool {
	if len(key) == len(name)+2 && string(key[1:len(key)-1]) == name {
		return true
	}
	// An escaped key ("d\u0065tail") is rare; decode it.
	return len(key) > len(name)+2 && bytes.IndexByte(key, '\\') >= 0 &&
		string(appendUnquoted(nil, key)) == name
}

// skip moves past one value of any kind. It does not recurse, so no
// nesting depth can exhaust the stack.
func (s *scanner) skip() {
	depth := 0
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case '"':
			s.str()
		case '{', '[':
			depth++
			s.i++
		case '}', ']':
			if depth == 0 {
				return // the end of the enclosing value: not ours
			}
			depth--
			s.i++
		case ',', ':':
			if depth == 0 {
				return
			}
			s.i++
		case ' ', '\t', '\n', '\r':
			if depth == 0 {
				return
			}
			s.i++
		default: // numbers and literals
			s.i++
		}
		if depth == 0 && s.i > 0 {
			if c := s.b[s.i-1]; c == '"' || c == '}' || c == ']' {
				return
			}
		}
	}
}
