// Package capture holds the record of one failing request: what the client
// sent and what it got back, with secrets already removed.
//
// A Capture is built by the proxy from an exchange whose status is in the
// capture set, passed through a redactor, and only then stored, served or
// exported: nothing in this package ever sees an unredacted value after
// Redact has run on it.
package capture

import (
	"net/url"
	"time"
)

// Capture is one captured request and its response. The JSON form is the
// admin API's (SPEC: GET /api/captures/{id}).
type Capture struct {
	// ID is sortable by time: newer captures have larger IDs.
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	DurationMS float64   `json:"duration_ms"`
	// TraceID is the W3C trace id, empty when tracing is off.
	TraceID    string   `json:"trace_id,omitempty"`
	Route      string   `json:"route"`
	ClientAddr string   `json:"client_address,omitempty"`
	Request    Request  `json:"request"`
	Response   Response `json:"response"`
	// Redacted lists what was removed or fingerprinted, never the values.
	Redacted []Redaction `json:"redacted"`
}

// Field is one header or cookie, in the order it was seen.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Body is a captured request or response body, at most the capture limit.
type Body struct {
	// Text is the body; when Base64 is set it is the standard base64
	// encoding of a body that was not valid UTF-8.
	Text   string `json:"body"`
	Base64 bool   `json:"body_base64,omitempty"`
	// Truncated is set when the body was longer than the capture limit;
	// Size is then the number of bytes that passed, not the length of Text.
	Truncated   bool   `json:"body_truncated"`
	Size        int64  `json:"body_size"`
	ContentType string `json:"content_type,omitempty"`
}

// Request is what the client sent.
type Request struct {
	Method string `json:"method"`
	// URL is the request URI as received (path and query), with redacted
	// query values replaced.
	URL     string  `json:"url"`
	Host    string  `json:"host,omitempty"`
	Scheme  string  `json:"scheme,omitempty"`
	Proto   string  `json:"proto,omitempty"`
	Headers []Field `json:"headers"`
	Cookies []Field `json:"cookies"`
	Body
}

// Response is what the client got back.
type Response struct {
	Status  int     `json:"status"`
	Headers []Field `json:"headers"`
	Body
}

// Redaction names one removed value: where it was and under which name.
type Redaction struct {
	// Where is one of the Where* constants.
	Where string `json:"where"`
	// Name is the header, cookie, query parameter or field path
	// (for example "Authorization" or "user.password").
	Name string `json:"name"`
	// Fingerprint, when keyed fingerprints are on, is an HMAC of the value
	// that lets two captures be correlated without revealing it.
	Fingerprint string `json:"fingerprint,omitempty"`
}

// Places a redacted value can come from.
const (
	WhereRequestHeader  = "request.header"
	WhereRequestCookie  = "request.cookie"
	WhereRequestQuery   = "request.query"
	WhereRequestBody    = "request.body"
	WhereResponseHeader = "response.header"
	WhereResponseCookie = "response.cookie"
	WhereResponseBody   = "response.body"
)

// Summary is a capture's line in a list (SPEC: GET /api/captures).
type Summary struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	DurationMS float64   `json:"duration_ms"`
	TraceID    string    `json:"trace_id,omitempty"`
	Route      string    `json:"route"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Status     int       `json:"status"`
}

// Summarize returns c's list entry.
func (c *Capture) Summarize() Summary {
	path := c.Request.URL
	if u, err := url.ParseRequestURI(c.Request.URL); err == nil {
		path = u.Path
	}
	return Summary{
		ID: c.ID, Time: c.Time, DurationMS: c.DurationMS, TraceID: c.TraceID,
		Route: c.Route, Method: c.Request.Method, Path: path, Status: c.Response.Status,
	}
}
