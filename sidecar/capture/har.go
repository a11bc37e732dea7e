package capture

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/faultline-dev/faultline/sidecar/buildinfo"
)

// HAR is an HTTP Archive, version 1.2
// (http://www.softwareishard.com/blog/har-12-spec/), as browsers' developer
// tools and HTTP clients import it. Fields that start with an underscore are
// custom fields, which the format allows.
type HAR struct {
	Log HARLog `json:"log"`
}

// HARLog is the archive's root object.
type HARLog struct {
	Version string     `json:"version"`
	Creator HARCreator `json:"creator"`
	Entries []HAREntry `json:"entries"`
}

// HARCreator names the program that wrote the archive.
type HARCreator struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// HAREntry is one request and its response.
type HAREntry struct {
	StartedDateTime string      `json:"startedDateTime"`
	Time            float64     `json:"time"`
	Request         HARRequest  `json:"request"`
	Response        HARResponse `json:"response"`
	Cache           struct{}    `json:"cache"`
	Timings         HARTimings  `json:"timings"`
	Comment         string      `json:"comment,omitempty"`

	ID       string      `json:"_id"`
	Route    string      `json:"_route"`
	TraceID  string      `json:"_traceId,omitempty"`
	Redacted []Redaction `json:"_redacted"`
}

// HARRequest is a HAR request object.
type HARRequest struct {
	Method      string         `json:"method"`
	URL         string         `json:"url"`
	HTTPVersion string         `json:"httpVersion"`
	Cookies     []HARCookie    `json:"cookies"`
	Headers     []HARNameValue `json:"headers"`
	QueryString []HARNameValue `json:"queryString"`
	PostData    *HARPostData   `json:"postData,omitempty"`
	HeadersSize int64          `json:"headersSize"`
	BodySize    int64          `json:"bodySize"`
}

// HARResponse is a HAR response object.
type HARResponse struct {
	Status      int            `json:"status"`
	StatusText  string         `json:"statusText"`
	HTTPVersion string         `json:"httpVersion"`
	Cookies     []HARCookie    `json:"cookies"`
	Headers     []HARNameValue `json:"headers"`
	Content     HARContent     `json:"content"`
	RedirectURL string         `json:"redirectURL"`
	HeadersSize int64          `json:"headersSize"`
	BodySize    int64          `json:"bodySize"`
}

// HARNameValue is a header or query parameter.
type HARNameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// HARCookie is a request or response cookie.
type HARCookie struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	Path     string `json:"path,omitempty"`
	Domain   string `json:"domain,omitempty"`
	Expires  string `json:"expires,omitempty"`
	HTTPOnly bool   `json:"httpOnly,omitempty"`
	Secure   bool   `json:"secure,omitempty"`
}

