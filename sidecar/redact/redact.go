// Package redact removes secrets from captures before they are stored,
// served, logged or exported.
//
// A Redactor applies three kinds of rule, and every rule can only add
// redaction: there is no allow-list, so no rule can exempt a value from
// another one.
//
//   - Names. A header, cookie, query parameter, form or multipart field, or
//     JSON key (at any depth) whose name is sensitive has its value
//     replaced. Names are compared after normalisation: ASCII lower case,
//     with '-', '_', '.' and spaces removed; a name is sensitive when it
//     contains one of the listed names ("userPassword", "X-Refresh-Token",
//     "stripe_secret_key" and "user[password]" all are). Headers also have
//     an exact list (Authorization, X-Api-Key, ...); cookies also count as
//     sensitive when they look like sessions (session, PHPSESSID, sid,
//     auth*, jwt, csrftoken, ...) or are listed in Config.AuthCookies.
//   - Inline assignments. In any remaining text, "name=value", "name: value",
//     `"name": "value"`, "name => value" and "<name>value</name>" with a
//     sensitive name lose their value, so a traceback, a log line, a JSON
//     document inside a string or a truncated JSON body does not leak what
//     the structured rules would have caught.
//   - Patterns. Anywhere in any remaining string: "Bearer <token>",
//     "Basic <credentials>", JWTs (three base64url segments, the first
//     starting "eyJ"), URL user-info passwords ("postgres://u:pw@host"), PEM
//     private keys, and well-known key shapes (AWS AKIA/ASIA access key ids,
//     Stripe sk_live_/rk_live_/whsec_, OpenAI-style sk-, GitHub ghp_/
//     github_pat_, GitLab glpat-, Slack xox?-, Google AIza).
//
// Bodies are read by content type, and a body that starts with '{' or '['
// is tried as JSON whatever its type. JSON is walked keeping its layout,
// and tolerates being cut at the capture limit; a cut or broken document
// is then scanned as text as well. Base64 bodies are decoded, redacted
// and encoded again; a compressed body (Content-Encoding, or gzip and zstd
// magic) cannot be read and is replaced whole. A FastAPI 422 that echoes a
// rejected value as "input" next to a "loc" naming a sensitive field loses
// that value too.
//
// A removed value becomes "[REDACTED]", or "[REDACTED:hmac-sha256:<12 hex>]"
// when Config.FingerprintKey is set, and each removal is listed in
// capture.Capture.Redacted with where it was and under which name, never
// the value: the header, cookie or parameter name, the JSON path
// ("items[0].token"), the multipart field, or, for free text, the listed
// name that matched ("password") or the pattern ("<jwt>"). Anything found
// in the request URL, path included, is listed at capture.WhereRequestQuery.
//
// What no rule can see stays: a secret under a harmless name that has no
// recognisable shape, or one inside a body that is neither text nor one
// of the formats above.
package redact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

// Config adds to the built-in rules. The zero value means the built-in
// lists only.
type Config struct {
	// Headers are extra header names whose whole value is redacted
	// (--redact-headers), matched exactly and case-insensitively. Listing
	// Cookie or Set-Cookie redacts every cookie value in them.
	Headers []string
	// Fields are extra names for JSON keys, form and multipart fields,
	// query parameters, cookies and headers (--redact-fields), matched like
	// the built-in ones: normalised, as a substring.
	Fields []string
	// Query are extra query parameter names (--redact-query), matched like
	// Fields but only in URLs.
	Query []string
	// FingerprintKey, when set, keys an HMAC-SHA256 of each removed value;
	// its first 12 hex digits go into the replacement and the Redaction so
	// two captures carrying the same token can be correlated. It must be at
	// least 16 bytes. Nil means plain "[REDACTED]".
	FingerprintKey []byte
	// AuthCookies are extra cookie names that carry credentials (the
	// proxy's Options.AuthCookies), matched exactly after normalisation.
	AuthCookies []string
}

// MinFingerprintKey is the shortest FingerprintKey New accepts.
const MinFingerprintKey = 16

