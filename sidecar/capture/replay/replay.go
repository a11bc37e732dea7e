// Package replay rebuilds a captured request so that it can be sent again,
// to another server (a developer's), with redacted values filled in.
package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

// Field sets a query parameter or body field. Path is a query parameter
// name, a form field name, or a JSON path with dots and indices
// ("user.password", "items.0.token" or "items[0].token").
type Field struct {
	Path  string
	Value string
	// Raw means Value is JSON (name:=json), not a string (name=value).
	Raw bool
}

// Options say where to send the request and what to change.
type Options struct {
	// To is the server's base URL; the captured path and query are
	// appended to its path.
	To *url.URL
	// SetHeaders replace every captured header of the same name, or are
	// added.
	SetHeaders []capture.Field
	// SetFields replace query parameters and body fields.
	SetFields []Field
}

// ParseSetHeader reads "Name: value".
func ParseSetHeader(s string) (capture.Field, error) {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || !capture.ValidToken(name) {
		return capture.Field{}, fmt.Errorf("%q is not 'Name: value'", s)
	}
	value = strings.TrimSpace(value)
	if strings.ContainsAny(value, "\r\n\x00") {
		return capture.Field{}, fmt.Errorf("the value of %s holds a line break or NUL", name)
	}
	return capture.Field{Name: name, Value: value}, nil
}

// ParseSetField reads "name=value" (a string) or "name:=json" (any JSON).
func ParseSetField(s string) (Field, error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" || name == ":" {
		return Field{}, fmt.Errorf("%q is not name=value or name:=json", s)
	}
	if p, raw := strings.CutSuffix(name, ":"); raw {
		if !json.Valid([]byte(value)) {
			return Field{}, fmt.Errorf("%s:= wants JSON, not %q", p, value)
		}
		return Field{Path: p, Value: value, Raw: true}, nil
	}
	return Field{Path: name, Value: value}, nil
}

// notForwarded are headers that belong to the captured connection, or that
// the new request sets itself. Accept-Encoding is dropped so that the
// client decompresses the answer for display.
var notForwarded = map[string]bool{
	"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
	"keep-alive": true, "proxy-connection": true, "te": true, "upgrade": true, "trailer": true,
	"accept-encoding": true,
}

// NewRequest rebuilds c's request for opts.To with the changes applied. The
// warnings say what could not be reproduced: a truncated body, redacted
// values still holding the placeholder, a --set-field that matched nothing.
func NewRequest(c *capture.Capture, opts Options) (*http.Request, []string, error) {
	if opts.To == nil {
		return nil, nil, errors.New("replay: no target URL")
	}
	var warnings []string
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }

	body, err := c.Request.Body.Bytes()
	if err != nil {
		return nil, nil, fmt.Errorf("replay: the captured body is not valid base64: %w", err)
	}
	if c.Request.Body.Truncated {
		warn("the body was truncated when captured; sending the %d bytes kept", len(body))
	}
	target, _, _ := strings.Cut(c.Request.Target(), "#")
	path, query, _ := strings.Cut(target, "?")

	used := make([]bool, len(opts.SetFields))
	for i, f := range opts.SetFields {
		var ok bool
		if query, ok = setQuery(query, f); ok {
			used[i] = true
		}
	}
	contentType := c.Request.Body.ContentType
	if contentType == "" {
		contentType = capture.FirstValue(c.Request.Headers, "Content-Type")
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case len(body) > 0 && (mt == "application/json" || strings.HasSuffix(mt, "+json")):
		body, err = setJSON(body, opts.SetFields, used)
		if err != nil {
			warn("the body is not valid JSON (%v); --set-field left it as is", err)
		}
	case len(body) > 0 && mt == "application/x-www-form-urlencoded":
		s := string(body)
		for i, f := range opts.SetFields {
			var ok bool
			if s, ok = setQuery(s, f); ok {
				used[i] = true
			}
		}
		body = []byte(s)
	}
	for i, f := range opts.SetFields {
		if !used[i] {
			warn("--set-field %s matched no query parameter or body field", f.Path)
		}
	}

	u := *opts.To
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	if p, err := url.PathUnescape(path); err == nil {
		u.Path = strings.TrimSuffix(opts.To.Path, "/") + p
		u.RawPath = strings.TrimSuffix(opts.To.EscapedPath(), "/") + path
	}
	u.RawQuery = query
	method := c.Request.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, fmt.Errorf("replay: %w", err)
	}
	if len(body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	set := map[string]bool{}
	for _, h := range opts.SetHeaders {
		set[http.CanonicalHeaderKey(h.Name)] = true
	}
	hasCookie := false
	for _, h := range c.Request.Headers {
		k := http.CanonicalHeaderKey(h.Name)
		if notForwarded[strings.ToLower(k)] || set[k] || !capture.ValidToken(k) {
			continue
		}
		hasCookie = hasCookie || k == "Cookie"
		req.Header.Add(k, h.Value)
	}
	if !hasCookie && !set["Cookie"] && len(c.Request.Cookies) > 0 {
		pairs := make([]string, len(c.Request.Cookies))
		for i, ck := range c.Request.Cookies {
			pairs[i] = ck.Name + "=" + ck.Value
		}
		req.Header.Set("Cookie", strings.Join(pairs, "; "))
	}
	for _, h := range opts.SetHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", "") // not Go's: the capture had none
	}

	for _, r := range c.Redacted {
		if covered(r, opts) {
			continue
		}
		switch r.Where {
		case capture.WhereRequestHeader:
			warn("%s %s is still %s; set it with --set-header '%s: VALUE'", r.Where, r.Name, capture.Placeholder, r.Name)
		case capture.WhereRequestCookie:
			warn("%s %s is still %s; set the cookies with --set-header 'Cookie: %s=VALUE; ...'", r.Where, r.Name, capture.Placeholder, r.Name)
		case capture.WhereRequestQuery, capture.WhereRequestBody:
			warn("%s %s is still %s; set it with --set-field %s=VALUE", r.Where, r.Name, capture.Placeholder, r.Name)
		}
	}
	return req, warnings, nil
}

