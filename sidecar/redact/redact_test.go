package redact

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

const (
	jwt1 = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
	jwt2 = "eyJhbGciOiJSUzI1NiJ9.eyJ1c2VyIjoiYm9iIn0.c2lnbmF0dXJlLXR3by1hYmNkZWY"
)

func mustNew(t testing.TB, cfg Config) *Redactor {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func hdr(kv ...string) []capture.Field {
	var fs []capture.Field
	for i := 0; i+1 < len(kv); i += 2 {
		fs = append(fs, capture.Field{Name: kv[i], Value: kv[i+1]})
	}
	return fs
}

// texts returns every string of c a reader could see, base64 bodies decoded.
func texts(c *capture.Capture) []string {
	out := []string{c.Request.URL, c.Request.Host}
	for _, fs := range [][]capture.Field{c.Request.Headers, c.Request.Cookies, c.Response.Headers} {
		for _, f := range fs {
			out = append(out, f.Name, f.Value)
		}
	}
	for _, b := range []capture.Body{c.Request.Body, c.Response.Body} {
		t := b.Text
		if b.Base64 {
			if d, err := base64.StdEncoding.DecodeString(t); err == nil {
				t = string(d)
			}
		}
		out = append(out, t)
	}
	for _, x := range c.Redacted {
		out = append(out, x.Where, x.Name, x.Fingerprint)
	}
	return out
}

func dump(c *capture.Capture) string { return strings.Join(texts(c), "\n") }

type where struct{ where, name string }

func hasRedaction(c *capture.Capture, w where) bool {
	for _, x := range c.Redacted {
		if x.Where == w.where && x.Name == w.name {
			return true
		}
	}
	return false
}

// placeCase is one capture, what must be gone from it, what must stay,
// and which removals must be listed.
type placeCase struct {
	name   string
	cfg    Config
	c      capture.Capture
	gone   []string
	kept   []string
	listed []where
}

func runPlaceCases(t *testing.T, cases []placeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustNew(t, tc.cfg)
			c := tc.c
			r.Capture(&c)
			d := dump(&c)
			for _, g := range tc.gone {
				if strings.Contains(d, g) {
					t.Errorf("%q survived:\n%s", g, d)
				}
			}
			for _, k := range tc.kept {
				if !strings.Contains(d, k) {
					t.Errorf("%q missing:\n%s", k, d)
				}
			}
			for _, w := range tc.listed {
				if !hasRedaction(&c, w) {
					t.Errorf("no redaction %v listed in %+v", w, c.Redacted)
				}
			}
			// Redacting again changes nothing and lists nothing new.
			again := c
			again.Request.Headers = append([]capture.Field(nil), c.Request.Headers...)
			again.Request.Cookies = append([]capture.Field(nil), c.Request.Cookies...)
			again.Response.Headers = append([]capture.Field(nil), c.Response.Headers...)
			again.Redacted = append([]capture.Redaction(nil), c.Redacted...)
			r.Capture(&again)
			if !reflect.DeepEqual(again, c) {
				t.Errorf("second pass changed the capture:\n%s\nvs\n%s", dump(&again), d)
			}
		})
	}
}

func req(url string, headers []capture.Field, ct, body string) capture.Capture {
	return capture.Capture{Request: capture.Request{
		Method: "POST", URL: url, Headers: headers,
		Body: capture.Body{Text: body, ContentType: ct, Size: int64(len(body))},
	}}
}

func resp(headers []capture.Field, ct, body string) capture.Capture {
	return capture.Capture{
		Request:  capture.Request{Method: "GET", URL: "/"},
		Response: capture.Response{Status: 422, Headers: headers, Body: capture.Body{Text: body, ContentType: ct}},
	}
}