// Redactor redacts captures. It is immutable once built and safe for
// concurrent use.
type Redactor struct {
	headers headerSet
	// allCookies / allSetCookies are set when Cookie / Set-Cookie are on
	// the header list: every cookie value in them is then redacted.
	allCookies, allSetCookies bool

	fields  ruleSet // bodies, inline assignments, header names
	query   ruleSet // fields + query extras
	cookies ruleSet // fields + session-ish names + AuthCookies

	key  []byte
	macs sync.Pool // of hash.Hash, when key is set
}

// New returns a Redactor for cfg, or an error naming the setting that is
// wrong.
func New(cfg Config) (*Redactor, error) {
	r := &Redactor{headers: headerSet{}}
	for _, h := range builtinHeaders {
		r.headers[strings.ToLower(h)] = struct{}{}
	}
	for i, h := range cfg.Headers {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, fmt.Errorf("redact: --redact-headers: entry %d is empty", i+1)
		}
		for j := 0; j < len(h); j++ {
			if !isTokenChar(h[j]) {
				return nil, fmt.Errorf("redact: --redact-headers: %q is not a header name", h)
			}
		}
		switch strings.ToLower(h) {
		case "cookie":
			r.allCookies = true
		case "set-cookie":
			r.allSetCookies = true
		default:
			r.headers[strings.ToLower(h)] = struct{}{}
		}
	}
	if err := checkNames("--redact-fields", cfg.Fields); err != nil {
		return nil, err
	}
	if err := checkNames("--redact-query", cfg.Query); err != nil {
		return nil, err
	}
	if err := checkNames("auth cookies", cfg.AuthCookies); err != nil {
		return nil, err
	}
	if cfg.FingerprintKey != nil && len(cfg.FingerprintKey) < MinFingerprintKey {
		return nil, fmt.Errorf("redact: fingerprint key is %d bytes, need at least %d",
			len(cfg.FingerprintKey), MinFingerprintKey)
	}

	r.fields.add(ruleContains, builtinFields...)
	r.fields.add(ruleContains, cfg.Fields...)

	r.query.addSet(&r.fields)
	r.query.add(ruleContains, builtinQuery...)
	r.query.add(ruleEquals, builtinQueryExact...)
	r.query.add(ruleContains, cfg.Query...)

	r.cookies.addSet(&r.fields)
	r.cookies.add(ruleContains, builtinCookies...)
	r.cookies.add(ruleSuffix, builtinCookieSuffixes...)
	r.cookies.add(ruleEquals, cfg.AuthCookies...)

	if cfg.FingerprintKey != nil {
		r.key = append([]byte(nil), cfg.FingerprintKey...)
		r.macs.New = func() any { return hmac.New(sha256.New, r.key) }
	}
	return r, nil
}

// checkNames refuses names that normalise to nothing: as substrings they
// would match every name.
func checkNames(setting string, names []string) error {
	for i, n := range names {
		if len(normalize(nil, n)) == 0 {
			if strings.TrimSpace(n) == "" {
				return fmt.Errorf("redact: %s: entry %d is empty", setting, i+1)
			}
			return fmt.Errorf("redact: %s: %q has no letters or digits", setting, n)
		}
	}
	return nil
}

// HeaderSensitive reports whether a header's raw value must not be shown:
// the built-in and configured header names, names matching the field
// rules (X-Refresh-Token), and Cookie and Set-Cookie (whose values Capture
// redacts cookie by cookie).
func (r *Redactor) HeaderSensitive(name string) bool {
	if strings.EqualFold(name, "Cookie") || strings.EqualFold(name, "Set-Cookie") {
		return true
	}
	return r.headerSensitive(name)
}

func (r *Redactor) headerSensitive(name string) bool {
	return r.headers.has(name) || r.fields.match(name)
}

// Query returns rawQuery (without the '?') with the values of sensitive
// parameters replaced and patterns removed from the others. It returns
// rawQuery itself when nothing was removed.
func (r *Redactor) Query(rawQuery string) string {
	return r.rawQuery(rawQuery, &r.query, nil, capture.WhereRequestQuery, "")
}

