package capture

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Placeholder is the value a redactor leaves in place of a secret. Exports
// keep it as it is; replay asks for the real value.
const Placeholder = "[REDACTED]"

// Curl returns a POSIX shell command that repeats c's request with curl,
// preceded by comment lines that name the capture, the redacted values to
// fill in, and anything that could not be reproduced exactly.
//
// The command is safe to paste whatever bytes the capture holds. Every
// argument is single-quoted, where a shell gives no byte a meaning except
// the closing quote; a quote inside a value is written as close, escaped
// quote, reopen:
//
//	'it'\''s'
//
// Options that read files or expand patterns are avoided: --globoff keeps
// [] and {} in the URL literal, the URL follows --url so it cannot be read
// as an option, and a text body goes through --data-raw, which unlike
// --data-binary gives a leading @ no meaning.
//
// A body that is not plain UTF-8 text (binary, stored as base64, or with
// control characters other than tab, CR and LF) cannot travel in an
// argument: an argument cannot hold a NUL byte, and a terminal may mangle
// the others. It is written instead as a printf format made only of
// printable ASCII and three-digit octal escapes, piped to
// curl --data-binary @-, which reproduces the bytes exactly.
//
// Header names that are not HTTP tokens are left out, and CR, LF and other
// control characters in values become spaces, so that a header can never
// split into two; each such change is noted. Host, Content-Length and
// hop-by-hop headers are left to curl.
func Curl(c *Capture) string {
	cmd := buildCurl(c)
	var b strings.Builder
	fmt.Fprintf(&b, "# faultline capture %s: %s %s -> %d at %s\n",
		commentSafe(c.ID), commentSafe(c.Request.Method), commentSafe(c.Route),
		c.Response.Status, c.Time.UTC().Format(time.RFC3339))
	var names []string
	for _, r := range c.Redacted {
		if strings.HasPrefix(r.Where, "request.") {
			names = append(names, commentSafe(r.Where+" "+r.Name))
		}
	}
	if len(names) > 0 {
		fmt.Fprintf(&b, "# redacted, replace %s before sending: %s\n", Placeholder, strings.Join(names, ", "))
	}
	for _, n := range cmd.notes {
		fmt.Fprintf(&b, "# note: %s\n", n)
	}
	if cmd.stdin != nil {
		b.WriteString("printf " + shellQuote(printfFormat(cmd.stdin)) + " | ")
	}
	b.WriteString("curl")
	for i, o := range cmd.opts {
		if i > 0 && o.flag != "-X" && o.flag != "--head" {
			b.WriteString(" \\\n ")
		}
		b.WriteString(" " + o.flag)
		if o.hasValue {
			b.WriteString(" " + shellQuote(o.value))
		}
	}
	b.WriteString("\n")
	return b.String()
}

// curlOpt is one curl option and its value, if it takes one.
type curlOpt struct {
	flag, value string
	hasValue    bool
}

// curlCmd is what Curl's command passes to curl: its options, the bytes
// printf writes to its standard input (nil when none), and the notes.
type curlCmd struct {
	opts  []curlOpt
	stdin []byte
	notes []string
}

// argv returns the arguments a shell passes to curl, without "curl".
func (cmd curlCmd) argv() []string {
	var a []string
	for _, o := range cmd.opts {
		a = append(a, o.flag)
		if o.hasValue {
			a = append(a, o.value)
		}
	}
	return a
}

// leftToCurl are request headers that curl sets itself from the URL and
// body, or that belong to one connection.
var leftToCurl = map[string]bool{
	"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
	"keep-alive": true, "proxy-connection": true, "te": true, "upgrade": true, "trailer": true,
}

func buildCurl(c *Capture) curlCmd {
	var cmd curlCmd
	req := &c.Request
	opt := func(flag string) { cmd.opts = append(cmd.opts, curlOpt{flag: flag}) }
	arg := func(flag, value string) { cmd.opts = append(cmd.opts, curlOpt{flag, value, true}) }

	body, err := req.Body.Bytes()
	if err != nil {
		cmd.notes = append(cmd.notes, "the captured body is not valid base64; it is left out")
	}
	if req.Body.Truncated {
		cmd.notes = append(cmd.notes, fmt.Sprintf("the body was truncated (%d of %d bytes captured); only the captured part is sent", len(body), req.Body.Size))
	}
	hasBody := len(body) > 0

	method := req.Method
	if method == "" {
		method = "GET"
	}
	if !ValidToken(method) {
		cmd.notes = append(cmd.notes, "the method is not an HTTP token; GET is sent instead")
		method = "GET"
	}
	opt("--globoff")
	switch {
	case method == "HEAD" && !hasBody:
		opt("--head")
	case method == "GET" && !hasBody:
	default:
		arg("-X", method)
	}
	u, changed := requestURL(req)
	if changed {
		cmd.notes = append(cmd.notes, "characters that cannot appear in a URL were percent-encoded, or an invalid host replaced")
	}
	arg("--url", u)

	var hasCookie, hasContentType, badName, badValue bool
	for _, h := range req.Headers {
		if !ValidToken(h.Name) {
			badName = true
			continue
		}
		lower := strings.ToLower(h.Name)
		if leftToCurl[lower] {
			continue
		}
		hasCookie = hasCookie || lower == "cookie"
		hasContentType = hasContentType || lower == "content-type"
		v, changed := headerValue(h.Value)
		badValue = badValue || changed
		arg("-H", headerLine(h.Name, v))
	}
	if !hasCookie && len(req.Cookies) > 0 {
		pairs := make([]string, 0, len(req.Cookies))
		for _, ck := range req.Cookies {
			pairs = append(pairs, ck.Name+"="+ck.Value)
		}
		v, changed := headerValue(strings.Join(pairs, "; "))
		badValue = badValue || changed
		arg("-H", headerLine("Cookie", v))
	}
	if hasBody && !hasContentType {
		// Without this curl would add its own form content type.
		v, _ := headerValue(req.Body.ContentType)
		arg("-H", "Content-Type:"+prefixSpace(v))
	}
	if badName {
		cmd.notes = append(cmd.notes, "headers whose name is not an HTTP token are left out")
	}
	if badValue {
		cmd.notes = append(cmd.notes, "control characters in header values were replaced by spaces")
	}
	if hasBody {
		if plainText(body) {
			arg("--data-raw", string(body))
		} else {
			cmd.notes = append(cmd.notes, "the body is not plain text; printf writes its exact bytes to curl's standard input")
			arg("--data-binary", "@-")
			cmd.stdin = body
		}
	}
	return cmd
}

