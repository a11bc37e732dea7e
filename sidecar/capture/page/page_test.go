package page

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/admin"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, "http://localhost"+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	resp := w.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestRoutes(t *testing.T) {
	h := Handler(&fakeLister{}, Options{})
	tests := []struct {
		method, path string
		status       int
		contentType  string
		contains     string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `<script type="module" src="/assets/app.js"></script>`},
		{"GET", "/?route=/items&code=422", 200, "text/html; charset=utf-8", `<table id="list">`},
		{"GET", "/assets/app.js", 200, "text/javascript; charset=utf-8", "from './capture.js'"},
		{"GET", "/assets/capture.js", 200, "text/javascript; charset=utf-8", "export function renderCapture"},
		{"GET", "/assets/dom.js", 200, "text/javascript; charset=utf-8", "export function h("},
		{"GET", "/assets/app.css", 200, "text/css; charset=utf-8", "--st5-bg"},
		{"GET", "/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"HEAD", "/events", 200, "text/event-stream; charset=utf-8", ""},
		{"GET", "/index.html", 404, "application/json", `{"error":"not found"}`},
		{"GET", "/assets/", 404, "application/json", `{"error":"not found"}`},
		{"GET", "/assets/index.html", 404, "application/json", ""},
		{"POST", "/", 405, "application/json", `"method not allowed"`},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, body := get(t, h, tc.method, tc.path)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("body does not contain %q:\n%.300s", tc.contains, body)
			}
			if tc.method == "HEAD" && body != "" {
				t.Errorf("HEAD answered a body")
			}
			checkHeaders(t, resp)
		})
	}
}

// checkHeaders checks the headers every page response carries.
func checkHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for name, want := range map[string]string{
		"Content-Security-Policy": contentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	for k := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("CORS header %s sent", k)
		}
	}
}

