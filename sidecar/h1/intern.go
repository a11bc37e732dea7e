package h1

// internMethod returns the standard method names as constants, so that
// they outlive the request's arena; others are views of it.
func internMethod(b []byte) string {
	switch string(b) {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "PATCH":
		return "PATCH"
	case "HEAD":
		return "HEAD"
	case "OPTIONS":
		return "OPTIONS"
	case "TRACE":
		return "TRACE"
	case "CONNECT":
		return "CONNECT"
	}
	return str(b)
}

// commonHeaders interns the usual canonical field names: a key found here
// is a constant, one not found is a view of the arena.
var commonHeaders = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Access-Control-Allow-Origin", "Age", "Allow", "Authorization", "Baggage",
		"Cache-Control", "Connection", "Content-Disposition", "Content-Encoding",
		"Content-Language", "Content-Length", "Content-Location", "Content-Range",
		"Content-Type", "Cookie", "Date", "Etag", "Expect", "Expires", "Forwarded", "From",
		"Host", "If-Match", "If-Modified-Since", "If-None-Match", "If-Range",
		"If-Unmodified-Since", "Keep-Alive", "Last-Modified", "Link", "Location",
		"Max-Forwards", "Origin", "Pragma", "Priority", "Proxy-Authenticate",
		"Proxy-Authorization", "Proxy-Connection", "Range", "Referer", "Retry-After",
		"Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User",
		"Sec-Websocket-Accept", "Sec-Websocket-Extensions", "Sec-Websocket-Key",
		"Sec-Websocket-Protocol", "Sec-Websocket-Version", "Server", "Set-Cookie",
		"Strict-Transport-Security", "Te", "Trailer", "Traceparent", "Tracestate",
		"Transfer-Encoding", "Upgrade", "Upgrade-Insecure-Requests", "User-Agent", "Vary",
		"Via", "Www-Authenticate", "X-Api-Key", "X-Content-Type-Options",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Frame-Options",
		"X-Real-Ip", "X-Request-Id", "X-Requested-With", "X-Trace-Id",
	} {
		m[k] = k
	}
	return m
}()

// headerKey returns the canonical name b as a string: interned when
// common, a view of the arena otherwise.
func headerKey(b []byte) string {
	if k, ok := commonHeaders[string(b)]; ok {
		return k
	}
	return str(b)
}
