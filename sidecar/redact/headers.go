package redact

import (
	"strings"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

// headerList redacts headers in place. Cookie and Set-Cookie are redacted
// cookie by cookie (their removals are listed at cookieWhere); a sensitive
// header loses its whole value but for a leading auth scheme; any other
// header is scanned, as a URL when it looks like one.
func (r *Redactor) headerList(hs []capture.Field, rec *recorder, where, cookieWhere string) {
	for i := range hs {
		h := &hs[i]
		// A name can carry a secret too; values are listed under the
		// redacted name.
		label := r.scrub(h.Name, &r.fields, rec, place{where: where})
		p := place{where: where, name: label}
		switch {
		case strings.EqualFold(h.Name, "Cookie"):
			h.Value = r.cookieHeader(h.Value, rec, cookieWhere, r.allCookies)
		case strings.EqualFold(h.Name, "Set-Cookie"):
			h.Value = r.setCookie(h.Value, rec, cookieWhere, r.allSetCookies)
		case r.headerSensitive(h.Name):
			h.Value = r.credentialValue(h.Value, rec, where, label)
		case looksLikeURL(h.Value):
			h.Value = r.scrub(r.url(h.Value, rec, where, label), &r.fields, rec, p)
		default:
			h.Value = r.scrub(h.Value, &r.fields, rec, p)
		}
		h.Name = label
	}
}

// looksLikeURL covers Referer, Location, Content-Location, Link and the
// X-Original-URL family.
func looksLikeURL(v string) bool {
	return strings.HasPrefix(v, "/") || strings.Contains(v, "://")
}

// credentialValue returns the replacement of a sensitive header's value,
// keeping a leading auth scheme ("Bearer [REDACTED]").
func (r *Redactor) credentialValue(v string, rec *recorder, where, name string) string {
	t := strings.TrimSpace(v)
	if t == "" || isMarker(t) {
		return v
	}
	if n := schemeLen(t); n > 0 {
		if isMarker(t[n:]) {
			return v
		}
		return t[:n] + rec.redact(r, where, name, t[n:])
	}
	return rec.redact(r, where, name, t)
}

// cookieList redacts parsed request cookies.
func (r *Redactor) cookieList(cs []capture.Field, rec *recorder, where string) {
	for i := range cs {
		c := &cs[i]
		label := r.scrub(c.Name, &r.fields, rec, place{where: where})
		ed := editor{src: c.Value}
		r.cookieValue(&ed, 0, len(c.Value), c.Name, label, rec, where, r.allCookies)
		c.Value = ed.String()
		c.Name = label
	}
}

// cookieHeader redacts a Cookie header, "a=1; session=xyz", cookie by
// cookie, so that the header keeps the names and harmless values but none
// of the sensitive ones.
func (r *Redactor) cookieHeader(v string, rec *recorder, where string, all bool) string {
	ed := editor{src: v}
	for start := 0; start < len(v); {
		end := strings.IndexByte(v[start:], ';')
		if end < 0 {
			end = len(v)
		} else {
			end += start
		}
		a, b := trimSpan(v, start, end)
		if eq := strings.IndexByte(v[a:b], '='); eq >= 0 {
			name := v[a : a+eq]
			sn := r.scrub(name, &r.fields, rec, place{where: where})
			if sn != name {
				ed.replace(a, a+eq, sn)
			}
			r.cookieValue(&ed, a+eq+1, b, strings.TrimSpace(name), strings.TrimSpace(sn), rec, where, all)
		} else if a < b {
			r.cookieValue(&ed, a, b, "", "", rec, where, all)
		}
		start = end + 1
	}
	return ed.String()
}

// setCookie redacts a Set-Cookie header's value, keeping its attributes.
func (r *Redactor) setCookie(v string, rec *recorder, where string, all bool) string {
	ed := editor{src: v}
	end := strings.IndexByte(v, ';')
	if end < 0 {
		end = len(v)
	}
	a, b := trimSpan(v, 0, end)
	if eq := strings.IndexByte(v[a:b], '='); eq >= 0 {
		name := v[a : a+eq]
		sn := r.scrub(name, &r.fields, rec, place{where: where})
		if sn != name {
			ed.replace(a, a+eq, sn)
		}
		r.cookieValue(&ed, a+eq+1, b, strings.TrimSpace(name), strings.TrimSpace(sn), rec, where, all)
	} else if a < b {
		r.cookieValue(&ed, a, b, "", "", rec, where, all)
	}
	if end < len(v) {
		attrs := v[end:]
		if sa := r.scrub(attrs, &r.fields, rec, place{where: where}); sa != attrs {
			ed.replace(end, len(v), sa)
		}
	}
	return ed.String()
}

// cookieValue redacts the cookie value ed.src[start:end] of cookie name
// (listed as label, the name redacted): all of it when the name is
// sensitive (or all is set), else what the patterns and assignments find,
// also behind percent-encoding.
func (r *Redactor) cookieValue(ed *editor, start, end int, name, label string, rec *recorder, where string, all bool) {
	v := ed.src[start:end]
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		start, end, v = start+1, end-1, v[1:len(v)-1]
	}
	if v == "" || isMarker(v) {
		return
	}
	if all || name != "" && r.cookies.match(name) {
		ed.replace(start, end, rec.redact(r, where, label, v))
		return
	}
	if sv := r.scrubEncoded(v, &r.fields, rec, place{where: where, name: label}, keepCookie); sv != v {
		ed.replace(start, end, sv)
	}
}

// trimSpan returns [a, b) without surrounding spaces and tabs.
func trimSpan(s string, a, b int) (int, int) {
	for a < b && (s[a] == ' ' || s[a] == '\t') {
		a++
	}
	for b > a && (s[b-1] == ' ' || s[b-1] == '\t') {
		b--
	}
	return a, b
}