func TestHeaders(t *testing.T) {
	custom := Config{Headers: []string{"X-Tenant-Key"}}
	runPlaceCases(t, []placeCase{
		{name: "authorization keeps its scheme",
			c:      req("/", hdr("Authorization", "Bearer tok_abcdefgh12345"), "", ""),
			gone:   []string{"tok_abcdefgh12345"},
			kept:   []string{"Bearer [REDACTED]"},
			listed: []where{{capture.WhereRequestHeader, "Authorization"}}},
		{name: "basic auth",
			c:    req("/", hdr("authorization", "Basic dXNlcjpodW50ZXIy"), "", ""),
			gone: []string{"dXNlcjpodW50ZXIy"}, kept: []string{"Basic [REDACTED]"}},
		{name: "authorization without a scheme",
			c:    req("/", hdr("Authorization", "k3y-without-scheme"), "", ""),
			gone: []string{"k3y-without-scheme"}, kept: []string{"[REDACTED]"}},
		{name: "built-in list, any case",
			c: req("/", hdr("x-api-key", "ak-1111", "X-AUTH-TOKEN", "at-2222", "X-Csrf-Token", "cs-3333",
				"X-Amz-Security-Token", "amz-4444", "Proxy-Authorization", "Basic cHJveHk6cGFzcw=="), "", ""),
			gone: []string{"ak-1111", "at-2222", "cs-3333", "amz-4444", "cHJveHk6cGFzcw=="}},
		{name: "name matching a field rule",
			c:      req("/", hdr("X-Refresh-Token", "rt-9999", "X-User-Password", "pw-8888", "X-Stripe-Secret-Key", "ss-7777"), "", ""),
			gone:   []string{"rt-9999", "pw-8888", "ss-7777"},
			listed: []where{{capture.WhereRequestHeader, "X-Refresh-Token"}}},
		{name: "custom header",
			cfg: custom, c: req("/", hdr("x-tenant-key", "tk-5555"), "", ""),
			gone: []string{"tk-5555"}},
		{name: "custom header unlisted stays",
			c: req("/", hdr("X-Tenant-Key", "tk-5555"), "", ""), kept: []string{"tk-5555"}},
		{name: "jwt in a harmless header",
			c:    req("/", hdr("X-Debug", "trace "+jwt1+" end"), "", ""),
			gone: []string{jwt1, "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"}, kept: []string{"trace [REDACTED] end"},
			listed: []where{{capture.WhereRequestHeader, "X-Debug"}}},
		{name: "bearer in a harmless header",
			c:    req("/", hdr("X-Forwarded-For", "10.0.0.1", "X-Note", "copied Bearer abcdefgh12345678, sorry"), "", ""),
			gone: []string{"abcdefgh12345678"}, kept: []string{"10.0.0.1", "copied Bearer [REDACTED], sorry"}},
		{name: "assignment in a harmless header",
			c:    req("/", hdr("X-Debug", "user=bob password=hunter2"), "", ""),
			gone: []string{"hunter2"}, kept: []string{"user=bob password=[REDACTED]"}},
		{name: "harmless headers stay",
			c: req("/", hdr("User-Agent", "curl/8.5.0", "Accept", "*/*", "Content-Type", "application/json; charset=utf-8",
				"WWW-Authenticate", `Bearer realm="api", error="invalid_token", error_description="The access token expired"`), "", ""),
			kept: []string{"curl/8.5.0", "*/*", "application/json; charset=utf-8",
				`Bearer realm="api", error="invalid_token", error_description="The access token expired"`}},
		{name: "referer query",
			c:      req("/", hdr("Referer", "https://app.example/reset?token=rs-1234&lang=en"), "", ""),
			gone:   []string{"rs-1234"},
			kept:   []string{"https://app.example/reset?token=[REDACTED]&lang=en"},
			listed: []where{{capture.WhereRequestHeader, "Referer?token"}}},
		{name: "location fragment",
			c:    resp(hdr("Location", "/cb#access_token=at-4321&state=xyz"), "", ""),
			gone: []string{"at-4321"}, kept: []string{"state=xyz"}},
		{name: "custom list and pattern together",
			cfg: custom, c: req("/", hdr("X-Tenant-Key", jwt1), "", ""),
			gone: []string{jwt1}, kept: []string{"X-Tenant-Key"}},
		{name: "sensitive name with a pattern value",
			c:      req("/", hdr("Authorization", "Bearer "+jwt1), "", ""),
			gone:   []string{jwt1},
			kept:   []string{"Bearer [REDACTED]"},
			listed: []where{{capture.WhereRequestHeader, "Authorization"}}},
	})
}

func TestCookies(t *testing.T) {
	runPlaceCases(t, []placeCase{
		{name: "cookie header rebuilt cookie by cookie",
			c:      req("/", hdr("Cookie", "theme=dark; sessionid=s3ss10n; access_token=at-123; lang=en"), "", ""),
			gone:   []string{"s3ss10n", "at-123"},
			kept:   []string{"theme=dark; sessionid=[REDACTED]; access_token=[REDACTED]; lang=en"},
			listed: []where{{capture.WhereRequestCookie, "sessionid"}, {capture.WhereRequestCookie, "access_token"}}},
		{name: "session-ish names",
			c:    req("/", hdr("Cookie", `PHPSESSID=p1p1p1; connect.sid=c2c2c2; JSESSIONID=j3j3j3; __Host-next-auth.session-token=n4n4n4; csrftoken=k5k5k5; my_jwt=w6w6w6; SSID=g7g7g7; XSRF-TOKEN=x8x8x8; laravel_session=l9l9l9; auth="q0q0q0"`), "", ""),
			gone: []string{"p1p1p1", "c2c2c2", "j3j3j3", "n4n4n4", "k5k5k5", "w6w6w6", "g7g7g7", "x8x8x8", "l9l9l9", "q0q0q0"},
			kept: []string{`auth="[REDACTED]"`}},
		{name: "cookie list",
			c:    capture.Capture{Request: capture.Request{Cookies: hdr("theme", "dark", "csrftoken", "c5rf-tok", "userPassword", "pw-cookie")}},
			gone: []string{"c5rf-tok", "pw-cookie"}, kept: []string{"dark"},
			listed: []where{{capture.WhereRequestCookie, "csrftoken"}}},
		{name: "header and list agree",
			c: capture.Capture{Request: capture.Request{
				Headers: hdr("Cookie", "sid=abcabc; theme=dark"),
				Cookies: hdr("sid", "abcabc", "theme", "dark")}},
			gone: []string{"abcabc"}, kept: []string{"sid=[REDACTED]; theme=dark"}},
		{name: "auth cookies",
			cfg:  Config{AuthCookies: []string{"remember_me"}},
			c:    req("/", hdr("Cookie", "remember_me=rm-1234; theme=dark"), "", ""),
			gone: []string{"rm-1234"}, kept: []string{"theme=dark"}},
		{name: "cookie on the header list redacts every cookie",
			cfg: Config{Headers: []string{"cookie"}},
			c: capture.Capture{Request: capture.Request{
				Headers: hdr("Cookie", "theme=dark-theme; lang=en-GB"),
				Cookies: hdr("theme", "dark-theme")}},
			gone: []string{"dark-theme", "en-GB"}, kept: []string{"theme=[REDACTED]; lang=[REDACTED]"}},
		{name: "jwt in a harmless cookie",
			c:    req("/", hdr("Cookie", "prefs="+jwt1+"; theme=dark"), "", ""),
			gone: []string{jwt1}, kept: []string{"theme=dark"}},
		{name: "encoded bearer and assignment in a harmless cookie",
			c:    req("/", hdr("Cookie", "x=Bearer%20abcdefgh12345678; prefs=lang%3Den%26token%3Dtk-998877"), "", ""),
			gone: []string{"abcdefgh12345678", "tk-998877"}, kept: []string{"lang%3Den"}},
		{name: "set-cookie keeps attributes",
			c: resp(hdr("Set-Cookie", "session=abc123; Path=/; HttpOnly; Secure", "Set-Cookie", "theme=dark; Max-Age=3600",
				"Set-Cookie", "session=; Max-Age=0"), "", ""),
			gone:   []string{"abc123"},
			kept:   []string{"session=[REDACTED]; Path=/; HttpOnly; Secure", "theme=dark; Max-Age=3600", "session=; Max-Age=0"},
			listed: []where{{capture.WhereResponseCookie, "session"}}},
		{name: "set-cookie on the header list",
			cfg:  Config{Headers: []string{"Set-Cookie"}},
			c:    resp(hdr("Set-Cookie", "theme=dark-theme; Path=/"), "", ""),
			gone: []string{"dark-theme"}, kept: []string{"theme=[REDACTED]; Path=/"}},
	})
}