// HARPostData is a request body. HAR 1.2 has no encoding for it, so a
// binary body is given as base64 text with the custom _encoding "base64".
type HARPostData struct {
	MimeType string `json:"mimeType"`
	Text     string `json:"text"`
	Encoding string `json:"_encoding,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

// HARContent is a response body.
type HARContent struct {
	Size     int64  `json:"size"`
	MimeType string `json:"mimeType"`
	Text     string `json:"text"`
	Encoding string `json:"encoding,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

// HARTimings splits an entry's time. faultline sees only the whole
// exchange, so it is all "wait"; -1 marks the phases it cannot know.
type HARTimings struct {
	Blocked float64 `json:"blocked"`
	DNS     float64 `json:"dns"`
	Connect float64 `json:"connect"`
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
	SSL     float64 `json:"ssl"`
}

// HARTimeFormat is the format of startedDateTime (ISO 8601 with milliseconds).
const HARTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// NewHAR returns an archive of the captures, oldest first. Redacted values
// stay as their placeholders.
func NewHAR(cs ...*Capture) *HAR {
	h := &HAR{Log: HARLog{
		Version: "1.2",
		Creator: HARCreator{Name: "faultline", Version: buildinfo.Get().Version},
		Entries: make([]HAREntry, 0, len(cs)),
	}}
	for _, c := range cs {
		h.Log.Entries = append(h.Log.Entries, harEntry(c))
	}
	slices.SortStableFunc(h.Log.Entries, func(a, b HAREntry) int {
		return cmp.Compare(a.StartedDateTime+a.ID, b.StartedDateTime+b.ID)
	})
	return h
}

func harEntry(c *Capture) HAREntry {
	u, _ := requestURL(&c.Request)
	e := HAREntry{
		StartedDateTime: c.Time.UTC().Format(HARTimeFormat),
		Time:            c.DurationMS,
		Request: HARRequest{
			Method:      c.Request.Method,
			URL:         u,
			HTTPVersion: httpVersion(c.Request.Proto),
			Cookies:     harCookies(c.Request.Cookies),
			Headers:     harFields(c.Request.Headers),
			QueryString: harQuery(u),
			HeadersSize: -1,
			BodySize:    bodySize(&c.Request.Body),
		},
		Response: HARResponse{
			Status:      c.Response.Status,
			StatusText:  http.StatusText(c.Response.Status),
			HTTPVersion: httpVersion(c.Request.Proto),
			Cookies:     harSetCookies(c.Response.Headers),
			Headers:     harFields(c.Response.Headers),
			Content: HARContent{
				Size:     bodySize(&c.Response.Body),
				MimeType: mimeType(&c.Response.Body, c.Response.Headers),
				Text:     c.Response.Body.Text,
				Comment:  truncatedNote(&c.Response.Body),
			},
			RedirectURL: FirstValue(c.Response.Headers, "Location"),
			HeadersSize: -1,
			BodySize:    bodySize(&c.Response.Body),
		},
		Timings: HARTimings{Blocked: -1, DNS: -1, Connect: -1, Wait: c.DurationMS, SSL: -1},
		ID:      c.ID, Route: c.Route, TraceID: c.TraceID,
		Redacted: c.Redacted,
	}
	if e.Redacted == nil {
		e.Redacted = []Redaction{}
	}
	if c.Response.Body.Base64 {
		e.Response.Content.Encoding = "base64"
	}
	if rb := &c.Request.Body; rb.Text != "" {
		e.Request.PostData = &HARPostData{
			MimeType: mimeType(rb, c.Request.Headers),
			Text:     rb.Text,
			Comment:  truncatedNote(rb),
		}
		if rb.Base64 {
			e.Request.PostData.Encoding = "base64"
		}
	}
	return e
}

func httpVersion(proto string) string {
	if proto == "" {
		return "HTTP/1.1"
	}
	return proto
}

// bodySize is the size of the body as sent: the bytes that passed when it
// was truncated, else the captured bytes.
func bodySize(b *Body) int64 {
	if b.Size > 0 {
		return b.Size
	}
	if d, err := b.Bytes(); err == nil {
		return int64(len(d))
	}
	return 0
}

func truncatedNote(b *Body) string {
	if b.Truncated {
		return "body truncated by the capture limit"
	}
	return ""
}

// mimeType is the body's content type, or "x-unknown" (as browsers write).
func mimeType(b *Body, headers []Field) string {
	if b.ContentType != "" {
		return b.ContentType
	}
	if v := FirstValue(headers, "Content-Type"); v != "" {
		return v
	}
	return "x-unknown"
}

// FirstValue returns the value of the first field named name, compared
// case-insensitively, or "".
func FirstValue(fs []Field, name string) string {
	for _, f := range fs {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

func harFields(fs []Field) []HARNameValue {
	out := make([]HARNameValue, len(fs))
	for i, f := range fs {
		out[i] = HARNameValue{f.Name, f.Value}
	}
	return out
}

func harCookies(fs []Field) []HARCookie {
	out := make([]HARCookie, len(fs))
	for i, f := range fs {
		out[i] = HARCookie{Name: f.Name, Value: f.Value}
	}
	return out
}

// harSetCookies reads the response cookies from its Set-Cookie headers.
func harSetCookies(headers []Field) []HARCookie {
	out := []HARCookie{}
	for _, f := range headers {
		if !strings.EqualFold(f.Name, "Set-Cookie") {
			continue
		}
		ck, err := http.ParseSetCookie(f.Value)
		if err != nil {
			continue
		}
		hc := HARCookie{Name: ck.Name, Value: ck.Value, Path: ck.Path, Domain: ck.Domain, HTTPOnly: ck.HttpOnly, Secure: ck.Secure}
		if !ck.Expires.IsZero() {
			hc.Expires = ck.Expires.UTC().Format(HARTimeFormat)
		}
		out = append(out, hc)
	}
	return out
}

// harQuery splits the query of rawURL in order (url.Values would sort it);
// a part that does not unescape is kept as written.
func harQuery(rawURL string) []HARNameValue {
	out := []HARNameValue{}
	_, q, ok := strings.Cut(rawURL, "?")
	if !ok {
		return out
	}
	for part := range strings.SplitSeq(q, "&") {
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		out = append(out, HARNameValue{unescapeQuery(name), unescapeQuery(value)})
	}
	return out
}

func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}
