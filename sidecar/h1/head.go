package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
)

// ErrHeadTooLarge is returned by ReadHead for a head over its limit.
var ErrHeadTooLarge = errors.New("h1: message head too large")

// ErrMalformedField is returned by ParseFields for an invalid field line.
var ErrMalformedField = errors.New("h1: malformed header field")

// ReadHead appends one message head from br to dst: its lines through the
// empty line that ends it, at most limit bytes. Empty lines before the
// start line are skipped (RFC 9112 section 2.2), a few of them.
func ReadHead(br *bufio.Reader, dst []byte, limit int) ([]byte, error) {
	start := len(dst)
	lineStart := start
	blanks := 0
	for {
		frag, err := br.ReadSlice('\n')
		if len(dst)-start+len(frag) > limit {
			return dst, ErrHeadTooLarge
		}
		dst = append(dst, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(dst) > start {
				err = io.ErrUnexpectedEOF
			}
			return dst, err
		}
		line := dst[lineStart:]
		if len(line) == 1 || len(line) == 2 && line[0] == '\r' {
			if lineStart > start {
				return dst, nil
			}
			if blanks++; blanks > maxLeadingBlankLines {
				return dst, ErrMalformedField
			}
			dst = dst[:start]
			continue
		}
		lineStart = len(dst)
	}
}

// ParseFields parses the field lines of a head (after its start line)
// into h. Field names are canonicalized in place; keys and values are
// strings over lines (interned for common names), so lines must not
// change while h is in use. vals backs the values and is returned grown.
// Obsolete line folding, names that are not tokens (a space before the
// colon) and values with control characters are errors.
func ParseFields(lines []byte, h http.Header, vals []string) ([]string, error) {
	for {
		var line []byte
		line, lines = nextLine(lines)
		if len(line) == 0 {
			return vals, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return vals, ErrMalformedField
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validToken(line[:colon]) {
			return vals, ErrMalformedField
		}
		value := trimOWS(line[colon+1:])
		if !validValue(value) {
			return vals, ErrMalformedField
		}
		name := line[:colon]
		canonicalize(name)
		key, v := headerKey(name), str(value)
		if prior, ok := h[key]; ok {
			// A repeated field: rare, and its slice is full, so this copies.
			h[key] = append(prior, v)
			continue
		}
		if len(vals) == cap(vals) {
			vals = make([]string, 0, max(16, 2*cap(vals)))
		}
		vals = append(vals, v)
		n := len(vals)
		h[key] = vals[n-1 : n : n]
	}
}

// ReadTrailer reads the trailer section that follows a chunked body's
// last chunk, through its empty line, into a new header (trailers are
// rare, so it allocates), at most limit bytes.
func ReadTrailer(br *bufio.Reader, limit int) (http.Header, error) {
	var buf []byte
	lineStart := 0
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > limit {
			return nil, ErrHeadTooLarge
		}
		buf = append(buf, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if line := buf[lineStart:]; len(line) == 1 || len(line) == 2 && line[0] == '\r' {
			break
		}
		lineStart = len(buf)
	}
	h := make(http.Header)
	if _, err := ParseFields(buf, h, nil); err != nil {
		return nil, err
	}
	return h, nil
}
