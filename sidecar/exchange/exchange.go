// Package exchange describes one request/response pair as the forwarding
// engine saw it, and the Observer interface through which metrics, access
// logs, captures and spans watch it.
//
// Observers never see the engine: whatever carries the bytes (the HTTP/1.1
// proxy today, an HTTP/2 or TLS front end tomorrow) fills an Exchange and
// calls Begin and End, so each observer is written and tested once.
package exchange

import (
	"context"
	"encoding/hex"
	"net/http"
	"time"
	"unsafe"
)

// Exchange is one request and its response. The engine owns it and reuses
// it after End returns: observers must not keep a pointer to it, nor to its
// slices, past their End call.
//
// Nor may they keep its strings: the request's and the response's header
// values, paths and TraceID may point into buffers the engine reuses for
// the next request on the connection (that is how it reads a head without
// allocating). An observer that keeps one past End (a capture, an exported
// span attribute, an exemplar) must copy it with strings.Clone.
type Exchange struct {
	// Start is when the request head was read.
	Start time.Time
	// Duration is from Start to the last byte of the response.
	Duration time.Duration

	// Request is the inbound request as the client sent it. Observers may
	// read its head; its body has been consumed by the engine.
	Request *http.Request
	// Route is the route template of the request path (never the raw path).
	Route string
	// Credentials reports whether the request carried an Authorization
	// header or a configured authentication cookie.
	Credentials bool
	// Context is the request's context. An observer's Begin may replace it
	// with a derived one (tracing puts the server span in it); the engine
	// sends the upstream request with it and passes it to Decorate.
	Context context.Context
	// TraceID is the W3C trace id of the request's span, empty without
	// tracing. When set by Begin, the engine returns it to the client in
	// the response header named by its options.
	TraceID string
	// Sampled reports whether the span is recorded and exported.
	Sampled bool
	// Tracing is the tracing observer's own per-exchange state, nil
	// otherwise: a pointer stored here costs no allocation, unlike a
	// context value.
	Tracing any
	// Upstream is the timing of the upstream call, filled by the engine
	// when its options ask for it (tracing reads it in End).
	Upstream UpstreamTiming

	// Status is the status code the client received. A client that went
	// away before the response was complete is StatusClientClosed.
	Status int
	// ResponseHeader is the response head sent to the client.
	ResponseHeader http.Header
	// Source says where a 5xx came from (metricnames.Source*); empty otherwise.
	Source string
	// Err is the upstream or copy error that ended the exchange early, if any.
	// It is for logs; never send it to a client.
	Err error
	// Upgraded is set when the connection switched protocols (WebSocket).
	Upgraded bool

	// BytesIn and BytesOut count body bytes received from the client and
	// sent to it.
	BytesIn, BytesOut int64

	// RequestBody and ResponseBody hold the first bytes of each body when
	// a tap was armed for them (see Taps); empty otherwise.
	RequestBody, ResponseBody Tap

	// traceHex backs TraceID when SetTraceID set it.
	traceHex [32]byte
}

// UpstreamTiming is when each step of the upstream call happened. The
// durations count from Sent; zero means the step did not happen.
type UpstreamTiming struct {
	// Sent is when the engine began to send the request upstream; zero if
	// it never did.
	Sent time.Time
	// Conn is until a connection was at hand; Reused says whether it came
	// from the pool.
	Conn   time.Duration
	Reused bool
	// Wrote is until the request (head and body) was written.
	Wrote time.Duration
	// FirstByte is until the first byte of the response arrived.
	FirstByte time.Duration
}

// SetTraceID sets TraceID to the lower-case hex form of id without
// allocating: the string lives in x until Reset.
func (x *Exchange) SetTraceID(id [16]byte) {
	hex.Encode(x.traceHex[:], id[:])
	x.TraceID = unsafe.String(&x.traceHex[0], len(x.traceHex))
}

// StatusClientClosed is the status logged when the client closed the
// connection before the response was complete (nginx's 499).
const StatusClientClosed = 499

// Tap is a bounded copy of the start of a body.
type Tap struct {
	// Data is at most the tap limit; the engine reuses its backing array.
	Data []byte
	// Truncated is set when the body was longer than Data.
	Truncated bool
	// Armed reports whether the tap was recording at all.
	Armed bool
}

// Reset clears x for reuse, keeping the tap buffers' capacity.
func (x *Exchange) Reset() {
	req, resp := x.RequestBody.Data[:0], x.ResponseBody.Data[:0]
	*x = Exchange{}
	x.RequestBody.Data, x.ResponseBody.Data = req, resp
}

// Observer watches exchanges. Begin is called when the request head has been
// read, End when the response is complete (or the exchange failed), both on
// the goroutine serving the request. Implementations must be safe for
// concurrent use, must not block, and must not retain x after returning.
type Observer interface {
	Begin(x *Exchange)
	End(x *Exchange)
}

// Observers fans out to several observers in order.
type Observers []Observer

// Begin calls Begin on each observer.
func (os Observers) Begin(x *Exchange) {
	for _, o := range os {
		o.Begin(x)
	}
}

// End calls End on each observer.
func (os Observers) End(x *Exchange) {
	for _, o := range os {
		o.End(x)
	}
}

// Taps decides, per exchange, which bodies are recorded. The request body
// must be recorded while it streams, before the status is known (a flight
// recorder); the response body can be decided on its status.
type Taps struct {
	// Limit is the most bytes kept of each body; zero disables both taps.
	Limit int
	// Request arms the request tap for every request.
	Request bool
	// Response reports whether to record the response body for a status.
	// Nil records none.
	Response func(status int) bool
}