func TestURLs(t *testing.T) {
	runPlaceCases(t, []placeCase{
		{name: "sensitive query parameter",
			c: req("/search?password=hunter2&q=shoes", nil, "", ""), gone: []string{"hunter2"},
			kept: []string{"/search?password=[REDACTED]&q=shoes"}, listed: []where{{capture.WhereRequestQuery, "password"}}},
		{name: "encoded name",
			c: req("/x?pass%77ord=hunter2&api%5Fkey=ak-77", nil, "", ""), gone: []string{"hunter2", "ak-77"},
			listed: []where{{capture.WhereRequestQuery, "password"}, {capture.WhereRequestQuery, "api_key"}}},
		{name: "mixed-case and compound names",
			c:    req("/x?PassWord=p1p1&userPassword=p2p2&X-Refresh-Token=p3p3&user%5Bpassword%5D=p4p4&client_secret=p5p5", nil, "", ""),
			gone: []string{"p1p1", "p2p2", "p3p3", "p4p4", "p5p5"}},
		{name: "percent-encoded value",
			c: req("/x?token=abc%2Fdef%3D%3D", nil, "", ""), gone: []string{"abc%2Fdef", "abc/def"}},
		{name: "repeated keys",
			c: req("/x?token=a1a1a1&token=b2b2b2&token=", nil, "", ""), gone: []string{"a1a1a1", "b2b2b2"},
			kept: []string{"token=[REDACTED]&token=[REDACTED]&token="}},
		{name: "custom query name",
			cfg: Config{Query: []string{"otp"}}, c: req("/x?otp=123456", nil, "", ""), gone: []string{"123456"}},
		{name: "custom query name unlisted stays",
			c: req("/x?otp=123456", nil, "", ""), kept: []string{"otp=123456"}},
		{name: "custom field applies to the query",
			cfg: Config{Fields: []string{"dob"}}, c: req("/x?user_dob=1990-01-01", nil, "", ""), gone: []string{"1990-01-01"}},
		{name: "session id and signatures",
			c:    req("/f?X-Amz-Signature=sg-1&sig=sg-2&PHPSESSID=sg-3&jsessionid=sg-4", nil, "", ""),
			gone: []string{"sg-1", "sg-2", "sg-3", "sg-4"}},
		{name: "bearer in a harmless value",
			c: req("/x?q=Bearer+abcdefgh12345678", nil, "", ""), gone: []string{"abcdefgh12345678"},
			kept: []string{"q=Bearer+[REDACTED]"}},
		{name: "jwt in a harmless value",
			c: req("/x?next=%2Fhome%3Ft%3D"+jwt1, nil, "", ""), gone: []string{jwt1}},
		{name: "fragment",
			c: req("/cb#access_token=at-1&token_type=bearer", nil, "", ""), gone: []string{"at-1"}},
		{name: "user info",
			c: req("http://alice:p4ssw0rd@host.example/x", nil, "", ""), gone: []string{"p4ssw0rd"},
			kept: []string{"http://alice:[REDACTED]@host.example/x"}},
		{name: "jwt in the path",
			c: req("/reset/"+jwt1+"/confirm", nil, "", ""), gone: []string{jwt1}, kept: []string{"/reset/[REDACTED]/confirm"}},
		{name: "path parameter",
			c: req("/app;jsessionid=ABC123XYZ/page", nil, "", ""), gone: []string{"ABC123XYZ"}},
		{name: "colon in a path is no assignment",
			c: req("/v1/tokens:revoke?x=1", nil, "", ""), kept: []string{"/v1/tokens:revoke?x=1"}},
		{name: "harmless query stays",
			c:    req("/items?page=2&sort=-price&q=red+shoes&empty=&flag", nil, "", ""),
			kept: []string{"/items?page=2&sort=-price&q=red+shoes&empty=&flag"}},
	})
}

