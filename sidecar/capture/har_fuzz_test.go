package capture

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/url"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzHAR builds a capture from hostile parts (a stored capture is data
// from clients and the app) and checks the HAR export: it always encodes,
// it is a valid HAR 1.2 document whose request URL is absolute and parses
// with the host it claims, nothing is lost or added in the headers,
// cookies and bodies, and the response cookies never panic the parser.
//
// The seed corpus is in testdata/fuzz/FuzzHAR; run for example
//
//	go test -run '^$' -fuzz FuzzHAR -fuzztime 1m ./sidecar/capture/
func FuzzHAR(f *testing.F) {
	f.Add("POST", "example.com:8080", "/items?a=1&b=%zz&&c", "Content-Type", "application/json", "sid=1; Path=/; HttpOnly", []byte(`{"a":1}`), false, 422, 12.5, int64(1700000000123))
	f.Add("GET", "", "http://other.example/x#frag", "X-A", "\x00\r\n", "=; Expires=Thu, 01 Jan 1970", []byte{0xff, 0xfe}, true, 500, 0.0, int64(0))
	f.Add("", "[::1]:80", "*", "", "", "", []byte(nil), false, 0, -1.0, int64(-62135596800000))
	f.Add("DELETE", "a b", "../../etc/passwd?x=\u2028", "Set-Cookie", "a=b", "a=\"quoted\"; Domain=.example.com; Secure", []byte("\u2029</script>"), false, 999, 1e300, int64(253402300799999))
	f.Fuzz(func(t *testing.T, method, host, target, hname, hvalue, setCookie string, body []byte, b64 bool, status int, durationMS float64, ms int64) {
		if math.IsNaN(durationMS) || math.IsInf(durationMS, 0) {
			// A capture's duration comes from a time.Duration: always finite.
			durationMS = 0
		}
		c := &Capture{
			ID:         NewID(time.UnixMilli(ms)),
			Time:       time.UnixMilli(ms),
			DurationMS: durationMS,
			Route:      target,
			TraceID:    hvalue,
			Request: Request{
				Method: method, Host: host, URL: target, Proto: hname,
				Headers: []Field{{hname, hvalue}, {"Content-Type", hvalue}},
				Cookies: []Field{{hname, hvalue}},
			},
			Response: Response{
				Status:  status,
				Headers: []Field{{"Set-Cookie", setCookie}, {hname, hvalue}, {"Location", target}},
			},
			Redacted: []Redaction{{Where: hname, Name: hvalue}},
		}
		c.Request.Body.Text, c.Response.Body.Text = string(body), string(body)
		if b64 || !utf8.Valid(body) {
			enc := base64.StdEncoding.EncodeToString(body)
			c.Request.Body = Body{Text: enc, Base64: true}
			c.Response.Body = Body{Text: enc, Base64: true}
		}
		data, err := json.Marshal(NewHAR(c))
		if err != nil {
			t.Fatalf("HAR does not encode: %v", err)
		}
		if !utf8.Valid(data) {
			t.Fatal("HAR is not UTF-8")
		}
		if (time.Time{}).Before(c.Time) && c.Time.Year() < 10000 {
			validateHAR(t, data)
		}
		var h HAR
		if err := json.Unmarshal(data, &h); err != nil {
			t.Fatal(err)
		}
		if len(h.Log.Entries) != 1 {
			t.Fatalf("%d entries", len(h.Log.Entries))
		}
		e := h.Log.Entries[0]
		u, err := url.Parse(e.Request.URL)
		if err != nil {
			t.Fatalf("request URL %q does not parse: %v", e.Request.URL, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.Fragment != "" {
			t.Fatalf("request URL %q: scheme %q host %q fragment %q", e.Request.URL, u.Scheme, u.Host, u.Fragment)
		}
		if validHost(host) && u.Host != host {
			t.Fatalf("request URL %q names host %q, the capture %q", e.Request.URL, u.Host, host)
		}
		// json.Marshal turns invalid UTF-8 into U+FFFD; compare with what
		// a JSON reader of the capture itself would see.
		same := func(got, want string) bool {
			js, _ := json.Marshal(want)
			var w string
			json.Unmarshal(js, &w)
			return got == w
		}
		if len(e.Request.Headers) != 2 || !same(e.Request.Headers[0].Name, hname) || !same(e.Request.Headers[0].Value, hvalue) {
			t.Fatalf("request headers %q", e.Request.Headers)
		}
		if len(e.Request.Cookies) != 1 || !same(e.Request.Cookies[0].Value, hvalue) {
			t.Fatalf("request cookies %+v", e.Request.Cookies)
		}
		if len(body) > 0 {
			if e.Request.PostData == nil || !same(e.Request.PostData.Text, c.Request.Body.Text) {
				t.Fatalf("postData %+v", e.Request.PostData)
			}
			if c.Request.Body.Base64 != (e.Request.PostData.Encoding == "base64") {
				t.Fatal("postData encoding lost")
			}
		}
		if !same(e.Response.Content.Text, c.Response.Body.Text) {
			t.Fatal("response body changed")
		}
		if len(e.Redacted) != 1 {
			t.Fatalf("redactions %v", e.Redacted)
		}
	})
}
