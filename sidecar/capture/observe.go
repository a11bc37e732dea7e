package capture

import (
	"encoding/base64"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/faultline-dev/faultline/sidecar/exchange"
)

// Observer is the flight recorder's decision point: an exchange.Observer
// that turns each finished exchange whose status is in the capture set into
// a Capture and offers it for storage. The decision is taken after the
// response is known; the bodies were already teed by the engine's taps.
// It is safe for concurrent use.
type Observer struct {
	// Capture reports whether a status is captured.
	Capture func(status int) bool
	// Bodies includes the tapped bodies; off keeps only their sizes.
	Bodies bool
	// MaxBody cuts kept bodies to this many bytes (the taps may keep more,
	// for the validation metrics); zero keeps what the taps kept.
	MaxBody int
	// OnCapture, if set, is told of each capture offered and accepted
	// (tracing records the capture id on the span).
	OnCapture func(x *exchange.Exchange, id string)
	// Offer hands the capture on (to the store's queue). It must not block;
	// it reports false when the capture was dropped.
	Offer func(c *Capture) bool
	// Now stamps IDs; nil means the exchange's start time.
	Now func() time.Time
}

// Begin does nothing: capture is decided at the end.
func (o *Observer) Begin(*exchange.Exchange) {}

// End builds and offers a capture when the status is in the set. Upgraded
// streams (WebSocket) and requests whose client went away are not captured.
func (o *Observer) End(x *exchange.Exchange) {
	if x.Upgraded || x.Status == exchange.StatusClientClosed || !o.Capture(x.Status) {
		return
	}
	c := FromExchange(x, o.Bodies)
	if o.MaxBody > 0 {
		c.Request.Body.cut(o.MaxBody)
		c.Response.Body.cut(o.MaxBody)
	}
	id := c.ID
	// Offer takes ownership of c; only its id is read afterwards.
	if o.Offer(c) && o.OnCapture != nil {
		o.OnCapture(x, id)
	}
}

// FromExchange copies what a capture needs out of x (which the engine will
// reuse, with the buffers its strings point into: every string is cloned).
// Values are copied as they are: redaction happens before storage.
func FromExchange(x *exchange.Exchange, bodies bool) *Capture {
	r := x.Request
	c := &Capture{
		ID:         NewID(x.Start),
		Time:       x.Start,
		DurationMS: float64(x.Duration.Microseconds()) / 1000,
		TraceID:    strings.Clone(x.TraceID),
		Route:      strings.Clone(x.Route),
		ClientAddr: strings.Clone(hostOf(r.RemoteAddr)),
	}
	c.Request = Request{
		Method:  strings.Clone(r.Method),
		URL:     strings.Clone(r.RequestURI),
		Host:    strings.Clone(r.Host),
		Scheme:  "http",
		Proto:   strings.Clone(r.Proto),
		Headers: fields(r.Header),
	}
	if r.TLS != nil {
		c.Request.Scheme = "https"
	}
	if c.Request.URL == "" && r.URL != nil {
		c.Request.URL = strings.Clone(r.URL.RequestURI())
	}
	for _, ck := range r.Cookies() {
		c.Request.Cookies = append(c.Request.Cookies, Field{Name: strings.Clone(ck.Name), Value: strings.Clone(ck.Value)})
	}
	c.Request.Body = body(x.RequestBody, x.BytesIn, r.Header.Get("Content-Type"), bodies)
	c.Response = Response{Status: x.Status, Headers: fields(x.ResponseHeader)}
	c.Response.Body = body(x.ResponseBody, x.BytesOut, x.ResponseHeader.Get("Content-Type"), bodies)
	return c
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// fields lists a header's values sorted by name, each value on its own.
func fields(h http.Header) []Field {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]Field, 0, len(names))
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, Field{Name: strings.Clone(k), Value: strings.Clone(v)})
		}
	}
	return out
}

// cut shortens a text body to at most n bytes, on a character boundary.
func (b *Body) cut(n int) {
	if b.Base64 || len(b.Text) <= n {
		return
	}
	t := b.Text[:n]
	for len(t) > 0 && !utf8.ValidString(t) {
		t = t[:len(t)-1]
	}
	b.Text, b.Truncated = t, true
}

func body(t exchange.Tap, size int64, contentType string, keep bool) Body {
	b := Body{Size: size, ContentType: strings.Clone(strings.TrimSpace(contentType))}
	if !keep || !t.Armed {
		b.Truncated = size > 0
		return b
	}
	b.Truncated = t.Truncated
	data := t.Data
	if t.Truncated {
		// The cut may have split the last character.
		for i := 0; i < utf8.UTFMax-1 && len(data) > 0 && !utf8.Valid(data); i++ {
			data = data[:len(data)-1]
		}
	}
	if utf8.Valid(data) {
		b.Text = string(data)
	} else {
		b.Text, b.Base64 = base64.StdEncoding.EncodeToString(t.Data), true
	}
	return b
}