func TestJSONBodies(t *testing.T) {
	const ct = "application/json"
	runPlaceCases(t, []placeCase{
		{name: "nested",
			c: req("/", nil, ct, `{"user":{"name":"bob","password":"p1p1p1"}}`), gone: []string{"p1p1p1"}, kept: []string{`"name":"bob"`},
			listed: []where{{capture.WhereRequestBody, "user.password"}}},
		{name: "arrays of objects",
			c:    req("/", nil, ct, `{"items":[{"id":1,"token":"t1t1t1"},{"id":2,"token":"t2t2t2"}]}`),
			gone: []string{"t1t1t1", "t2t2t2"}, kept: []string{`"id":2`},
			listed: []where{{capture.WhereRequestBody, "items[0].token"}, {capture.WhereRequestBody, "items[1].token"}}},
		{name: "top-level array",
			c: req("/", nil, ct, `[{"password":"p1p1p1"},[{"secret":"s2s2s2"}]]`), gone: []string{"p1p1p1", "s2s2s2"},
			listed: []where{{capture.WhereRequestBody, "[1][0].secret"}}},
		{name: "key variants",
			c:    req("/", nil, ct, `{"userPassword":"k1k1","stripe_secret_key":"k2k2","X-Refresh-Token":"k3k3","apiKey":"k4k4","CLIENT_SECRET":"k5k5","cardNumber":"k6k6","ssn":"k7k7"}`),
			gone: []string{"k1k1", "k2k2", "k3k3", "k4k4", "k5k5", "k6k6", "k7k7"}},
		{name: "escaped key",
			c: req("/", nil, ct, `{"pass\u0077ord":"p1p1p1"}`), gone: []string{"p1p1p1"},
			listed: []where{{capture.WhereRequestBody, "password"}}},
		{name: "escaped value",
			c: req("/", nil, ct, `{"token":"a\/b\u0063d\"e"}`), gone: []string{`a\/b`, `cd\"e`, "a/bcd"}},
		{name: "number and object values",
			c:    req("/", nil, ct, `{"cvv":123,"card_number":4111111111111111,"secret":{"k":"s3s3"},"tokens":["t4t4"]}`),
			gone: []string{"123", "4111111111111111", "s3s3", "t4t4"},
			kept: []string{`{"cvv":"[REDACTED]","card_number":"[REDACTED]","secret":"[REDACTED]","tokens":"[REDACTED]"}`}},
		{name: "nothing to hide stays",
			c:    req("/", nil, ct, `{"password":null,"token":"","has_password":true,"secrets":[],"api_key":{}}`),
			kept: []string{`{"password":null,"token":"","has_password":true,"secrets":[],"api_key":{}}`}},
		{name: "bearer in a harmless string",
			c:    req("/", nil, ct, `{"note":"header was Authorization: Bearer abcdefgh12345678"}`),
			gone: []string{"abcdefgh12345678"}, listed: []where{{capture.WhereRequestBody, "note"}}},
		{name: "jwt and assignment in one harmless string",
			c:    req("/", nil, ct, `{"log":"login password=hunter2 jwt `+jwt1+`"}`),
			gone: []string{"hunter2", jwt1}, kept: []string{`"log":"login password=[REDACTED] jwt [REDACTED]"`}},
		{name: "json inside a string",
			c: req("/", nil, ct, `{"raw":"{\"password\":\"p2p2p2\"}"}`), gone: []string{"p2p2p2"}},
		{name: "custom field",
			cfg: Config{Fields: []string{"dob"}}, c: req("/", nil, ct, `{"user":{"dob":"1990-01-01"}}`), gone: []string{"1990-01-01"}},
		{name: "query-only name does not apply to bodies",
			cfg: Config{Query: []string{"otp"}}, c: req("/", nil, ct, `{"otp":"123456"}`), kept: []string{"123456"}},
		{name: "json sent as a form (curl -d)",
			c: req("/", nil, "application/x-www-form-urlencoded", `{"password":"p1p1p1"}`), gone: []string{"p1p1p1"}},
		{name: "json without a content type",
			c: req("/", nil, "", `{"password":"p1p1p1"}`), gone: []string{"p1p1p1"}},
		{name: "cut in a sensitive value",
			c: func() capture.Capture {
				c := req("/", nil, ct, `{"user":"bob","password":"hunter2hunter`)
				c.Request.Truncated = true
				return c
			}(),
			gone: []string{"hunter2hunter", "hunter"}, kept: []string{`"user":"bob"`}},
		{name: "cut in an escape",
			c: req("/", nil, ct, `{"token":"abcdef\u00`), gone: []string{"abcdef"}},
		{name: "cut after a key",
			c: req("/", nil, ct, `{"a":[{"secret":`), kept: []string{`{"a":[{"secret":`}},
		{name: "broken json",
			c:    req("/", nil, ct, `{"password":"x1x1x1", oops "token": "t1t1t1", 'api_key': 'a1a1a1'}`),
			gone: []string{"x1x1x1", "t1t1t1", "a1a1a1"}},
		{name: "json lines",
			c: req("/", nil, "application/x-ndjson", "{\"token\":\"t1t1t1\"}\n{\"token\":\"t2t2t2\"}\n"), gone: []string{"t1t1t1", "t2t2t2"}},
		{name: "pydantic echo of a rejected password",
			c: resp(nil, ct, `{"detail":[{"type":"string_too_short","loc":["body","password"],"msg":"String should have at least 8 characters","input":"abc12","ctx":{"min_length":8}},`+
				`{"type":"missing","input":"in-before-loc","loc":["body","user","api_key"]},`+
				`{"type":"int_parsing","loc":["query","page"],"msg":"bad","input":"two"}]}`),
			gone:   []string{"abc12", "in-before-loc"},
			kept:   []string{`"input":"two"`, `"loc":["body","password"]`, `"min_length":8`},
			listed: []where{{capture.WhereResponseBody, "detail[0].input"}, {capture.WhereResponseBody, "detail[1].input"}}},
		{name: "login response",
			c:    resp(nil, ct, `{"access_token":"`+jwt1+`","refresh_token":"rt-5678","token_type":"bearer","expires_in":3600}`),
			gone: []string{jwt1, "rt-5678"}, kept: []string{`"expires_in":3600`},
			listed: []where{{capture.WhereResponseBody, "access_token"}}},
		{name: "problem json",
			c: resp(nil, "application/problem+json", `{"title":"bad","secret":"s1s1s1"}`), gone: []string{"s1s1s1"}},
	})
}