// covered reports whether a --set-* option replaces redaction r.
func covered(r capture.Redaction, opts Options) bool {
	switch r.Where {
	case capture.WhereRequestHeader, capture.WhereRequestCookie:
		name := r.Name
		if r.Where == capture.WhereRequestCookie {
			name = "Cookie"
		}
		for _, h := range opts.SetHeaders {
			if strings.EqualFold(h.Name, name) {
				return true
			}
		}
	case capture.WhereRequestQuery, capture.WhereRequestBody:
		for _, f := range opts.SetFields {
			if normPath(f.Path) == normPath(r.Name) {
				return true
			}
		}
	}
	return false
}

// setQuery replaces the value of every parameter named f.Path in a raw
// query or form body, keeping the order and encoding of the others.
func setQuery(raw string, f Field) (string, bool) {
	if raw == "" {
		return raw, false
	}
	parts := strings.Split(raw, "&")
	found := false
	for i, p := range parts {
		name, _, _ := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil && n == f.Path {
			parts[i] = name + "=" + url.QueryEscape(f.Value)
			found = true
		}
	}
	return strings.Join(parts, "&"), found
}

// setJSON sets the fields that name a path in the JSON body, marking them
// used. Object keys come back sorted: the document is decoded and encoded
// again.
func setJSON(body []byte, fields []Field, used []bool) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		return body, err
	}
	changed := false
	for i, f := range fields {
		var v any = f.Value
		if f.Raw {
			vd := json.NewDecoder(strings.NewReader(f.Value))
			vd.UseNumber()
			if err := vd.Decode(&v); err != nil {
				continue
			}
		}
		if setPath(doc, strings.Split(normPath(f.Path), "."), v) {
			used[i], changed = true, true
		}
	}
	if !changed {
		return body, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return body, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// setPath sets the existing element at path in doc.
func setPath(doc any, path []string, v any) bool {
	for i, key := range path {
		last := i == len(path)-1
		switch node := doc.(type) {
		case map[string]any:
			child, ok := node[key]
			if !ok {
				return false
			}
			if last {
				node[key] = v
				return true
			}
			doc = child
		case []any:
			n, err := strconv.Atoi(key)
			if err != nil || n < 0 || n >= len(node) {
				return false
			}
			if last {
				node[n] = v
				return true
			}
			doc = node[n]
		default:
			return false
		}
	}
	return false
}

// normPath writes "items[0].token" as "items.0.token".
func normPath(p string) string {
	p = strings.ReplaceAll(p, "[", ".")
	p = strings.ReplaceAll(p, "]", "")
	return strings.TrimPrefix(p, ".")
}
