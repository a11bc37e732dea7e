package route

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxTemplateLen is the longest template Compile accepts, in bytes.
const MaxTemplateLen = 2048

// maxParamsPerSegment bounds the parameters in one segment ("{a}-{b}.{c}");
// more is almost certainly a mistake and would only slow matching down.
const maxParamsPerSegment = 8

// A TemplateError reports a malformed template.
type TemplateError struct {
	Template string
	Reason   string
}

// Error implements error.
func (e *TemplateError) Error() string {
	return fmt.Sprintf("route: template %q: %s", e.Template, e.Reason)
}

// segKind is the kind of one template segment. The order of the parameter
// kinds is the order in which they are tried: the more specific first.
type segKind uint8

const (
	kindStatic segKind = iota // "items"
	kindMixed                 // "{name}.json", "v{version}"
	kindInt                   // "{id:int}"
	kindUUID                  // "{id:uuid}"
	kindFloat                 // "{x:float}"
	kindStr                   // "{id}", "{id:str}"
	kindPath                  // "{p:path}", matches the rest of the path
)

// segment is one parsed template segment.
type segment struct {
	kind segKind
	// lit is the static text of a kindStatic segment.
	lit string
	// pieces are the literal parts of a kindMixed segment around its
	// parameters: len(pieces) == number of parameters + 1.
	pieces []string
}

// key identifies segments that match the same set of strings, whatever
// their parameter names: "/u/{a}" and "/u/{b}" share a trie node.
func (s segment) key() string {
	switch s.kind {
	case kindStatic:
		return s.lit
	case kindMixed:
		return strings.Join(s.pieces, "{}")
	default:
		return string('0' + rune(s.kind))
	}
}

// parsedTemplate is a template split into segments. trailing reports a
// final "/" ("/items/"); the root template "/" is no segments and trailing.
type parsedTemplate struct {
	segs     []segment
	trailing bool
}

// parseTemplate checks t and splits it into segments. Its errors are bare
// reasons; callers say which template, and where it came from.
//
// The syntax is Starlette's: "{name}" or "{name:convertor}" where name is a
// Python identifier and convertor one of str, int, float, uuid and path.
// A path parameter must be the whole last segment. Parameters may share a
// segment with literal text ("{name}.json"); there their convertors only
// document intent, each matches one or more characters other than "/".
func parseTemplate(t string) (parsedTemplate, error) {
	var p parsedTemplate
	switch {
	case t == "":
		return p, errors.New("empty")
	case t[0] != '/':
		return p, errors.New(`does not start with "/"`)
	case len(t) > MaxTemplateLen:
		return p, fmt.Errorf("longer than %d bytes", MaxTemplateLen)
	}
	if !utf8.ValidString(t) {
		return p, errors.New("not valid UTF-8")
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c == 0x7f || c == '?' || c == '#' {
			return p, fmt.Errorf("byte %q at offset %d is not allowed in a template", c, i)
		}
	}
	if t == "/" {
		p.trailing = true
		return p, nil
	}
	rest := t[1:]
	if strings.HasSuffix(rest, "/") {
		p.trailing = true
		rest = rest[:len(rest)-1]
	}
	names := map[string]bool{}
	raw := strings.Split(rest, "/")
	for i, s := range raw {
		if s == "" {
			return p, errors.New(`empty segment ("//")`)
		}
		seg, err := parseSegment(s, names)
		if err != nil {
			return p, fmt.Errorf("segment %q: %w", s, err)
		}
		if seg.kind == kindPath && (i != len(raw)-1 || p.trailing) {
			return p, fmt.Errorf("segment %q: a path parameter must be the last segment", s)
		}
		p.segs = append(p.segs, seg)
	}
	return p, nil
}

// parseSegment parses one segment between slashes; names collects the
// parameter names seen so far in the template, which must be distinct.
func parseSegment(s string, names map[string]bool) (segment, error) {
	if !strings.ContainsAny(s, "{}") {
		return segment{kind: kindStatic, lit: s}, nil
	}
	var (
		pieces []string
		convs  []string
		lit    strings.Builder
	)
	for i := 0; i < len(s); {
		switch s[i] {
		case '}':
			return segment{}, errors.New(`unbalanced "}"`)
		case '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return segment{}, errors.New(`unclosed "{"`)
			}
			name, conv, _ := strings.Cut(s[i+1:i+end], ":")
			if !isIdentifier(name) {
				return segment{}, fmt.Errorf("parameter name %q is not an identifier", name)
			}
			if names[name] {
				return segment{}, fmt.Errorf("duplicate parameter %q", name)
			}
			names[name] = true
			switch conv {
			case "", "str", "int", "float", "uuid", "path":
			default:
				return segment{}, fmt.Errorf("unknown convertor %q (want str, int, float, uuid or path)", conv)
			}
			pieces = append(pieces, lit.String())
			lit.Reset()
			convs = append(convs, conv)
			i += end + 1
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	pieces = append(pieces, lit.String())
	if len(convs) > maxParamsPerSegment {
		return segment{}, fmt.Errorf("more than %d parameters", maxParamsPerSegment)
	}
	if len(convs) == 1 && pieces[0] == "" && pieces[1] == "" {
		switch convs[0] {
		case "int":
			return segment{kind: kindInt}, nil
		case "float":
			return segment{kind: kindFloat}, nil
		case "uuid":
			return segment{kind: kindUUID}, nil
		case "path":
			return segment{kind: kindPath}, nil
		default:
			return segment{kind: kindStr}, nil
		}
	}
	for _, c := range convs {
		if c == "path" {
			return segment{}, errors.New("a path parameter must be the whole segment")
		}
	}
	return segment{kind: kindMixed, pieces: pieces}, nil
}

// isIdentifier reports whether s is a Python identifier in ASCII, as
// Starlette's parameter pattern requires.
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// matchSegment reports whether a non-empty path segment v matches a
// parameter segment of the given kind.
func matchSegment(kind segKind, pieces []string, v string) bool {
	switch kind {
	case kindStr:
		return true
	case kindInt:
		return isDigits(v)
	case kindFloat:
		whole, frac, dot := strings.Cut(v, ".")
		return isDigits(whole) && (!dot || isDigits(frac))
	case kindUUID:
		return isUUID(v, false)
	case kindMixed:
		return matchMixed(pieces, v)
	}
	return false
}

// matchMixed reports whether v is pieces[0] P pieces[1] P ... pieces[n]
// where each P is one or more bytes. Placing each inner literal at its
// leftmost possible position leaves the most room for the rest, so one
// left-to-right pass decides it, in O(len(v)·len(pieces)).
func matchMixed(pieces []string, v string) bool {
	first, last := pieces[0], pieces[len(pieces)-1]
	if !strings.HasPrefix(v, first) {
		return false
	}
	end := len(v) - len(last)
	if end < len(first) || v[end:] != last {
		return false
	}
	pos := len(first)
	for _, lit := range pieces[1 : len(pieces)-1] {
		// The parameter before lit takes at least one byte.
		if pos+1 > end {
			return false
		}
		i := strings.Index(v[pos+1:end], lit)
		if i < 0 {
			return false
		}
		pos += 1 + i + len(lit)
	}
	return pos+1 <= end
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isUUID reports whether s is a UUID in its 8-4-4-4-12 hex form. Starlette's
// uuid convertor takes lower case only; the heuristic takes either case.
func isUUID(s string, anyCase bool) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || anyCase && 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