func TestFormAndMultipartBodies(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	mp := func(parts ...string) string {
		var b strings.Builder
		for i := 0; i+2 < len(parts); i += 3 {
			fmt.Fprintf(&b, "--XyZ\r\nContent-Disposition: form-data; name=%q\r\n", parts[i])
			if parts[i+1] != "" {
				fmt.Fprintf(&b, "Content-Type: %s\r\n", parts[i+1])
			}
			fmt.Fprintf(&b, "\r\n%s\r\n", parts[i+2])
		}
		b.WriteString("--XyZ--\r\n")
		return b.String()
	}
	runPlaceCases(t, []placeCase{
		{name: "form",
			c: req("/", nil, form, "username=bob&password=hunter2"), gone: []string{"hunter2"},
			kept: []string{"username=bob&password=[REDACTED]"}, listed: []where{{capture.WhereRequestBody, "password"}}},
		{name: "form repeated and bracketed keys",
			c:    req("/", nil, form, "token=t1t1&token=t2t2&user%5Bpassword%5D=p3p3&user[password_confirmation]=p4p4"),
			gone: []string{"t1t1", "t2t2", "p3p3", "p4p4"}},
		{name: "form encoded name and value",
			c: req("/", nil, form, "pass%77ord=a%2Bb%3Dc&next=%2F"), gone: []string{"a%2Bb", "a+b=c"}, kept: []string{"next=%2F"}},
		{name: "form bearer in a harmless value",
			c: req("/", nil, form, "note=Bearer+abcdefgh12345678"), gone: []string{"abcdefgh12345678"}},
		{name: "form without a content type",
			c: req("/", nil, "", "grant_type=password&client_secret=cs-1"), gone: []string{"cs-1"}, kept: []string{"grant_type=password"}},
		{name: "form cut",
			c: req("/", nil, form, "a=1&password=hunter2hunt"), gone: []string{"hunter2hunt"}},
		{name: "multipart password field",
			c: req("/", nil, "multipart/form-data; boundary=XyZ",
				mp("username", "", "bob", "password", "", "hunter2", "avatar", "text/plain", "hello Bearer abcdefgh12345678",
					"meta", "application/json", `{"api_key":"ak-1111"}`)),
			gone:   []string{"hunter2", "abcdefgh12345678", "ak-1111"},
			kept:   []string{"\r\n\r\nbob\r\n", "hello Bearer [REDACTED]"},
			listed: []where{{capture.WhereRequestBody, "password"}, {capture.WhereRequestBody, "meta.api_key"}}},
		{name: "multipart without a boundary parameter",
			c: req("/", nil, "multipart/form-data", mp("password", "", "hunter2")), gone: []string{"hunter2"}},
		{name: "multipart cut inside a secret",
			c:    req("/", nil, "multipart/form-data; boundary=XyZ", strings.TrimSuffix(mp("a", "", "1", "secret", "", "s3cr3t-value"), "\r\n--XyZ--\r\n")[:100]),
			gone: []string{"s3cr3t"}},
	})
}

func TestOtherBodies(t *testing.T) {
	runPlaceCases(t, []placeCase{
		{name: "traceback",
			c:    resp(nil, "text/plain", "Traceback (most recent call last):\n  password = 'hunter2'\n  DATABASE_URL=postgres://app:s3cret@db:5432/app\n  headers={'Authorization': 'Bearer abcdefgh12345678'}"),
			gone: []string{"hunter2", "s3cret", "abcdefgh12345678"}, kept: []string{"postgres://app:[REDACTED]@db:5432/app"}},
		{name: "key shapes",
			c: resp(nil, "text/plain", "aws AKIAIOSFODNN7EXAMPLE stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc github ghp_16C7e42F292c6912E7710c838347Ae178B4a "+
				"openai sk-proj-abcdefghijklmnopqrstuvwx slack xoxb-123456789012-abcdefghij google AIzaSyA-abcdefghijklmnopqrstuvwxyz12345"),
			gone: []string{"IOSFODNN7EXAMPLE", "4eC39HqLyjWDarjtT1zdp7dc", "16C7e42F292c6912E7710c838347Ae178B4a", "abcdefghijklmnopqrstuvwx", "123456789012-abcdefghij", "SyA-abcdefghij"},
			kept: []string{"AKIA[REDACTED]", "sk_live_[REDACTED]", "ghp_[REDACTED]"}},
		{name: "private key",
			c:    resp(nil, "text/plain", "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"),
			gone: []string{"MIIEpAIBAAKCAQEA"}, kept: []string{"-----END RSA PRIVATE KEY-----"}},
		{name: "xml elements",
			c:    req("/", nil, "application/soap+xml", "<login><user>bob</user><Password> s3cr3t-xml </Password><apiKey>\n k3y-xml\n</apiKey></login>"),
			gone: []string{"s3cr3t-xml", "k3y-xml"}, kept: []string{"<user>bob</user><Password> [REDACTED] </Password>"}},
		{name: "html stays",
			c:    resp(nil, "text/html", `<html><body><h1>Internal Server Error</h1><input type="password" name="password"></body></html>`),
			kept: []string{`<html><body><h1>Internal Server Error</h1><input type="password" name="password"></body></html>`}},
		{name: "base64 body",
			c: func() capture.Capture {
				c := req("/", nil, "application/json", base64.StdEncoding.EncodeToString([]byte("{\"password\":\"p1p1p1\",\"bin\":\"\xff\xfe\"}")))
				c.Request.Base64 = true
				return c
			}(),
			gone: []string{"p1p1p1"}, kept: []string{"\"bin\":\"\xff\xfe\""}},
		{name: "compressed body goes whole",
			c: func() capture.Capture {
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				zw.Write([]byte(`{"password":"gz-secret"}`))
				zw.Close()
				c := resp(hdr("Content-Encoding", "gzip"), "application/json", base64.StdEncoding.EncodeToString(buf.Bytes()))
				c.Response.Base64 = true
				return c
			}(),
			kept: []string{"[REDACTED]"}, listed: []where{{capture.WhereResponseBody, "<compressed body>"}}},
		{name: "base64 body, cut",
			c: func() capture.Capture {
				c := req("/", nil, "application/octet-stream", base64.StdEncoding.EncodeToString([]byte("\xff token=" + jwt1))[:60]+"!!")
				c.Request.Base64, c.Request.Truncated = true, true
				return c
			}(),
			gone: []string{jwt1[:40]}},
	})
}

