package redact

import (
	"encoding/base64"
	"mime"
	"strings"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

// body redacts a captured body in place, decoding and re-encoding it when
// it is base64. headers are the message's, for its Content-Encoding.
func (r *Redactor) body(b *capture.Body, headers []capture.Field, rec *recorder, where string) {
	if b.Text == "" {
		return
	}
	if !b.Base64 {
		b.Text = r.bodyText(b.Text, b.ContentType, rec, where, "", 0)
		return
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(b.Text)))
	// On bad input, Decode reports how much it decoded: the rest, which
	// cannot be scanned, is dropped.
	n, err := base64.StdEncoding.Decode(raw, []byte(b.Text))
	raw = raw[:n]
	if compressed(raw, headers) {
		// Nothing inside can be scanned: the body goes whole. The capture
		// layer should decode bodies before redaction to keep them.
		b.Text, b.Base64 = rec.redact(r, where, "<compressed body>", b.Text), false
		return
	}
	text := string(raw)
	out := r.bodyText(text, b.ContentType, rec, where, "", 0)
	if out != text || err != nil {
		b.Text = base64.StdEncoding.EncodeToString([]byte(out))
	}
}

// compressed reports whether a binary body is still content-coded: by its
// Content-Encoding, or by the magic numbers of gzip and zstd.
func compressed(raw []byte, headers []capture.Field) bool {
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b ||
		len(raw) >= 4 && raw[0] == 0x28 && raw[1] == 0xb5 && raw[2] == 0x2f && raw[3] == 0xfd {
		return true
	}
	for _, h := range headers {
		if !strings.EqualFold(h.Name, "Content-Encoding") {
			continue
		}
		for _, coding := range strings.Split(h.Value, ",") {
			if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
				return true
			}
		}
	}
	return false
}

type bodyKind uint8

const (
	kindOther bodyKind = iota
	kindJSON
	kindForm
	kindMultipart
)

// mediaType returns the kind of a Content-Type and its multipart boundary.
func mediaType(ct string) (bodyKind, string) {
	mt := ct
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch {
	case strings.Contains(mt, "json"):
		return kindJSON, ""
	case mt == "application/x-www-form-urlencoded":
		return kindForm, ""
	case strings.HasPrefix(mt, "multipart/"):
		if _, params, err := mime.ParseMediaType(ct); err == nil {
			return kindMultipart, params["boundary"]
		}
		return kindMultipart, paramValue(ct, "boundary")
	}
	return kindOther, ""
}

// paramValue finds name=value among the ';'-separated parameters of a
// header value that mime could not parse.
func paramValue(h, name string) string {
	parts := strings.Split(h, ";")
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if len(p) > len(name) && strings.EqualFold(p[:len(name)], name) && p[len(name)] == '=' {
			return strings.Trim(p[len(name)+1:], `"`)
		}
	}
	return ""
}

// maxBodyDepth bounds multipart nesting.
const maxBodyDepth = 3

// bodyText redacts a body by its content type, then, unless it was
// complete and well-formed structured data, scans the whole text. A body
// that starts like JSON is tried as JSON whatever its declared type
// ("curl -d '{...}'" sends form-urlencoded). prefix names the enclosing
// multipart field.
func (r *Redactor) bodyText(s, ct string, rec *recorder, where, prefix string, depth int) string {
	if s == "" {
		return s
	}
	kind, boundary := mediaType(ct)
	p := place{where: where, name: prefix}
	if kind == kindMultipart {
		if boundary == "" {
			boundary = sniffBoundary(s)
		}
		if boundary != "" && depth < maxBodyDepth {
			return r.multipart(s, boundary, rec, where, prefix, depth)
		}
		return r.scrub(s, &r.fields, rec, p)
	}
	first := skipSpace(s, 0)
	if kind == kindJSON || first < len(s) && (s[first] == '{' || s[first] == '[') {
		out, state := r.walkJSON(s, rec, where, prefix)
		switch {
		case state == jsonClean:
			return out
		case state == jsonCut || kind == kindJSON:
			// Cut at the capture limit, or broken: what the structure
			// could not reach, the tolerant scan still finds.
			return r.scrub(out, &r.fields, rec, p)
		}
		// Broken, and not declared JSON: scan it like broken JSON, and
		// then like what it was declared to be (percent-encoding too).
		return r.scrubEncoded(r.scrub(out, &r.fields, rec, p), &r.fields, rec, p, keepQuery)
	}
	if kind == kindForm || kind == kindOther && looksLikeForm(s) {
		s = r.rawQuery(s, &r.fields, rec, where, prefix)
	}
	if kind == kindOther {
		// Undeclared or plain text: what hides behind %XX is looked at too.
		return r.scrubEncoded(s, &r.fields, rec, p, keepQuery)
	}
	return r.scrub(s, &r.fields, rec, p)
}

