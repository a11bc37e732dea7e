package h1

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/net/http/httpguts"
)

// headError is a request the server answers with status and closes on.
type headError struct {
	status int
	msg    string
}

func (e *headError) Error() string { return strconv.Itoa(e.status) + " " + e.msg }

func badRequest(msg string) error { return &headError{http.StatusBadRequest, msg} }

// maxLeadingBlankLines bounds the empty lines skipped before a request
// line (RFC 9112 section 2.2 asks to ignore at least one).
const maxLeadingBlankLines = 8

// readHead reads a request head, up to and including its empty line, into
// c.head.
func (c *conn) readHead() error {
	var err error
	c.head, err = ReadHead(c.br, c.head[:0], c.srv.maxHeaderBytes()+4096)
	switch {
	case err == nil:
		return nil
	case err == ErrHeadTooLarge:
		return &headError{http.StatusRequestHeaderFieldsTooLarge, "request header too large"}
	case err == ErrMalformedField:
		return badRequest("too many empty lines before the request")
	case err == io.ErrUnexpectedEOF:
		return badRequest("request head cut short")
	}
	return err
}

// readRequest reads and parses the next request into c.req.
func (c *conn) readRequest() error {
	if err := c.readHead(); err != nil {
		return err
	}
	// Every exported field is reset (a handler may have changed any); the
	// context, unexported, stays the connection's.
	r := c.req
	r.Method, r.URL, r.Proto, r.ProtoMajor, r.ProtoMinor = "", nil, "", 0, 0
	r.Header, r.Body, r.GetBody, r.ContentLength, r.TransferEncoding = nil, nil, nil, 0, nil
	r.Close, r.Host, r.Form, r.PostForm, r.MultipartForm = false, "", nil, nil, nil
	r.Trailer, r.RemoteAddr, r.RequestURI, r.TLS, r.Cancel, r.Response, r.Pattern = nil, "", "", nil, nil, nil, ""
	return c.parse()
}

// str views b as a string without copying; valid while c.head is unchanged.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// nextLine returns the line at the start of b without its CRLF (or LF),
// and the rest of b.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// parse fills c.req from c.head.
func (c *conn) parse() error {
	r := c.req
	line, rest := nextLine(c.head)
	method, after, ok1 := bytes.Cut(line, []byte{' '})
	target, proto, ok2 := bytes.Cut(after, []byte{' '})
	if !ok1 || !ok2 {
		return badRequest("malformed request line")
	}
	if len(method) == 0 || !validToken(method) {
		return badRequest("invalid method")
	}
	r.Method = internMethod(method)
	switch string(proto) {
	case "HTTP/1.1":
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	case "HTTP/1.0":
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.0", 1, 0
	default:
		major, minor, ok := http.ParseHTTPVersion(string(proto))
		if !ok {
			return badRequest("malformed HTTP version")
		}
		if major != 1 {
			return &headError{http.StatusHTTPVersionNotSupported, "unsupported protocol version"}
		}
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, minor
	}
	if err := c.parseTarget(target); err != nil {
		return err
	}

	hdr := c.hdr
	var err error
	if c.vals, err = ParseFields(rest, hdr, c.vals); err != nil {
		return badRequest("malformed header field")
	}
	// Host and Transfer-Encoding are the server's, as in net/http: they
	// move out of the map into the request's fields.
	switch hv := hdr["Host"]; {
	case len(hv) > 1:
		return badRequest("multiple Host headers")
	case len(hv) == 1:
		r.Host = hv[0]
		delete(hdr, "Host")
	case r.ProtoMinor >= 1:
		return badRequest("missing required Host header")
	}
	var chunked, otherTE bool
	if te, ok := hdr["Transfer-Encoding"]; ok {
		chunked = slices.ContainsFunc(te, func(v string) bool { return strings.EqualFold(v, "chunked") })
		otherTE = len(te) != 1 || !chunked
		delete(hdr, "Transfer-Encoding")
	}
	cl := hdr["Content-Length"]
	lengths := len(cl)
	for _, v := range cl[min(1, lengths):] {
		if v != cl[0] {
			return badRequest("multiple Content-Length headers")
		}
	}
	r.Close = HasToken(hdr["Connection"], "close")
	keepAlive10 := r.ProtoMinor == 0 && !r.Close && HasToken(hdr["Connection"], "keep-alive")
	r.Header = hdr
	if r.URL.Host != "" {
		// Absolute form: the target's authority wins (RFC 9112 section 3.2.2).
		r.Host = r.URL.Host
	}
	if !httpguts.ValidHostHeader(r.Host) {
		return badRequest("malformed Host header")
	}
	if r.ProtoMinor == 0 && !keepAlive10 {
		r.Close = true
	}

	switch {
	case otherTE && !chunked:
		return &headError{http.StatusNotImplemented, "unsupported transfer encoding"}
	case otherTE:
		// chunked beside another coding, or twice: ambiguous framing.
		return badRequest("unsupported transfer encoding")
	case chunked:
		if r.ProtoMinor == 0 {
			// HTTP/1.0 has no chunked coding: such a request is a probe.
			return badRequest("transfer encoding on HTTP/1.0")
		}
		// Content-Length is ignored; the connection closes after the
		// answer so that nothing after this body can be read as another
		// request (RFC 9112 section 6.1).
		if lengths > 0 {
			delete(hdr, "Content-Length")
			r.Close = true
		}
		r.TransferEncoding = chunkedTE
		r.ContentLength = -1
		c.body = newBody(c, -1)
		r.Body = c.body
		if v := hdr["Trailer"]; len(v) > 0 {
			r.Trailer = declaredTrailers(v)
		}
	case lengths > 0:
		// ParseUint takes no sign: "+1" is refused with the rest.
		n, err := strconv.ParseUint(cl[0], 10, 63)
		if err != nil {
			return badRequest("bad Content-Length")
		}
		r.ContentLength = int64(n)
		if n == 0 {
			r.Body = http.NoBody
		} else {
			c.body = newBody(c, int64(n))
			r.Body = c.body
		}
	default:
		r.Body = http.NoBody
	}
	if ex := hdr["Expect"]; len(ex) > 0 {
		if len(ex) == 1 && strings.EqualFold(ex[0], "100-continue") && r.ProtoMinor >= 1 {
			if c.body != nil {
				c.body.expectContinue = true
			}
		} else if r.ProtoMinor >= 1 {
			return &headError{http.StatusExpectationFailed, "unsupported Expect"}
		}
	}
	r.RemoteAddr = c.remoteAddr
	return nil
}

