package redact

import (
	"strings"
	"unicode/utf8"
)

// Percent-encoding (URLs, forms, cookies) and JSON string escapes, read
// leniently: a cut or broken text is still read as far as it goes.

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unescape decodes %XX, and '+' as a space when plus is set. Malformed
// escapes are kept as they are: a cut or broken value is still scanned.
func unescape(s string, plus bool) string {
	i := 0
	for ; i < len(s); i++ {
		if s[i] == '%' || plus && s[i] == '+' {
			break
		}
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && i+2 < len(s):
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, h<<4|l)
				i += 2
				continue
			}
		case c == '+' && plus:
			c = ' '
		}
		b = append(b, c)
	}
	return string(b)
}

// escape percent-encodes s, keeping unreserved bytes and those in keep;
// with plus, a space becomes '+'.
func escape(s, keep string, plus bool) string {
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || strings.IndexByte(keep, c) >= 0:
			b = append(b, c)
		case c == ' ' && plus:
			b = append(b, '+')
		default:
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return string(b)
}

// unescapeLetters decodes the escapes \/ and \u00XX of printable ASCII
// other than quotes and backslashes, so that strings end where they did.
// In a run of backslashes only an odd one out escapes.
func unescapeLetters(s string) string {
	var b []byte
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		j := i
		for j < len(s) && s[j] == '\\' {
			j++
		}
		if (j-i)%2 == 0 {
			i = j - 1
			continue
		}
		var c byte
		n := 0
		switch {
		case j < len(s) && s[j] == '/':
			c, n = '/', 1
		case j+5 <= len(s) && s[j] == 'u' && s[j+1] == '0' && s[j+2] == '0':
			h, ok1 := unhex(s[j+3])
			l, ok2 := unhex(s[j+4])
			if c = h<<4 | l; ok1 && ok2 && ' ' <= c && c < 0x7f && c != '"' && c != '\'' && c != '\\' {
				n = 5
			}
		}
		if n == 0 {
			i = j - 1
			continue
		}
		b = append(b, s[last:j-1]...)
		b = append(b, c)
		last = j + n
		i = last - 1
	}
	if b == nil {
		return s
	}
	return string(append(b, s[last:]...))
}

// unescapeLevel decodes one level of JSON (or JavaScript) string escapes
// anywhere in s, quotes or not; malformed ones are kept.
func unescapeLevel(s string) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c)
			continue
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/', '\'':
			b = append(b, e)
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				b = append(b, c)
				continue
			}
			if r < 0x80 {
				b = append(b, byte(r))
			} else {
				b = utf8.AppendRune(b, r)
			}
			i += 4
		default:
			b = append(b, c)
			continue
		}
		i++
	}
	return string(b)
}