// looksLikeForm reports whether an undeclared body reads as a=1&b=2.
func looksLikeForm(s string) bool {
	if strings.IndexByte(s, '=') <= 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == '<' {
			return false
		}
	}
	return true
}

// sniffBoundary takes the boundary from the first line of a multipart
// body sent without one in its Content-Type.
func sniffBoundary(s string) string {
	s = strings.TrimLeft(s, "\r\n")
	if !strings.HasPrefix(s, "--") {
		return ""
	}
	line := s[2:]
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = strings.TrimRight(line, "\r")
	if line == "" || len(line) > 70 || strings.ContainsAny(line, " \t") {
		return ""
	}
	return line
}

// multipart redacts a multipart body part by part: a part whose field
// name is sensitive loses its content; any other is redacted by its own
// content type. A body cut short ends inside its last part, which is
// handled like the others.
func (r *Redactor) multipart(s, boundary string, rec *recorder, where, prefix string, depth int) string {
	delim := "--" + boundary
	ed := editor{src: s}
	p := place{where: where, name: prefix}
	i := -1
	for from := 0; from < len(s); {
		k := strings.Index(s[from:], delim)
		if k < 0 {
			break
		}
		k += from
		if k == 0 || s[k-1] == '\n' {
			i = k
			break
		}
		from = k + 1
	}
	if i < 0 {
		return r.scrub(s, &r.fields, rec, p)
	}
	r.scrubSpan(&ed, 0, i, rec, p) // preamble
	for {
		q := i + len(delim)
		if strings.HasPrefix(s[q:], "--") { // close delimiter
			r.scrubSpan(&ed, q+2, len(s), rec, p) // epilogue
			break
		}
		nl := strings.IndexByte(s[q:], '\n')
		if nl < 0 {
			r.scrubSpan(&ed, q, len(s), rec, p)
			break
		}
		hstart := q + nl + 1
		hend, bstart := blankLine(s, hstart)
		if hend < 0 { // cut inside the part's headers
			r.scrubSpan(&ed, hstart, len(s), rec, p)
			break
		}
		name, ct := partHeaders(s[hstart:hend])
		label := r.scrub(name, &r.fields, nil, place{}) // listed by the header scan
		if prefix != "" {
			label = prefix + "." + label
		}
		r.scrubSpan(&ed, hstart, hend, rec, place{where: where, name: label})
		bend, next := len(s), -1
		if nx := strings.Index(s[bstart:], "\n"+delim); nx >= 0 {
			bend = bstart + nx
			next = bend + 1
			if bend > bstart && s[bend-1] == '\r' {
				bend--
			}
		}
		content := s[bstart:bend]
		switch {
		case content == "" || isMarker(content):
		case name != "" && r.fields.match(name):
			ed.replace(bstart, bend, rec.redact(r, where, label, content))
		default:
			if out := r.bodyText(content, ct, rec, where, label, depth+1); out != content {
				ed.replace(bstart, bend, out)
			}
		}
		if next < 0 {
			break
		}
		i = next
	}
	return ed.String()
}

// scrubSpan scans ed.src[a:b] and replaces it when something was found.
func (r *Redactor) scrubSpan(ed *editor, a, b int, rec *recorder, p place) {
	if a >= b {
		return
	}
	if out := r.scrub(ed.src[a:b], &r.fields, rec, p); out != ed.src[a:b] {
		ed.replace(a, b, out)
	}
}

// blankLine finds the empty line ending the headers that start at from.
// It returns where the empty line starts and where the content after it
// starts, or -1.
func blankLine(s string, from int) (int, int) {
	for ls := from; ls <= len(s); {
		le := strings.IndexByte(s[ls:], '\n')
		if le < 0 {
			return -1, -1
		}
		if line := s[ls : ls+le]; line == "" || line == "\r" {
			return ls, ls + le + 1
		}
		ls += le + 1
	}
	return -1, -1
}

// partHeaders returns a part's field name and content type.
func partHeaders(h string) (name, ct string) {
	for _, line := range strings.Split(h, "\n") {
		line = strings.TrimRight(line, "\r")
		colon := strings.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		k, v := strings.TrimSpace(line[:colon]), strings.TrimSpace(line[colon+1:])
		switch {
		case strings.EqualFold(k, "Content-Disposition"):
			if _, params, err := mime.ParseMediaType(v); err == nil {
				name = params["name"]
			} else {
				name = paramValue(v, "name")
			}
		case strings.EqualFold(k, "Content-Type"):
			ct = v
		}
	}
	return name, ct
}