// TestCombinations pairs rules that could shadow each other: each rule
// must still apply when another one matched the same value, name or place.
func TestCombinations(t *testing.T) {
	cfg := Config{
		Headers:     []string{"X-Api-Key", "X-Session", "Authorization"},
		Fields:      []string{"pin", "token"},
		Query:       []string{"password", "otp"},
		AuthCookies: []string{"sessionid", "remember_me"},
	}
	runPlaceCases(t, []placeCase{
		{name: "header on the custom and built-in lists", cfg: cfg,
			c: req("/", hdr("X-Api-Key", "ak-1", "Authorization", "Bearer bt-12345678"), "", ""), gone: []string{"ak-1", "bt-12345678"}},
		{name: "header on a custom list with a harmless-looking value", cfg: cfg,
			c: req("/", hdr("X-Session", "plain"), "", ""), gone: []string{"plain"}},
		{name: "cookie on field, session and auth-cookie rules at once", cfg: cfg,
			c:    req("/", hdr("Cookie", "sessionid=s1s1; session_token=s2s2; remember_me=s3s3; pin=s4s4"), "", ""),
			gone: []string{"s1s1", "s2s2", "s3s3", "s4s4"}},
		{name: "query name on both lists", cfg: cfg,
			c: req("/x?password=q1q1&otp=q2q2&pin=q3q3", nil, "", ""), gone: []string{"q1q1", "q2q2", "q3q3"}},
		{name: "field rule in every place", cfg: Config{Fields: []string{"pin"}},
			c: capture.Capture{
				Request: capture.Request{URL: "/x?pin=1111", Headers: hdr("X-Pin", "2222", "Cookie", "pin=3333"),
					Body: capture.Body{ContentType: "application/json", Text: `{"card":{"pin":"4444"}}`}},
				Response: capture.Response{Headers: hdr("Set-Cookie", "pin=5555"), Body: capture.Body{ContentType: "application/x-www-form-urlencoded", Text: "pin=6666"}},
			},
			gone: []string{"1111", "2222", "3333", "4444", "5555", "6666"}},
		{name: "a header everyone trusts is still scanned",
			c:    req("/", hdr("User-Agent", "bot/1.0 (Bearer abcdefgh12345678)", "Content-Type", "application/json; token="+jwt2), "", ""),
			gone: []string{"abcdefgh12345678", jwt2}},
		{name: "pattern under a sensitive name is listed once",
			c: req("/", nil, "application/json", `{"token":"Bearer `+jwt1+`"}`), gone: []string{jwt1}},
		{name: "harmless key whose value is a form with a secret",
			c: req("/", nil, "application/x-www-form-urlencoded", "payload=%7B%22token%22%3A%22t9t9t9%22%7D&x="+jwt2), gone: []string{"t9t9t9", jwt2}},
		{name: "pydantic loc on a custom field", cfg: Config{Fields: []string{"pin"}},
			c: resp(nil, "application/json", `{"detail":[{"loc":["body","card","pin"],"input":"9876"}]}`), gone: []string{"9876"}},
		{name: "sensitive multipart field holding json", cfg: cfg,
			c:    req("/", nil, "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"pin\"\r\nContent-Type: application/json\r\n\r\n{\"a\":\"m1m1\"}\r\n--b--"),
			gone: []string{"m1m1"}},
		{name: "same token in header, cookie, query and body",
			c: capture.Capture{Request: capture.Request{
				URL: "/x?access_token=" + jwt2, Headers: hdr("Authorization", "Bearer "+jwt2, "Cookie", "jwt="+jwt2, "X-Debug", jwt2),
				Cookies: hdr("jwt", jwt2), Body: capture.Body{ContentType: "text/plain", Text: "token " + jwt2}}},
			gone: []string{jwt2, "c2lnbmF0dXJlLXR3by1hYmNkZWY"}},
	})
}

