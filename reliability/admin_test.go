package reliability

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sidecar/config"
)

// TestAdminRefusesNonLoopbackWithoutToken: captures hold user data, so an
// admin listener off loopback without a token is refused at start-up,
// however the address is written.
func TestAdminRefusesNonLoopbackWithoutToken(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9901", ":9901", "[::]:9901", "10.1.2.3:9901", "localhost.example.com:9901", "127.0.0.1.nip.io:9901", "[::ffff:10.0.0.1]:9901"} {
		_, err := config.Load([]string{"--admin-listen", addr}, func(string) string { return "" }, io.Discard)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Setting != "--admin-listen" {
			t.Errorf("--admin-listen %s without a token: %v", addr, err)
		}
		_, err = config.Load(nil, func(k string) string {
			if k == "FAULTLINE_ADMIN_LISTEN" {
				return addr
			}
			return ""
		}, io.Discard)
		if !errors.As(err, &ce) || ce.Setting != "FAULTLINE_ADMIN_LISTEN" {
			t.Errorf("FAULTLINE_ADMIN_LISTEN=%s without a token: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:9901", "[::1]:9901", "localhost:9901", "127.5.6.7:9901"} {
		if _, err := config.Load([]string{"--admin-listen", addr}, func(string) string { return "" }, io.Discard); err != nil {
			t.Errorf("--admin-listen %s: %v", addr, err)
		}
	}
	// The binary exits 2 with one line naming the flag.
	out, err := exec.Command(faultlineBinary(t), "run", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
		"--admin-listen", "0.0.0.0:0", "--data-dir", t.TempDir()).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2\n%s", err, out)
	}
	if last := strings.TrimSpace(string(out)); !strings.HasPrefix(last, "faultline: --admin-listen: ") || strings.Count(last, "\n") > 0 {
		t.Errorf("output %q, want one line naming --admin-listen", last)
	}
}

// adminProbe is one request to the admin listener.
type adminProbe struct {
	method, path string
	header       map[string]string
	body         string
}

func (p adminProbe) do(t *testing.T, base string) (int, http.Header, string) {
	t.Helper()
	var body io.Reader
	if p.body != "" {
		body = strings.NewReader(p.body)
	}
	req, err := http.NewRequest(p.method, base+p.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range p.header {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := noKeepAlive.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", p.method, p.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, resp.Header, string(b)
}

// captureOne makes the sidecar capture a 500 whose request carries marker,
// and returns the capture's id.
func captureOne(t *testing.T, s *sidecar, token, marker string) string {
	t.Helper()
	code, _, err := get(noKeepAlive, s.URL+"/boom/"+marker)
	if err != nil || code != 500 {
		t.Fatalf("GET /boom: %d %v", code, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _, body := adminProbe{method: "GET", path: "/api/captures", header: map[string]string{"Authorization": "Bearer " + token}}.do(t, s.AdminURL)
		if c == 200 && strings.Contains(body, marker) {
			i := strings.Index(body, `"id":"`)
			return body[i+6 : i+6+strings.Index(body[i+6:], `"`)]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no capture: %d %s", c, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAdminTokenRequired: with a token set, no request without it, by any
// path, gets captured data; a wrong token or scheme gets 401; the token
// works only as a bearer header.
func TestAdminTokenRequired(t *testing.T) {
	up := startUpstream(t, appLike)
	const token = "s3cret-admin-token-0123456789"
	const marker = "marker7f3a9"
	s := startSidecar(t, "--upstream", up.URL, "--admin-token", token, "--routes", routesFile(t, "/boom/{x}"))
	id := captureOne(t, s, token, marker)
	paths := []string{
		"/api/captures", "/api/captures/" + id, "/api/captures/" + id + "/har", "/api/captures/" + id + "/curl",
		"/api/captures?code=5xx", "/api/captures/" + id + "?x=1", "/api/captures/" + id + "/",
		"//api/captures", "/api//captures", "/API/captures", "/%61pi/captures", "/api/./captures", "/x/../api/captures",
		"/", "/index.html", "/captures/" + id, "/?id=" + id, "/static/../api/captures", "/assets/../api/captures/" + id,
		"/api/captures/" + id + "%2fhar", "/api/captures/%2e%2e/captures",
	}
	auths := map[string]map[string]string{
		"none":             nil,
		"wrong token":      {"Authorization": "Bearer wrong"},
		"token prefix":     {"Authorization": "Bearer " + token[:10]},
		"token longer":     {"Authorization": "Bearer " + token + "x"},
		"basic":            {"Authorization": "Basic " + token},
		"no scheme":        {"Authorization": token},
		"in a cookie":      {"Cookie": "token=" + token},
		"X-Admin-Token":    {"X-Admin-Token": token},
		"empty bearer":     {"Authorization": "Bearer "},
		"proxy-authorize":  {"Proxy-Authorization": "Bearer " + token},
		"token in query":   nil, // below
		"evil host":        {"Host": "evil.example"},
		"localhost origin": {"Origin": "http://localhost"},
	}
	for name, hdr := range auths {
		for _, path := range paths {
			p := path
			if name == "token in query" {
				if strings.Contains(p, "?") {
					p += "&token=" + token
				} else {
					p += "?token=" + token + "&access_token=" + token
				}
			}
			code, _, body := adminProbe{method: "GET", path: p, header: hdr}.do(t, s.AdminURL)
			if strings.Contains(body, marker) || strings.Contains(body, `"captures"`) {
				t.Errorf("%s, GET %s: %d served captured data", name, p, code)
			}
			if strings.HasPrefix(path, "/api/") && code != 401 && code != 400 && code != 404 && code != 301 && code != 307 && code != 308 {
				t.Errorf("%s, GET %s: %d, want 401", name, p, code)
			}
		}
	}
	for _, ok := range []string{"Bearer " + token, "bearer " + token, "BEARER  " + token} {
		code, _, body := adminProbe{method: "GET", path: "/api/captures/" + id, header: map[string]string{"Authorization": ok}}.do(t, s.AdminURL)
		if code != 200 || !strings.Contains(body, marker) {
			t.Errorf("Authorization %q: %d", ok[:6], code)
		}
	}
}

// TestAdminOrigins: the API never serves another origin. No response
// carries a CORS header, whatever Origin asks; a preflight fails; without
// a token only loopback Host names are served (DNS rebinding); JSON is
// never sniffed as script or framed.
func TestAdminOrigins(t *testing.T) {
	up := startUpstream(t, appLike)
	s := startSidecar(t, "--upstream", up.URL, "--routes", routesFile(t, "/boom/{x}"))
	const marker = "origin5c2d"
	id := captureOne(t, s, "", marker)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.AdminURL, "http://"))
	for _, tc := range []struct {
		name  string
		probe adminProbe
		data  bool // may serve captured data
	}{
		{"loopback", adminProbe{method: "GET", path: "/api/captures/" + id}, true},
		{"localhost", adminProbe{method: "GET", path: "/api/captures/" + id, header: map[string]string{"Host": "localhost:" + port}}, true},
		{"foreign origin", adminProbe{method: "GET", path: "/api/captures/" + id, header: map[string]string{"Origin": "https://evil.example"}}, true},
		{"null origin", adminProbe{method: "GET", path: "/api/captures", header: map[string]string{"Origin": "null"}}, true},
		{"preflight", adminProbe{method: "OPTIONS", path: "/api/captures", header: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}}, false},
		{"rebinding", adminProbe{method: "GET", path: "/api/captures/" + id, header: map[string]string{"Host": "evil.example:" + port}}, false},
		{"rebinding no port", adminProbe{method: "GET", path: "/api/captures", header: map[string]string{"Host": "evil.example"}}, false},
		{"rebinding lookalike", adminProbe{method: "GET", path: "/api/captures", header: map[string]string{"Host": "127.0.0.1.evil.example"}}, false},
		{"rebinding localhost suffix", adminProbe{method: "GET", path: "/api/captures", header: map[string]string{"Host": "localhost.evil.example"}}, false},
		{"rebinding page", adminProbe{method: "GET", path: "/", header: map[string]string{"Host": "evil.example"}}, false},
		{"write method", adminProbe{method: "DELETE", path: "/api/captures/" + id, header: map[string]string{"Origin": "https://evil.example"}}, false},
		{"form post", adminProbe{method: "POST", path: "/api/captures", header: map[string]string{"Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"}, body: "a=b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := tc.probe.do(t, s.AdminURL)
			for k := range hdr {
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					t.Errorf("%d with CORS header %s: %s", code, k, hdr.Get(k))
				}
			}
			if !tc.data && (strings.Contains(body, marker) || code/100 == 2) {
				t.Errorf("%d served: %.200s", code, body)
			}
			if tc.data && code != 200 {
				t.Errorf("%d, want 200", code)
			}
			if code == 200 && strings.HasPrefix(tc.probe.path, "/api/") {
				if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q", ct)
				}
				for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
					if hdr.Get(k) != v {
						t.Errorf("%s %q, want %q", k, hdr.Get(k), v)
					}
				}
			}
		})
	}
}

