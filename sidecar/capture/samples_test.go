package capture

import (
	"encoding/base64"
	"time"
)

var sampleTime = time.Date(2025, 3, 1, 12, 0, 0, 250_000_000, time.UTC)

// samples are captures as the proxy and the redactor leave them.
func samples() map[string]*Capture {
	bin := []byte{0x89, 'P', 'N', 'G', 0, 1, 2, '\'', '%', '\\', 0xff, '\n'}
	return map[string]*Capture{
		"json-422": {
			ID: "01JNE5XKQ00000000000000001", Time: sampleTime, DurationMS: 12.5,
			TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Route: "/items/{item_id}",
			Request: Request{
				Method: "POST", URL: "/items/42?verbose=1&tag=a%20b&token=" + Placeholder, Host: "api.example.com", Scheme: "http", Proto: "HTTP/1.1",
				Headers: []Field{
					{"Content-Type", "application/json"},
					{"Authorization", Placeholder},
					{"Cookie", "session=" + Placeholder + "; theme=dark"},
					{"X-Quote", `it's "quoted" $(rm -rf /) ` + "`id`"},
					{"Content-Length", "52"},
				},
				Cookies: []Field{{"session", Placeholder}, {"theme", "dark"}},
				Body:    Body{Text: `{"name":"widget","price":"cheap","password":"` + Placeholder + `"}`, Size: 52, ContentType: "application/json"},
			},
			Response: Response{
				Status: 422,
				Headers: []Field{
					{"Content-Type", "application/json"},
					{"Set-Cookie", "csrf=" + Placeholder + "; Path=/; HttpOnly; Secure"},
				},
				Body: Body{Text: `{"detail":[{"loc":["body","price"],"msg":"Input should be a valid number","type":"float_parsing"}]}`, ContentType: "application/json"},
			},
			Redacted: []Redaction{
				{Where: WhereRequestHeader, Name: "Authorization"},
				{Where: WhereRequestCookie, Name: "session"},
				{Where: WhereRequestQuery, Name: "token"},
				{Where: WhereRequestBody, Name: "password"},
				{Where: WhereResponseCookie, Name: "csrf"},
			},
		},
		"binary-500": {
			ID: "01JNE5XKQ00000000000000002", Time: sampleTime.Add(time.Second), DurationMS: 30001,
			Route: "/upload",
			Request: Request{
				Method: "PUT", URL: "/upload?name=@etc/passwd", Host: "127.0.0.1:8080",
				Headers: []Field{{"Content-Type", "image/png"}},
				Body:    Body{Text: base64.StdEncoding.EncodeToString(bin), Base64: true, Size: 70000, Truncated: true, ContentType: "image/png"},
			},
			Response: Response{
				Status:  500,
				Headers: []Field{{"Content-Type", "application/octet-stream"}},
				Body:    Body{Text: base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 3}), Base64: true},
			},
			Redacted: []Redaction{},
		},
		"get-401": {
			ID: "01JNE5XKQ00000000000000003", Time: sampleTime.Add(2 * time.Second), DurationMS: 0.8,
			Route: "/me",
			Request: Request{
				Method: "GET", URL: "/me/[1]/{x}?q=a b#frag", Host: "evil.example/../x", Scheme: "https",
				Headers: []Field{{"Accept", "*/*"}, {"X-Empty", ""}, {"X-Injected", "a\r\nX-Evil: 1"}, {"Bad Name", "v"}, {"@/etc/passwd", "v"}},
				Cookies: []Field{{"a", "1"}, {"b", "2"}},
			},
			Response: Response{
				Status:  401,
				Headers: []Field{{"WWW-Authenticate", `Bearer realm="api"`}, {"Location", "/login"}},
				Body:    Body{Text: `{"detail":"Not authenticated"}`},
			},
		},
		"head-text-with-at": {
			ID: "01JNE5XKQ00000000000000004", Time: sampleTime.Add(3 * time.Second),
			Route: "/form",
			Request: Request{
				Method: "POST", URL: "/form", Host: "localhost:8000",
				Body: Body{Text: "@/etc/passwd\nline 2\twith tab"},
			},
			Response: Response{Status: 503},
		},
	}
}
