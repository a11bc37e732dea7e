package route

// Placeholders that the heuristic puts in place of id-like segments.
const (
	// PlaceholderID replaces a segment of decimal digits: "/orders/42".
	PlaceholderID = "{id}"
	// PlaceholderUUID replaces a UUID in 8-4-4-4-12 form, either case.
	PlaceholderUUID = "{uuid}"
	// PlaceholderHex replaces 16 or more hex digits: hashes, object ids.
	PlaceholderHex = "{hex}"
	// PlaceholderDate replaces a date, 2024-01-31, alone or starting an
	// ISO 8601 timestamp (2024-01-31T10:00:00Z).
	PlaceholderDate = "{date}"
	// PlaceholderEmail replaces anything shaped like local@domain.tld.
	PlaceholderEmail = "{email}"
	// PlaceholderToken replaces an opaque value: 20 or more characters of
	// the base64, base64url or JWT alphabet with both letters and digits;
	// any segment longer than MaxSegmentLen bytes; and any segment with a
	// byte outside printable ASCII (a label must stay readable, and valid
	// UTF-8).
	PlaceholderToken = "{token}"
)

// Limits of a collapsed path.
const (
	// MaxSegments is the number of segments a collapsed path keeps; the
	// rest becomes "/...".
	MaxSegments = 6
	// MaxSegmentLen is the longest segment kept as it is.
	MaxSegmentLen = 40
	// MaxCollapsedLen bounds the length of a collapsed path in bytes:
	// MaxSegments segments of at most MaxSegmentLen bytes, their slashes,
	// and "/...".
	MaxCollapsedLen = MaxSegments*(MaxSegmentLen+1) + len("/...")
)

// collapse appends the collapsed form of path, which starts with "/", to
// dst: each segment that looks like an id is replaced by its placeholder,
// and segments past MaxSegments by "/...". A trailing slash is kept, as
// are empty segments ("//"). The result is never longer than
// MaxCollapsedLen.
func collapse(dst []byte, path string) []byte {
	p := path[1:]
	for n := 0; ; n++ {
		seg, rest, more := cutSlash(p)
		if n == MaxSegments && (more || seg != "") {
			return append(dst, "/..."...)
		}
		dst = append(dst, '/')
		if ph := classify(seg); ph != "" {
			dst = append(dst, ph...)
		} else {
			dst = append(dst, seg...)
		}
		if !more {
			return dst
		}
		p = rest
	}
}

func cutSlash(s string) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// classify returns the placeholder for seg, or "" to keep seg as it is.
func classify(seg string) string {
	if seg == "" {
		return ""
	}
	var (
		digits, letters, hex, tokenish, ats int
		atPos, lastDot                      = -1, -1
	)
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c <= ' ' || c >= 0x7f:
			return PlaceholderToken
		case '0' <= c && c <= '9':
			digits++
			hex++
			tokenish++
		case 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F':
			letters++
			hex++
			tokenish++
		case 'g' <= c && c <= 'z' || 'G' <= c && c <= 'Z':
			letters++
			tokenish++
		case c == '-' || c == '_' || c == '.' || c == '~' || c == '+' || c == '=':
			tokenish++
			if c == '.' {
				lastDot = i
			}
		case c == '@':
			ats++
			atPos = i
		}
	}
	n := len(seg)
	switch {
	case digits == n:
		return PlaceholderID
	case isUUID(seg, true):
		return PlaceholderUUID
	case isDate(seg):
		return PlaceholderDate
	case hex == n && n >= 16:
		return PlaceholderHex
	case ats == 1 && atPos > 0 && lastDot > atPos+1 && lastDot < n-1:
		return PlaceholderEmail
	case n > MaxSegmentLen:
		return PlaceholderToken
	case n >= 20 && tokenish == n && letters > 0 && digits > 0:
		return PlaceholderToken
	}
	return ""
}

// isDate reports whether s is YYYY-MM-DD, alone or followed by "T" and
// the time of an ISO 8601 timestamp.
func isDate(s string) bool {
	if len(s) < 10 || len(s) > 10 && s[10] != 'T' && s[10] != 't' {
		return false
	}
	for i := 0; i < 10; i++ {
		c := s[i]
		if i == 4 || i == 7 {
			if c != '-' {
				return false
			}
		} else if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
