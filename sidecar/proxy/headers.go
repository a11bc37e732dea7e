package proxy

import (
	"net"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/faultline-dev/faultline/sidecar/h1"
)

// isHop reports whether k is a hop-by-hop field: meaningful for one
// connection only and not forwarded (RFC 9110 section 7.6.1), as in
// httputil.ReverseProxy.
func isHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// removeHopHeaders deletes the hop-by-hop headers and any header named in
// Connection.
func removeHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for k := range h {
		if isHop(k) {
			delete(h, k)
		}
	}
}

// cloneHeader copies h into one backing array for all values, as
// http.Header.Clone does, but sized for the X-Forwarded-* headers added next.
func cloneHeader(h http.Header) http.Header {
	nv := 0
	for _, vv := range h {
		nv += len(vv)
	}
	sv := make([]string, nv)
	h2 := make(http.Header, len(h)+3)
	for k, vv := range h {
		if vv == nil {
			h2[k] = nil
			continue
		}
		n := copy(sv, vv)
		h2[k] = sv[:n:n]
		sv = sv[n:]
	}
	return h2
}

// copyHeader adds src's values to dst. A key dst lacks takes src's slice
// itself: src (the upstream response's head) is not used again, and the
// copy would cost an allocation per header.
func copyHeader(dst, src http.Header) {
	for k, vv := range src {
		if prior, ok := dst[k]; ok {
			dst[k] = append(prior, vv...)
		} else {
			dst[k] = vv
		}
	}
}

// announceTrailers declares the upstream's trailers so that the server
// sends them after the body.
func announceTrailers(dst http.Header, trailer http.Header) {
	if len(trailer) == 0 {
		return
	}
	keys := make([]string, 0, len(trailer))
	for k := range trailer {
		keys = append(keys, k)
	}
	dst.Add("Trailer", strings.Join(keys, ", "))
}

// copyTrailers sets the trailers the upstream sent, once its body is read.
func copyTrailers(dst http.Header, trailer http.Header) {
	for k, vv := range trailer {
		for _, v := range vv {
			dst.Add(http.TrailerPrefix+k, v)
		}
	}
}

// setForwarded appends the client address to X-Forwarded-For and sets
// X-Forwarded-Host and X-Forwarded-Proto, unless the inbound request set
// them to nil explicitly (not possible from the wire; kept for symmetry
// with httputil).
func setForwarded(h http.Header, r *http.Request) {
	// One backing array for both values; each slice is full (len == cap),
	// so a later append copies instead of overwriting its neighbour.
	vals := make([]string, 2)
	vals[1] = r.Host
	h["X-Forwarded-Host"] = vals[1:2:2]
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior, ok := h["X-Forwarded-For"]; ok {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		vals[0] = ip
		h["X-Forwarded-For"] = vals[0:1:1]
	}
	if r.TLS != nil {
		h["X-Forwarded-Proto"] = protoHTTPS
	} else {
		h["X-Forwarded-Proto"] = protoHTTP
	}
}

// Shared, full header values: never appended to in place.
var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

func isUpgrade(h http.Header) bool {
	return h1.HasToken(h["Connection"], "upgrade") && h.Get("Upgrade") != ""
}
