// Package config holds the sidecar's settings and reads them from flags,
// FAULTLINE_* environment variables and a YAML file, in that order of
// precedence, validating everything once at start-up.
//
// Every setting is first read as text together with where it came from, and
// only then converted, so that each error names the setting the way the user
// wrote it: `--capture-max-body: "banana" is not a size`,
// `FAULTLINE_UPSTREAM: ...` or `faultline.yaml: upstream: ...`.
package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/sidecar/accesslog"
)

// Config is the validated configuration of `faultline run`. Its zero value
// is not meant for use; Default returns the documented defaults.
type Config struct {
	Listen        string
	Upstream      *url.URL
	MetricsListen string
	AdminListen   string
	AdminToken    string

	// TLSCert and TLSKey are PEM files; set together they make Listen
	// serve HTTPS, and the pair is re-read when the files change.
	TLSCert, TLSKey string
	// TLSSelfSigned serves HTTPS with a certificate generated at start-up
	// for localhost (demo and local use); exclusive with TLSCert.
	TLSSelfSigned bool
	// TLSClientCA, when set, is a PEM bundle: clients must present a
	// certificate signed by one of its CAs (mTLS).
	TLSClientCA string
	// RedirectHTTP, when set, is a plain-HTTP listen address that
	// redirects every request to the HTTPS Listen.
	RedirectHTTP string

	// UpstreamCA is a PEM bundle of CAs trusted for an https Upstream;
	// empty means the system's roots.
	UpstreamCA string
	// UpstreamServerName is the name sent (SNI) and verified for an https
	// Upstream; empty means the URL's host.
	UpstreamServerName string
	// UpstreamH2C speaks HTTP/2 without TLS (prior knowledge) to an http
	// Upstream, as gRPC servers expect.
	UpstreamH2C bool

	Capture         CodeSet
	CaptureBodies   bool
	CaptureMaxBody  int64
	CaptureStore    string
	CaptureMaxBytes int64
	CaptureMaxCount int
	// CaptureRate is the most captures per second stored for one route and
	// status; bursts of 4× are allowed.
	CaptureRate float64
	DataDir     string

	RedactHeaders, RedactFields, RedactQuery []string
	// TraceURL links a capture's trace id to a trace viewer (Tempo,
	// Jaeger): an http(s) URL containing {trace_id}. Empty shows no link.
	TraceURL    string
	AuthCookies []string

	Routes        string
	RoutesRefresh time.Duration
	MaxRoutes     int

	AccessLog accesslog.Format
	LogLevel  string

	UpstreamTimeout time.Duration
	DialTimeout     time.Duration
	ReadyPath       string
	DrainTimeout    time.Duration
	DrainDelay      time.Duration
}

// Error is a configuration error. Its message names the setting.
type Error struct {
	Setting string // e.g. "--upstream", "FAULTLINE_UPSTREAM", "faultline.yaml: upstream"
	Msg     string
}

func (e *Error) Error() string { return e.Setting + ": " + e.Msg }

// TLS reports whether Listen serves HTTPS.
func (c *Config) TLS() bool { return c.TLSCert != "" || c.TLSSelfSigned }

// CaptureStorePath is the store file: CaptureStore, or captures.db under DataDir.
func (c *Config) CaptureStorePath() string {
	if c.CaptureStore != "" {
		return c.CaptureStore
	}
	return filepath.Join(c.DataDir, "captures.db")
}

// CodeSet is a set of HTTP status codes, given as codes (401) and classes (5xx).
type CodeSet struct {
	codes   [1000]bool
	written string
}

// ParseCodeSet parses a comma-separated list such as "401,422,5xx".
func ParseCodeSet(s string) (CodeSet, error) {
	var cs CodeSet
	cs.written = s
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(strings.ToLower(part))
		switch {
		case part == "":
			continue
		case len(part) == 3 && part[1:] == "xx" && part[0] >= '1' && part[0] <= '5':
			base := int(part[0]-'0') * 100
			for c := base; c < base+100; c++ {
				cs.codes[c] = true
			}
		default:
			n, err := strconv.Atoi(part)
			if err != nil || n < 100 || n > 599 {
				return CodeSet{}, fmt.Errorf("%q is not a status code (100-599) or class (4xx)", part)
			}
			cs.codes[n] = true
		}
	}
	return cs, nil
}

// Has reports whether code is in the set.
func (cs *CodeSet) Has(code int) bool { return code >= 0 && code < len(cs.codes) && cs.codes[code] }

// String returns the set as it was written.
func (cs CodeSet) String() string { return cs.written }

// ParseSize parses a byte size: a whole number with an optional unit
// B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024); k, m, g
// alone mean the binary units, as in Kubernetes quantities without the i.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a size (like 64KiB or 256MiB)", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (like 64KiB or 256MiB)", s)
	}
	var mult int64
	switch strings.ToLower(strings.TrimSpace(t[i:])) {
	case "", "b":
		mult = 1
	case "k", "ki", "kib":
		mult = 1 << 10
	case "m", "mi", "mib":
		mult = 1 << 20
	case "g", "gi", "gib":
		mult = 1 << 30
	case "kb":
		mult = 1000
	case "mb":
		mult = 1000 * 1000
	case "gb":
		mult = 1000 * 1000 * 1000
	default:
		return 0, fmt.Errorf("%q is not a size (like 64KiB or 256MiB)", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

func parseList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseUpstream accepts http and https URLs with a host.
func parseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%q is not an http:// or https:// URL with a host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q must not carry a query, fragment or user info", s)
	}
	return u, nil
}

// checkAddr accepts host:port and :port listen addresses.
func checkAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not a listen address (host:port or :port)", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port", s)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q has no valid host", s)
	}
	return nil
}

// IsLoopback reports whether a listen address binds only loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