// Bytes returns the body's bytes, decoding base64 when Base64 is set.
func (b *Body) Bytes() ([]byte, error) {
	if !b.Base64 {
		return []byte(b.Text), nil
	}
	return base64.StdEncoding.DecodeString(b.Text)
}

// headerLine is a curl -H argument. curl reads "Name:" with nothing after
// it as "remove this header", so an empty value takes the "Name;" form.
func headerLine(name, value string) string {
	if value == "" {
		return name + ";"
	}
	return name + ": " + value
}

func prefixSpace(s string) string {
	if s == "" {
		return ""
	}
	return " " + s
}

// headerValue trims v and replaces control characters, which could end the
// header line, with spaces. It reports whether anything was replaced.
func headerValue(v string) (string, bool) {
	changed := false
	if strings.ContainsFunc(v, isControl) {
		v = strings.Map(func(r rune) rune {
			if isControl(r) {
				return ' '
			}
			return r
		}, v)
		changed = true
	}
	return strings.Trim(v, " \t"), changed
}

func isControl(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }

// requestURL returns the absolute URL of req with every byte outside the
// URL character set percent-encoded, and reports whether anything changed.
func requestURL(req *Request) (string, bool) {
	changed := false
	scheme := req.Scheme
	if scheme != "https" {
		scheme = "http"
	}
	host := req.Host
	if !validHost(host) {
		changed = changed || host != ""
		host = "localhost"
	}
	target := req.Target()
	var b strings.Builder
	for i := 0; i < len(target); i++ {
		c := target[i]
		if c == '%' && (i+2 >= len(target) || !isHex(target[i+1]) || !isHex(target[i+2])) {
			// A % that starts no escape would make the URL invalid.
			b.WriteString("%25")
			changed = true
			continue
		}
		if urlByte(c) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
		changed = true
	}
	return scheme + "://" + host + b.String(), changed
}

// Target returns the request target in origin form: the path and query of
// URL, which starts with "/" even when the client sent an absolute URL (to
// a proxy) or none.
func (r *Request) Target() string {
	t := r.URL
	if strings.HasPrefix(t, "/") {
		return t
	}
	if i := strings.Index(t, "://"); i >= 0 {
		rest := t[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			return rest[j:]
		}
		if j := strings.IndexByte(rest, '?'); j >= 0 {
			return "/" + rest[j:]
		}
		return "/"
	}
	return "/" + t
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// urlByte reports whether c may appear as is in a URL (RFC 3986 unreserved,
// reserved, and % for existing escapes), except # which would end it.
func urlByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?[]@!$&'()*+,;=%", c) >= 0
}

func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-_:[]", c) >= 0) {
			return false
		}
	}
	// The characters pass; the whole must be a host and optional port
	// that a URL parser takes (not ":A", "[::1", "a:b:c").
	u, err := url.Parse("http://" + h + "/")
	return err == nil && u.Host == h && u.Hostname() != ""
}

// ValidToken reports whether s is an HTTP token (RFC 9110 section 5.6.2):
// a valid method or header name.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// plainText reports whether b can travel as a quoted argument: valid UTF-8
// with no control characters but tab, CR and LF.
func plainText(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f {
			return false
		}
	}
	return utf8.Valid(b)
}

// shellQuote quotes s as one POSIX shell word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printfFormat returns a printf(1) format that writes exactly b: printable
// ASCII as is (% and \ doubled, ' as an escape so the quoting stays
// simple), every other byte as a three-digit octal escape, which POSIX
// printf, bash, dash and zsh all read the same way. A leading - is escaped
// too, or printf would take the format for an option.
func printfFormat(b []byte) string {
	var s strings.Builder
	s.Grow(len(b) * 2)
	for i, c := range b {
		switch {
		case i == 0 && c == '-':
			s.WriteString(`\055`)
		case c == '%':
			s.WriteString("%%")
		case c == '\\':
			s.WriteString(`\\`)
		case c == '\'' || c < 0x20 || c > 0x7e:
			fmt.Fprintf(&s, `\%03o`, c)
		default:
			s.WriteByte(c)
		}
	}
	return s.String()
}

// commentSafe makes s fit on one comment line: control characters and
// invalid UTF-8 become '?'.
func commentSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}