// TestAdminRequestLimits: the admin API reads no body and short queries;
// oversized requests are refused without being processed, and slow ones
// are cut by the header timeout.
func TestAdminRequestLimits(t *testing.T) {
	up := startUpstream(t, appLike)
	s := startSidecar(t, "--upstream", up.URL, "--routes", routesFile(t, "/boom/{x}"))
	addr := strings.TrimPrefix(s.AdminURL, "http://")
	baseline := leakBaseline()
	for _, tc := range []struct {
		name, raw string
		want      string
	}{
		{"body over 1 KiB", "GET /api/captures HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2048\r\nConnection: close\r\n\r\n" + strings.Repeat("x", 2048), "413"},
		{"huge declared body", "GET /api/captures HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10737418240\r\nConnection: close\r\n\r\n", "413"},
		{"query over 4 KiB", "GET /api/captures?route=" + strings.Repeat("r", 5000) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", "414"},
		{"head over 1 MiB", "GET /api/captures HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + strings.Repeat("b", 2<<20) + "\r\n\r\n", "431"},
		{"bad limit", "GET /api/captures?limit=99999999999 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", "400"},
		{"bad code", "GET /api/captures?code=%00 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", "400"},
		{"bad id", "GET /api/captures/" + strings.Repeat("Z", 300) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", "400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rawExchange(t, addr, tc.raw, 5*time.Second)
			if !strings.HasPrefix(got, "HTTP/1.1 "+tc.want+" ") {
				t.Errorf("answered %q, want %s", firstLine(got), tc.want)
			}
		})
	}
	// A chunked body of 64 MiB is neither read nor waited for.
	t.Run("streamed body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /api/captures HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
		done := make(chan error, 1)
		go func() {
			chunk := fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("x", 64<<10))
			for range 1024 {
				if _, err := io.WriteString(c, chunk); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		head := make([]byte, 64)
		n, _ := io.ReadAtLeast(c, head, 12)
		if !strings.HasPrefix(string(head[:n]), "HTTP/1.1 ") {
			t.Errorf("answered %q", head[:n])
		}
		c.Close()
		<-done
	})
	checkNoLeak(t, baseline)
}
