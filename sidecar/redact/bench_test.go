package redact

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

// capture422 is a realistic failing request: 15 request headers, a 2 KiB
// JSON body, and FastAPI's 422 answer.
func capture422() capture.Capture {
	var items []string
	for i := range 12 {
		items = append(items, fmt.Sprintf(`{"sku":"SKU-%04d","quantity":%d,"unit_price":%d.99,"note":"gift wrap, deliver to the back door please"}`, i, i%3+1, 10+i))
	}
	body := `{"customer":{"name":"Ada Lovelace","email":"ada@example.com","phone":"+44 20 7946 0000","password":"correct horse battery staple"},` +
		`"shipping":{"street":"12 Analytical Engine Road","city":"London","postcode":"N1 9GU","country":"GB"},` +
		`"items":[` + strings.Join(items, ",") + `],` +
		`"payment":{"method":"card","card_number":"4111111111111111","cvv":"123","expiry":"12/29","holder":"A LOVELACE"},` +
		`"coupon":"SPRING24","comment":"second attempt, the first one timed out"}`
	return capture.Capture{
		ID: "01J0000000000000000000000", Route: "/api/v1/orders",
		Request: capture.Request{
			Method: "POST", URL: "/api/v1/orders?dry_run=false&source=web", Host: "shop.example", Scheme: "https", Proto: "HTTP/1.1",
			Headers: []capture.Field{
				{Name: "Host", Value: "shop.example"},
				{Name: "User-Agent", Value: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"},
				{Name: "Accept", Value: "application/json, text/plain, */*"},
				{Name: "Accept-Encoding", Value: "gzip, deflate, br"},
				{Name: "Accept-Language", Value: "en-GB,en;q=0.9"},
				{Name: "Content-Type", Value: "application/json"},
				{Name: "Content-Length", Value: fmt.Sprint(len(body))},
				{Name: "Authorization", Value: "Bearer " + jwt1},
				{Name: "Cookie", Value: "session=9f8e7d6c5b4a39281706; theme=dark; _ga=GA1.2.1234567890.1700000000"},
				{Name: "X-Request-Id", Value: "5b1f2c7e-8d4a-4f3b-9e6d-2a1c0b9f8e7d"},
				{Name: "Traceparent", Value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
				{Name: "X-Forwarded-For", Value: "203.0.113.7"},
				{Name: "X-Forwarded-Proto", Value: "https"},
				{Name: "Origin", Value: "https://shop.example"},
				{Name: "Referer", Value: "https://shop.example/checkout?step=payment"},
			},
			Cookies: []capture.Field{{Name: "session", Value: "9f8e7d6c5b4a39281706"}, {Name: "theme", Value: "dark"}, {Name: "_ga", Value: "GA1.2.1234567890.1700000000"}},
			Body:    capture.Body{Text: body, ContentType: "application/json", Size: int64(len(body))},
		},
		Response: capture.Response{
			Status: 422,
			Headers: []capture.Field{
				{Name: "Content-Type", Value: "application/json"}, {Name: "Content-Length", Value: "312"},
				{Name: "Date", Value: "Mon, 01 Jul 2024 12:00:00 GMT"}, {Name: "Server", Value: "uvicorn"},
			},
			Body: capture.Body{ContentType: "application/json", Text: `{"detail":[{"type":"string_too_short","loc":["body","customer","password"],"msg":"String should have at least 30 characters","input":"correct horse battery staple","ctx":{"min_length":30}},` +
				`{"type":"missing","loc":["body","payment","billing_address"],"msg":"Field required","input":{"method":"card"}}]}`},
		},
	}
}

func benchCapture(b *testing.B, cfg Config) {
	r := mustNew(b, cfg)
	base := capture422()
	b.SetBytes(int64(len(base.Request.Body.Text)))
	b.ReportAllocs()
	for b.Loop() {
		c := base
		c.Request.Headers = append([]capture.Field(nil), base.Request.Headers...)
		c.Request.Cookies = append([]capture.Field(nil), base.Request.Cookies...)
		c.Response.Headers = append([]capture.Field(nil), base.Response.Headers...)
		r.Capture(&c)
	}
}

func BenchmarkCapture422(b *testing.B) { benchCapture(b, Config{}) }

func BenchmarkCapture422Fingerprint(b *testing.B) {
	benchCapture(b, Config{FingerprintKey: []byte("0123456789abcdef")})
}

// BenchmarkCapture422Copy is the cost of the copies the benchmarks above
// make each round, to subtract from them.
func BenchmarkCapture422Copy(b *testing.B) {
	base := capture422()
	b.ReportAllocs()
	for b.Loop() {
		c := base
		c.Request.Headers = append([]capture.Field(nil), base.Request.Headers...)
		c.Request.Cookies = append([]capture.Field(nil), base.Request.Cookies...)
		c.Response.Headers = append([]capture.Field(nil), base.Response.Headers...)
		_ = c
	}
}

func BenchmarkURL(b *testing.B) {
	r := mustNew(b, Config{})
	for _, u := range []string{"/api/v1/orders/42", "/api/v1/orders?dry_run=false&source=web", "/login?next=%2Fhome&password=hunter2"} {
		b.Run(u, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = r.URL(u)
			}
		})
	}
}

// TestLinearTime feeds inputs built to trip quadratic scans. Each is
// 256 KiB; a quadratic pass over it takes far longer than the bound.
func TestLinearTime(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	r := mustNew(t, Config{FingerprintKey: []byte("0123456789abcdef")})
	const n = 256 << 10
	rep := func(s string) string { return strings.Repeat(s, n/len(s)) }
	inputs := map[string]string{
		"eyJ":           rep("eyJ"),
		"eyJ dots":      rep("eyJa."),
		"pem":           rep("-----BEGIN x"),
		"sk-":           rep("sk-"),
		"assignments":   rep("password=x "),
		"unclosed":      "password=\"" + rep("a"),
		"brackets":      rep("["),
		"objects":       rep(`{"input":`),
		"inputs":        "{" + rep(`"input":1,`) + `"loc":["password"]}`,
		"escapes":       `"` + rep(`\u0041`),
		"userinfo":      rep("a://b:c"),
		"bearer":        rep("Bearer "),
		"markers":       rep("token=[REDACTED]"),
		"form":          rep("token=1&"),
		"percent":       rep("%41"),
		"multipart":     "--b\r\n" + rep("Content-Disposition: form-data; name=\"password\"\r\n\r\nx\r\n--b\r\n"),
		"deep objects":  rep(`{"a":`),
		"cut key shape": rep("AKIA0123 "),
	}
	for name, in := range inputs {
		for _, ct := range []string{"application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b"} {
			start := time.Now()
			c := capture.Capture{Request: capture.Request{URL: "/?" + in, Body: capture.Body{Text: in, ContentType: ct}}}
			r.Capture(&c)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("%s as %s: %v", name, ct, d)
			}
		}
	}
}