func TestExactOutputs(t *testing.T) {
	r := mustNew(t, Config{})
	cases := []struct{ name, ct, in, want string }{
		{"json layout kept", "application/json",
			"{\n  \"user\": \"bob\",\n  \"password\": \"p\",\n  \"n\": [1, 2.5e3, -0]\n}",
			"{\n  \"user\": \"bob\",\n  \"password\": \"[REDACTED]\",\n  \"n\": [1, 2.5e3, -0]\n}"},
		{"json cut in a harmless string", "application/json", `{"note":"see Bearer abcdefgh12345678 and`, `{"note":"see Bearer [REDACTED] and`},
		{"json string re-escaped", "application/json", `{"msg":"line1\nline2 \"q\" token=abc"}`, `{"msg":"line1\nline2 \"q\" token=[REDACTED]"}`},
		{"python json", "application/json", `{"x": NaN, "y": -Infinity, "password": "p"}`, `{"x": NaN, "y": -Infinity, "password": "[REDACTED]"}`},
		{"form", "application/x-www-form-urlencoded", "a=1&password=x&b=%20&password=", "a=1&password=[REDACTED]&b=%20&password="},
		{"form value re-encoded", "application/x-www-form-urlencoded", "q=a%26b+Bearer+abcdefgh12345678", "q=a%26b+Bearer+[REDACTED]"},
		{"text assignment forms", "text/plain",
			`password: "a b" token='c' secret => d, "api_key":e, pwd := f; ssn=[1,2] secret={} token=null`,
			`password: "[REDACTED]" token='[REDACTED]' secret => [REDACTED], "api_key":"[REDACTED]", pwd := [REDACTED]; ssn=[REDACTED] secret={} token=null`},
		{"text escaped json", "text/plain", `msg={\"password\": \"p\\\"q\", \"a\": 1}`, `msg={\"password\": \"[REDACTED]\", \"a\": 1}`},
		{"json escapes in free text", "text/plain", `log {"api\u006bey": "k1", "a\u005bpwd\u005d": "k2"}`, `log {"apikey": "[REDACTED]", "a[pwd]": "[REDACTED]"}`},
		{"pem header must look like one", "text/plain", "-----BEGINPRIVATE KEY token=abc -----", "-----BEGINPRIVATE KEY token=[REDACTED] -----"},
		{"prose mostly stays", "text/plain", "Bearer of bad news. Basic plan. A token: is needed", "Bearer of bad news. Basic plan. A token: [REDACTED] needed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.bodyText(tc.in, tc.ct, nil, capture.WhereRequestBody, "", 0); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestQueryAndURL(t *testing.T) {
	r := mustNew(t, Config{})
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a=1", "a=1"},
		{"token=abc&a=1", "token=[REDACTED]&a=1"},
		{"pass%77ord=x&&=&a", "pass%77ord=[REDACTED]&&=&a"},
		{"q=" + jwt1, "q=[REDACTED]"},
		{"X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240101", "X-Amz-Credential=AKIA[REDACTED]/20240101"},
		{"q=Bearer+abc+defghijk", "q=Bearer+[REDACTED]"}, // '+' sent unencoded, meant literally
		{"q=red+shoes&n=%E2%82%AC", "q=red+shoes&n=%E2%82%AC"},
	} {
		if got := r.Query(tc.in); got != tc.want {
			t.Errorf("Query(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"/items/42", "/items/42"},
		{"/login?password=x", "/login?password=[REDACTED]"},
		{"/a?b=1#c", "/a?b=1#c"},
		{"/cb#id_token=x", "/cb#id_token=[REDACTED]"},
		{"https://u:pw@h/p?token=t#f", "https://u:[REDACTED]@h/p?token=[REDACTED]#f"},
		{"/reset/%65yJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "/reset/[REDACTED]"},
	} {
		if got := r.URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestURLAllocations(t *testing.T) {
	r := mustNew(t, Config{FingerprintKey: []byte("0123456789abcdef")})
	for _, u := range []string{"/items/42", "/api/v1/users/7/orders?page=2&sort=date"} {
		if n := testing.AllocsPerRun(100, func() { _ = r.URL(u) }); n != 0 {
			t.Errorf("URL(%q): %v allocations, want 0", u, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = r.HeaderSensitive("X-Request-Id") }); n != 0 {
		t.Errorf("HeaderSensitive: %v allocations, want 0", n)
	}
}

func TestHeaderSensitive(t *testing.T) {
	r := mustNew(t, Config{Headers: []string{"X-Tenant-Key"}, Fields: []string{"pin"}})
	for name, want := range map[string]bool{
		"Authorization": true, "proxy-authorization": true, "X-API-KEY": true, "X-Auth-Token": true,
		"X-Csrf-Token": true, "X-Amz-Security-Token": true, "Cookie": true, "set-cookie": true,
		"X-Tenant-Key": true, "X-Refresh-Token": true, "X-Pin": true, "X-Client-Secret": true,
		"Content-Type": false, "User-Agent": false, "X-Request-Id": false, "Accept": false, "Traceparent": false,
	} {
		if got := r.HeaderSensitive(name); got != want {
			t.Errorf("HeaderSensitive(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestNameRule documents the name rule: normalise (ASCII lower case, no
// '-', '_', '.', ' '), then look for a listed name inside.
func TestNameRule(t *testing.T) {
	r := mustNew(t, Config{Fields: []string{"Date-Of-Birth"}})
	for name, want := range map[string]bool{
		"password": true, "PASSWORD": true, "userPassword": true, "new_password_confirm": true,
		"X-Refresh-Token": true, "stripe_secret_key": true, "user[password]": true, "apiKey": true,
		"API-KEY": true, "api.key": true, "privateKey": true, "Authorization": true, "creditCard": true,
		"card-number": true, "CVV2": true, "ssn": true, "passwd": true, "pwd": true, "id_token": true,
		"dateOfBirth": true, "date_of_birth": true,
		// Substring matching errs on the side of removal:
		"tokenizer": true, "max_tokens": true, "business_name": true,
		"username": false, "email": false, "passage": false, "author": false, "key": false,
		"session": false, "description": false, "": false,
	} {
		if got := r.fields.match(name); got != want {
			t.Errorf("field %q: %v, want %v", name, got, want)
		}
	}
	for name, want := range map[string]bool{
		"session": true, "sessionid": true, "PHPSESSID": true, "connect.sid": true, "SSID": true, "sid": true,
		"auth": true, "next-auth.session-token": true, "jwt": true, "csrftoken": true, "_csrf": true,
		"theme": false, "lang": false, "_ga": false, "consent": false,
	} {
		if got := r.cookies.match(name); got != want {
			t.Errorf("cookie %q: %v, want %v", name, got, want)
		}
	}
	for name, want := range map[string]bool{"sig": true, "signature": true, "X-Amz-Signature": true, "jsessionid": true, "design": false, "signup": false} {
		if got := r.query.match(name); got != want {
			t.Errorf("query %q: %v, want %v", name, got, want)
		}
	}
}

func TestFingerprint(t *testing.T) {
	key := []byte("0123456789abcdef-key")
	r := mustNew(t, Config{FingerprintKey: key})
	mk := func(tok string) *capture.Capture {
		c := req("/x?token="+tok, hdr("Authorization", "Bearer "+tok), "application/json", `{"access_token":"`+tok+`"}`)
		r.Capture(&c)
		return &c
	}
	a, b, other := mk("tok-aaaa1111"), mk("tok-aaaa1111"), mk("tok-bbbb2222")
	if len(a.Redacted) != 3 {
		t.Fatalf("redacted = %+v", a.Redacted)
	}
	fp := a.Redacted[0].Fingerprint
	if len(fp) != 12 || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Fatalf("fingerprint %q is not 12 hex digits", fp)
	}
	for i := range a.Redacted {
		if a.Redacted[i].Fingerprint != fp || b.Redacted[i].Fingerprint != fp {
			t.Errorf("same token, different fingerprints: %+v %+v", a.Redacted, b.Redacted)
		}
		if other.Redacted[i].Fingerprint == fp {
			t.Errorf("different tokens, same fingerprint %s", fp)
		}
	}
	want := "[REDACTED:hmac-sha256:" + fp + "]"
	for _, s := range []string{a.Request.URL, a.Request.Headers[0].Value, a.Request.Body.Text} {
		if !strings.Contains(s, want) {
			t.Errorf("%q lacks %q", s, want)
		}
	}
	r2 := mustNew(t, Config{FingerprintKey: []byte("another key, 16+ bytes")})
	c := req("/x?token=tok-aaaa1111", nil, "", "")
	r2.Capture(&c)
	if c.Redacted[0].Fingerprint == fp {
		t.Error("fingerprint does not depend on the key")
	}
	// The caller's key slice may change afterwards.
	copy(key, "XXXXXXXXXXXXXXXX")
	if again := mk("tok-aaaa1111"); again.Redacted[0].Fingerprint != fp {
		t.Error("Redactor kept a reference to the caller's key")
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Headers: []string{""}}, "--redact-headers: entry 1 is empty"},
		{Config{Headers: []string{"X Bad"}}, `--redact-headers: "X Bad" is not a header name`},
		{Config{Fields: []string{"ok", " "}}, "--redact-fields: entry 2 is empty"},
		{Config{Query: []string{"--"}}, `--redact-query: "--" has no letters or digits`},
		{Config{AuthCookies: []string{""}}, "auth cookies: entry 1 is empty"},
		{Config{FingerprintKey: []byte("short")}, "fingerprint key is 5 bytes, need at least 16"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := New(Config{}); err != nil {
		t.Errorf("zero Config: %v", err)
	}
}

func TestRedactedListBounded(t *testing.T) {
	r := mustNew(t, Config{})
	var b strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&b, "token%d=v%d&", i, i)
	}
	c := req("/", nil, "application/x-www-form-urlencoded", b.String())
	r.Capture(&c)
	if len(c.Redacted) != maxRedactions+1 || !strings.Contains(c.Redacted[maxRedactions].Name, "not listed") {
		t.Errorf("len(Redacted) = %d, last %+v", len(c.Redacted), c.Redacted[len(c.Redacted)-1])
	}
	if strings.Contains(c.Request.Body.Text, "v1999") {
		t.Error("removals past the list bound were skipped")
	}
}

func TestCaptureNilAndEmpty(t *testing.T) {
	r := mustNew(t, Config{})
	r.Capture(nil)
	var c capture.Capture
	r.Capture(&c)
	if c.Redacted == nil || len(c.Redacted) != 0 {
		t.Errorf("Redacted = %#v, want empty", c.Redacted)
	}
	b, _ := json.Marshal(c)
	if !strings.Contains(string(b), `"redacted":[]`) {
		t.Errorf("json: %s", b)
	}
}

// TestConcurrent is meant for -race: one Redactor, many goroutines.
func TestConcurrent(t *testing.T) {
	r := mustNew(t, Config{FingerprintKey: []byte("0123456789abcdef")})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				c := req(fmt.Sprintf("/x?token=t%d-%d", g, i), hdr("Authorization", "Bearer abcdefgh12345678"),
					"application/json", `{"password":"p","n":[{"secret":"s"}]}`)
				r.Capture(&c)
				if len(c.Redacted) != 4 {
					t.Errorf("redacted %+v", c.Redacted)
					return
				}
			}
		}()
	}
	wg.Wait()
}
