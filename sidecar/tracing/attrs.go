package tracing

import (
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
)

// Attribute keys of faultline's own, beside the semantic conventions.
const (
	// KeepKey true marks a span that must be exported whatever the head
	// sampling decision: an error, a captured status, a slow request.
	// False marks a long-lived stream (WebSocket, server-sent events) that
	// must not be exported for its length alone. The edge processor
	// (otelsetup) reads it.
	KeepKey = attribute.Key("faultline.keep")
	// CaptureIDKey is the id of the capture made of the request (see
	// RecordCaptureID); it opens the capture in the admin API.
	CaptureIDKey = attribute.Key("faultline.capture.id")

	// The upstream timing attributes of the client span, in seconds from
	// the client span's start (when the request was handed to the
	// transport). Connection wait is dialing a new connection or waiting
	// for a free one; written minus connection is the upload; first byte
	// minus written is the app's own time (plus one network trip); the
	// span's end minus first byte is the response body.
	UpstreamConnectionKey = attribute.Key("faultline.upstream.connection")
	UpstreamWrittenKey    = attribute.Key("faultline.upstream.written")
	UpstreamFirstByteKey  = attribute.Key("faultline.upstream.first_byte")
	// UpstreamReusedKey reports whether the upstream call reused a
	// keep-alive connection.
	UpstreamReusedKey = attribute.Key("faultline.upstream.connection.reused")
)

// MethodOther is the http.request.method of a method outside the
// semantic conventions' list; the original is then in
// http.request.method_original.
const MethodOther = "_OTHER"

// methods are the known methods of the HTTP semantic conventions.
var methods = [...]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "QUERY"}

// maxOriginalMethod caps http.request.method_original: the method is the
// client's to choose.
const maxOriginalMethod = 32

// Method returns the http.request.method value of m: m itself when it is a
// known method, else MethodOther and false. It never allocates.
func Method(m string) (string, bool) {
	for _, s := range methods {
		if m == s {
			return s, true
		}
	}
	return MethodOther, false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// splitHostPort splits "host:port", "[v6]:port", "host" and "[v6]"
// without allocating; port is 0 when absent or not a number.
func splitHostPort(hp string) (host string, port int) {
	if strings.HasPrefix(hp, "[") {
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return hp, 0
		}
		host, rest := hp[1:end], hp[end+1:]
		if p, ok := strings.CutPrefix(rest, ":"); ok {
			port, _ = strconv.Atoi(p)
		}
		return host, port
	}
	i := strings.LastIndexByte(hp, ':')
	if i < 0 || strings.IndexByte(hp[:i], ':') >= 0 {
		// No port, or a bare IPv6 address.
		return hp, 0
	}
	port, _ = strconv.Atoi(hp[i+1:])
	return hp[:i], port
}