// URL returns a request URI (path and optional query, or an absolute URL)
// with query values, fragment parameters, user-info passwords and patterns
// in the path redacted. It returns requestURI itself, without allocating,
// when nothing was removed.
func (r *Redactor) URL(requestURI string) string {
	return r.url(requestURI, nil, capture.WhereRequestQuery, "")
}

// Capture redacts c in place: the request URL, headers, cookies and body,
// and the response headers (Set-Cookie cookie by cookie) and body. Each
// removal is appended to c.Redacted, without repeats and at most 500 of
// them (later removals still happen). Redacting a capture again changes
// nothing.
func (r *Redactor) Capture(c *capture.Capture) {
	if c == nil {
		return
	}
	rec := &recorder{out: &c.Redacted}
	c.Request.URL = r.url(c.Request.URL, rec, capture.WhereRequestQuery, "")
	r.headerList(c.Request.Headers, rec, capture.WhereRequestHeader, capture.WhereRequestCookie)
	r.cookieList(c.Request.Cookies, rec, capture.WhereRequestCookie)
	r.body(&c.Request.Body, c.Request.Headers, rec, capture.WhereRequestBody)
	r.headerList(c.Response.Headers, rec, capture.WhereResponseHeader, capture.WhereResponseCookie)
	r.body(&c.Response.Body, c.Response.Headers, rec, capture.WhereResponseBody)
	if c.Redacted == nil {
		c.Redacted = []capture.Redaction{}
	}
}

// Marker text.
const (
	markerPlain  = "[REDACTED]"
	markerPrefix = "[REDACTED:hmac-sha256:"
	fpLen        = 12
)

// fingerprint returns the short keyed hash of v, or "" without a key.
func (r *Redactor) fingerprint(v string) string {
	if r.key == nil {
		return ""
	}
	h := r.macs.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(v))
	var sum [sha256.Size]byte
	s := h.Sum(sum[:0])
	r.macs.Put(h)
	return hex.EncodeToString(s[:fpLen/2])
}

func marker(fp string) string {
	if fp == "" {
		return markerPlain
	}
	return markerPrefix + fp + "]"
}

// markerLen returns the length of the marker at the start of s, or 0.
func markerLen(s string) int {
	if !strings.HasPrefix(s, markerPlain[:len(markerPlain)-1]) {
		return 0
	}
	if strings.HasPrefix(s, markerPlain) {
		return len(markerPlain)
	}
	if !strings.HasPrefix(s, markerPrefix) || len(s) < len(markerPrefix)+fpLen+1 {
		return 0
	}
	for i := len(markerPrefix); i < len(markerPrefix)+fpLen; i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return 0
		}
	}
	if s[len(markerPrefix)+fpLen] != ']' {
		return 0
	}
	return len(markerPrefix) + fpLen + 1
}

// isMarker reports whether s is exactly one marker: a value already
// redacted (by an earlier rule, or an earlier pass) is left alone.
func isMarker(s string) bool {
	n := markerLen(s)
	return n > 0 && n == len(s)
}

// maxRedactions bounds c.Redacted; later removals still happen, and a
// last entry says that some are not listed.
const maxRedactions = 500

// recorder lists removals. A nil recorder, or one with a nil out, only
// computes replacements.
type recorder struct {
	out *[]capture.Redaction
}

// redact returns the replacement for value, found at where under name,
// and lists it.
func (rec *recorder) redact(r *Redactor, where, name, value string) string {
	fp := r.fingerprint(value)
	if rec != nil && rec.out != nil {
		rec.add(capture.Redaction{Where: where, Name: name, Fingerprint: fp})
	}
	return marker(fp)
}

func (rec *recorder) add(x capture.Redaction) {
	list := *rec.out
	for _, y := range list {
		if y == x {
			return
		}
	}
	switch {
	case len(list) < maxRedactions:
		*rec.out = append(list, x)
	case len(list) == maxRedactions:
		*rec.out = append(list, capture.Redaction{Where: x.Where, Name: "(further redactions not listed)"})
	}
}