var chunkedTE = []string{"chunked"}

// parseTarget fills c.req's URL and RequestURI from the request target.
// An origin-form path of plain characters is used as it is, without
// allocating; anything else goes through url.ParseRequestURI.
func (c *conn) parseTarget(target []byte) error {
	r := c.req
	if len(target) == 0 {
		return badRequest("empty request target")
	}
	for _, b := range target {
		if b <= ' ' || b == 0x7f {
			return badRequest("invalid character in request target")
		}
	}
	r.RequestURI = str(target)
	path, query, hasQuery := bytes.Cut(target, []byte{'?'})
	if target[0] == '/' && plainPath(path) && !(len(path) > 1 && path[1] == '/') {
		c.url = url.URL{Path: str(path), RawQuery: str(query), ForceQuery: hasQuery && len(query) == 0}
		r.URL = &c.url
		return nil
	}
	u, err := url.ParseRequestURI(r.RequestURI)
	if err != nil {
		return badRequest("malformed request target")
	}
	if u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" {
		return badRequest("unsupported scheme in request target")
	}
	r.URL = u
	return nil
}

// plainPath reports whether p is made of characters that need no
// escaping in a path (so that the URL's Path and its escaped form are p).
func plainPath(p []byte) bool {
	for _, b := range p {
		if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' {
			continue
		}
		switch b {
		case '-', '_', '.', '~', '$', '&', '+', ',', '/', ':', ';', '=', '@':
			continue
		}
		return false
	}
	return true
}

// declaredTrailers makes the request's Trailer map from its Trailer
// header: the declared names, filled once the body is read.
func declaredTrailers(vv []string) http.Header {
	t := make(http.Header)
	for _, v := range vv {
		for name := range strings.SplitSeq(v, ",") {
			name = http.CanonicalHeaderKey(strings.TrimSpace(name))
			switch name {
			case "", "Transfer-Encoding", "Trailer", "Content-Length":
				continue
			}
			t[name] = nil
		}
	}
	return t
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// validToken reports whether b is an RFC 9110 token.
func validToken[T string | []byte](b T) bool {
	for i := range len(b) {
		if !httpguts.IsTokenRune(rune(b[i])) {
			return false
		}
	}
	return true
}

// validValue reports whether b is a valid field value: no control
// characters but tab (a bare CR is how line-ending confusions start).
func validValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// HasToken reports whether any of the comma-separated lists vv (a field's
// values, such as Connection's) has token, case-insensitively.
func HasToken(vv []string, token string) bool {
	for _, v := range vv {
		if hasToken(v, token) {
			return true
		}
	}
	return false
}

func hasToken(v, token string) bool {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		item := v[:i]
		if i < len(v) {
			i++
		}
		v = v[i:]
		for len(item) > 0 && (item[0] == ' ' || item[0] == '\t') {
			item = item[1:]
		}
		for len(item) > 0 && (item[len(item)-1] == ' ' || item[len(item)-1] == '\t') {
			item = item[:len(item)-1]
		}
		if len(item) == len(token) && strings.EqualFold(item, token) {
			return true
		}
	}
	return false
}

// canonicalize rewrites a valid field name in place to its canonical
// form (textproto's: "content-type" is "Content-Type").
func canonicalize(b []byte) {
	upper := true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		} else if !upper && 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
}
