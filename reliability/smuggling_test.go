package reliability

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRequestSmuggling sends the classic desync attacks. For each, the
// sidecar must either reject the request (400 or 501) or forward it with
// one unambiguous framing; and whatever it does, the upstream must never
// receive the smuggled request (/smuggled) as a request of its own, nor a
// request with both Content-Length and Transfer-Encoding.
func TestRequestSmuggling(t *testing.T) {
	up := startEcho(t)
	s := startSidecar(t, "--upstream", up.URL, "--routes", routesFile(t, "/ok"))
	baseline := leakBaseline()
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct {
		name, raw string
		// reject lists the statuses that reject the request; a 200 must
		// then be followed by the sidecar closing the connection when
		// closeAfter is set.
		reject     []string
		closeAfter bool
		// pipelined: by the RFC the bytes after the first request are a
		// second request of the same client, which may be forwarded.
		pipelined bool
		// headStreamed: the head may reach the upstream before the body is
		// found bad (bodies are streamed, not buffered).
		headStreamed bool
		// bodyLen, when set, is the body length the upstream must have read.
		bodyLen string
		bug     string
	}{
		{
			// The front end uses Content-Length, the back end chunked.
			name:       "CL.TE",
			raw:        "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: " + itoa(len("0\r\n\r\n"+smuggled)) + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			reject:     []string{"400"},
			closeAfter: true,
		},
		{
			// The front end uses chunked, the back end Content-Length.
			name:       "TE.CL",
			raw:        "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" + itox(len(smuggled)) + "\r\n" + smuggled + "\r\n0\r\n\r\n",
			reject:     []string{"400"},
			closeAfter: true,
		},
		{
			name:   "TE.TE obfuscated value",
			raw:    "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled,
			reject: []string{"400", "501"},
		},
		{
			name:   "TE.TE two headers",
			raw:    "POST /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n" + smuggled,
			reject: []string{"400", "501"},
		},
		{
			name:   "TE.TE list",
			raw:    "POST /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n" + smuggled,
			reject: []string{"400", "501"},
		},
		{
			name:   "TE with space before colon",
			raw:    "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled,
			reject: []string{"400"},
		},
		{
			// Go folds the line into X-Pad's value (RFC 9112 section 5.2
			// allows that or a 400): Content-Length frames the body, and
			// what follows is the client's next request.
			name:      "TE in an obs-fold",
			raw:       "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Pad: a\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			reject:    []string{"400"},
			pipelined: true,
		},
		{
			name:   "two Content-Lengths",
			raw:    "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: " + itoa(5+len(smuggled)) + "\r\n\r\nhello" + smuggled,
			reject: []string{"400"},
		},
		{
			name:   "Content-Length list",
			raw:    "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5, " + itoa(5+len(smuggled)) + "\r\n\r\nhello" + smuggled,
			reject: []string{"400"},
		},
		{
			// Chunk sizes with extensions, leading zeros or overflow.
			// Bodies stream, so the head reaches the upstream before the
			// bad chunk is read; the upstream then sees its request cut
			// short, never a second one.
			name:         "chunk size overflow",
			raw:          "POST /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff1\r\n" + smuggled,
			reject:       []string{"400"},
			headStreamed: true,
		},
		{
			// A hop-by-hop trick: Connection names Content-Length, so a
			// proxy that deletes what Connection names must still frame
			// the body it forwards.
			name:    "Connection names Content-Length",
			raw:     "POST /ok HTTP/1.1\r\nHost: x\r\nConnection: Content-Length, Transfer-Encoding\r\nContent-Length: 5\r\n\r\nhello",
			bodyLen: "5",
		},
		{
			// HTTP/1.0 has no chunked coding: Transfer-Encoding is ignored
			// and Content-Length frames the body (Go's rule, as nginx's).
			name:       "TE on HTTP/1.0",
			raw:        "POST /ok HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello" + smuggled,
			reject:     []string{"400"},
			closeAfter: true,
		},
		{
			// Pipelining itself is legal: two requests, two answers.
			name:      "plain pipelining",
			raw:       "POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" + smuggled,
			pipelined: true,
		},
		{
			name:   "request line with LF only and a second request",
			raw:    "GET /ok HTTP/1.1\nHost: x\nContent-Length: " + itoa(len(smuggled)) + "\n\n" + smuggled,
			reject: []string{"400"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.bug != "" {
				bug(t, tc.bug)
			}
			// Mark this case's first request, so that a head forwarded late
			// by an earlier case is not counted here.
			mark := "?case=" + strconv.Itoa(len(up.Heads())) + "x" + strconv.FormatInt(time.Now().UnixNano(), 36)
			raw := strings.Replace(tc.raw, " /ok ", " /ok"+mark+" ", 1)
			seen := len(up.Heads())
			got, closed := rawExchangeClosed(t, s.Addr, raw, time.Second)
			status := firstLine(got)
			if _, rest, ok := strings.Cut(status, " "); ok && len(rest) >= 3 {
				status = rest[:3]
			}
			rejected := false
			for _, r := range tc.reject {
				rejected = rejected || status == r
			}
			var heads []string
			for _, h := range up.Heads()[seen:] {
				if strings.Contains(h, mark) || strings.Contains(h, "/smuggled") {
					heads = append(heads, h)
				}
			}
			for _, h := range heads {
				lh := strings.ToLower(h)
				if strings.Contains(h, "/smuggled") && !tc.pipelined {
					t.Errorf("the smuggled request reached the upstream:\n%q", h)
				}
				if strings.Contains(lh, "\r\ncontent-length:") && strings.Contains(lh, "\r\ntransfer-encoding:") {
					t.Errorf("forwarded with both Content-Length and Transfer-Encoding:\n%q", h)
				}
			}
			switch {
			case rejected:
				if len(heads) != 0 && !tc.headStreamed {
					t.Errorf("answered %s and forwarded too: %q", status, heads)
				}
			case status == "200":
				if tc.bodyLen != "" && !strings.HasSuffix(got, "/ok "+tc.bodyLen) {
					t.Errorf("the upstream did not read the %s-byte body: %q", tc.bodyLen, got)
				}
				if tc.closeAfter && !closed {
					t.Error("the sidecar kept the connection open after an ambiguously framed request")
				}
				if n := strings.Count(got, "HTTP/1."); n > 1 && !tc.pipelined {
					t.Errorf("the sidecar answered %d requests on the connection:\n%s", n, got)
				}
			default:
				t.Errorf("answered %q", firstLine(got))
			}
			t.Logf("%s: %q; forwarded %d", tc.name, firstLine(got), len(heads))
		})
	}
	checkNoLeak(t, baseline)
}

func itoa(n int) string { return strconv.Itoa(n) }

func itox(n int) string { return strconv.FormatInt(int64(n), 16) }