// TestContentSecurityPolicy pins the policy's strictness: only the page's
// own origin, no inline or eval'd script, no inline style, no frames, and
// Trusted Types so that no string ever becomes markup or script.
func TestContentSecurityPolicy(t *testing.T) {
	directives := map[string]string{}
	for _, d := range strings.Split(contentSecurityPolicy, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	want := map[string]string{
		"default-src":               "'none'",
		"script-src":                "'self'",
		"style-src":                 "'self'",
		"connect-src":               "'self'",
		"img-src":                   "'self'",
		"frame-ancestors":           "'none'",
		"base-uri":                  "'none'",
		"form-action":               "'none'",
		"require-trusted-types-for": "'script'",
		"trusted-types":             "'none'",
	}
	for name, value := range want {
		if directives[name] != value {
			t.Errorf("%s: %q, want %q", name, directives[name], value)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "unsafe-hashes", "data:", "blob:", "http:", "https:", "*"} {
		if strings.Contains(contentSecurityPolicy, bad) {
			t.Errorf("the policy allows %s", bad)
		}
	}
}

// TestAssetsSelfContained checks that the page loads nothing from another
// origin and that its script has no way to turn a string into markup or
// code: the CSP forbids both, and this keeps the source honest too.
func TestAssetsSelfContained(t *testing.T) {
	read := func(name string) string {
		b, err := fs.ReadFile(assets, "assets/"+name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	html, css := read("index.html"), read("app.css")
	js := read("app.js") + read("capture.js") + read("dom.js")

	for _, m := range regexp.MustCompile(`(?i)\s(?:src|href)="([^"]*)"`).FindAllStringSubmatch(html, -1) {
		if !strings.HasPrefix(m[1], "/") || strings.HasPrefix(m[1], "//") {
			if !strings.HasPrefix(m[1], "#") {
				t.Errorf("index.html loads %q", m[1])
			}
		}
	}
	if regexp.MustCompile(`(?i)<script>|<style|\sstyle=|\son[a-z]+=`).MatchString(html) {
		t.Error("index.html has inline script, style or event handlers")
	}
	if regexp.MustCompile(`(?i)@import|url\(|@font-face`).MatchString(css) {
		t.Error("app.css loads something")
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "DOMParser", "createContextualFragment", "srcdoc", "importScripts", "import(", "setHTML"} {
		if strings.Contains(js, sink) {
			t.Errorf("the script uses %s", sink)
		}
	}
	for _, m := range regexp.MustCompile(`from '([^']*)'`).FindAllStringSubmatch(js, -1) {
		if _, ok := staticFiles["/assets/"+strings.TrimPrefix(m[1], "./")]; !ok || !strings.HasPrefix(m[1], "./") {
			t.Errorf("the script imports %q, which the page does not serve", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`fetch\(\s*([^,)]+)`).FindAllStringSubmatch(js, -1) {
		if arg := strings.TrimSpace(m[1]); !strings.HasPrefix(arg, "'/") && arg != "path" {
			t.Errorf("the script fetches %s", arg)
		}
	}
	if strings.Contains(js, "localStorage.setItem(TOKEN_KEY") || !strings.Contains(js, "sessionStorage.setItem(TOKEN_KEY") {
		t.Error("the admin token must be kept in session storage only")
	}
}

func TestTraceURL(t *testing.T) {
	tests := []struct {
		template string
		ok       bool
	}{
		{"http://jaeger:16686/trace/{trace_id}", true},
		{`https://grafana.example/explore?left={"datasource":"tempo","queries":[{"query":"{trace_id}"}]}`, true},
		{"http://jaeger:16686/trace/", false},
		{"javascript:alert({trace_id})", false},
		{"//jaeger/{trace_id}", false},
		{"ftp://x/{trace_id}", false},
		{"/trace/{trace_id}", false},
	}
	for _, tc := range tests {
		t.Run(tc.template, func(t *testing.T) {
			if err := CheckTraceURL(tc.template); (err == nil) != tc.ok {
				t.Fatalf("CheckTraceURL: %v, want ok=%v", err, tc.ok)
			}
			var logs bytes.Buffer
			h := Handler(&fakeLister{}, Options{TraceURL: tc.template, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			_, body := get(t, h, "GET", "/")
			meta := regexp.MustCompile(`<meta name="faultline-trace-url" content="([^"]*)">`).FindStringSubmatch(body)
			if meta == nil {
				t.Fatalf("no trace URL meta in the page")
			}
			if tc.ok {
				if meta[1] == "" || strings.Contains(meta[1], `"`) || !strings.Contains(meta[1], "{trace_id}") {
					t.Errorf("meta content %q", meta[1])
				}
				if logs.Len() > 0 {
					t.Errorf("warned: %s", logs.String())
				}
			} else {
				if meta[1] != "" {
					t.Errorf("bad template served: %q", meta[1])
				}
				if !strings.Contains(logs.String(), "trace links off") {
					t.Errorf("no warning: %q", logs.String())
				}
			}
		})
	}
}

func TestTraceURLEscaped(t *testing.T) {
	h := Handler(&fakeLister{}, Options{TraceURL: `http://t/x?a=1&b="><script>x</script>&id={trace_id}`})
	_, body := get(t, h, "GET", "/")
	if strings.Contains(body, "<script>x") || !strings.Contains(body, "&amp;b=&#34;&gt;&lt;script&gt;") {
		t.Errorf("trace URL not escaped:\n%s", body)
	}
}

func TestPublic(t *testing.T) {
	tests := []struct {
		method, target string
		public         bool
	}{
		{"GET", "/", true},
		{"GET", "/?route=/items&code=422", true},
		{"HEAD", "/", true},
		{"GET", "/assets/app.js", true},
		{"GET", "/assets/app.css", true},
		{"GET", "/assets/dom.js", true},
		{"GET", "/favicon.svg", true},
		{"GET", "/events", false},
		{"GET", "/api/captures", false},
		{"GET", "/assets/other.js", false},
		{"POST", "/", false},
	}
	for _, tc := range tests {
		if got := Public(httptest.NewRequest(tc.method, tc.target, nil)); got != tc.public {
			t.Errorf("Public(%s %s) = %v", tc.method, tc.target, got)
		}
	}
}

// TestBehindAdmin mounts the page as the admin API's Page, as the sidecar
// does: the page keeps its own CSP, the API keeps its, and the live stream
// is behind the token like the API.
func TestBehindAdmin(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	at := time.Now().Add(-time.Minute)
	c := &capture.Capture{ID: capture.NewID(at), Time: at, Route: "/items",
		Request: capture.Request{Method: "POST", URL: "/items"}, Response: capture.Response{Status: 422}}
	if _, err := st.Put(context.Background(), []*capture.Capture{c}); err != nil {
		t.Fatal(err)
	}

	h := admin.New(st, admin.Options{Page: Handler(st, Options{})})
	resp, body := get(t, h, "GET", "/")
	if resp.StatusCode != 200 || !strings.Contains(body, "faultline") {
		t.Fatalf("page: %d %s", resp.StatusCode, body)
	}
	checkHeaders(t, resp)
	resp, _ = get(t, h, "GET", "/api/captures")
	if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != 200 || !strings.HasPrefix(csp, "default-src 'none'; frame-ancestors") {
		t.Errorf("API: %d, CSP %q", resp.StatusCode, csp)
	}

	ht := admin.New(st, admin.Options{Token: "s3cret", Page: Handler(st, Options{})})
	srv := httptest.NewServer(ht)
	defer srv.Close()
	for _, tc := range []struct {
		auth   string
		status int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer s3cret", 200}} {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.status {
			t.Errorf("/events with %q: %d, want %d", tc.auth, resp.StatusCode, tc.status)
		}
		cancel()
		resp.Body.Close()
	}
}
