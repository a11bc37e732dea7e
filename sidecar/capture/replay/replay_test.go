package replay

import (
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

func captured() *capture.Capture {
	return &capture.Capture{
		ID: "01JNE5XKQ00000000000000001", Route: "/items/{id}",
		Request: capture.Request{
			Method: "POST", URL: "/items/a%2Fb?token=" + capture.Placeholder + "&keep=1%202", Host: "api.example.com",
			Headers: []capture.Field{
				{Name: "Content-Type", Value: "application/json"},
				{Name: "Authorization", Value: capture.Placeholder},
				{Name: "Cookie", Value: "session=" + capture.Placeholder},
				{Name: "Content-Length", Value: "999"},
				{Name: "Accept-Encoding", Value: "gzip"},
				{Name: "X-Trace", Value: "1"},
			},
			Body: capture.Body{Text: `{"user":{"name":"ann","password":"[REDACTED]"},"items":[{"token":"[REDACTED]"}]}`},
		},
		Response: capture.Response{Status: 422},
		Redacted: []capture.Redaction{
			{Where: capture.WhereRequestHeader, Name: "Authorization"},
			{Where: capture.WhereRequestCookie, Name: "session"},
			{Where: capture.WhereRequestQuery, Name: "token"},
			{Where: capture.WhereRequestBody, Name: "user.password"},
			{Where: capture.WhereRequestBody, Name: "items[0].token"},
			{Where: capture.WhereResponseHeader, Name: "Set-Cookie"},
		},
	}
}

func TestNewRequest(t *testing.T) {
	to, _ := url.Parse("http://localhost:8000/base/")
	tests := []struct {
		name         string
		headers      []string
		fields       []string
		wantURL      string
		wantBody     string
		wantHeaders  map[string]string
		wantWarnings []string // substrings, one warning each, in order
	}{
		{
			name:     "nothing set",
			wantURL:  "http://localhost:8000/base/items/a%2Fb?token=" + capture.Placeholder + "&keep=1%202",
			wantBody: captured().Request.Body.Text,
			wantHeaders: map[string]string{"Authorization": capture.Placeholder, "X-Trace": "1",
				"Content-Length": "", "Accept-Encoding": ""},
			wantWarnings: []string{"Authorization is still", "session is still", "token is still", "user.password is still", "items[0].token is still"},
		},
		{
			name:        "everything set",
			headers:     []string{"Authorization: Bearer real", "cookie: session=abc"},
			fields:      []string{"token=q t", "user.password=hunter2", "items.0.token:=42"},
			wantURL:     "http://localhost:8000/base/items/a%2Fb?token=q+t&keep=1%202",
			wantBody:    `{"items":[{"token":42}],"user":{"name":"ann","password":"hunter2"}}`,
			wantHeaders: map[string]string{"Authorization": "Bearer real", "Cookie": "session=abc"},
		},
		{
			name:         "a field that matches nothing",
			headers:      []string{"Authorization: x", "Cookie: session=abc"},
			fields:       []string{"token=1", "user.password=2", "items[0].token=3", "nope=1"},
			wantURL:      "http://localhost:8000/base/items/a%2Fb?token=1&keep=1%202",
			wantBody:     `{"items":[{"token":"3"}],"user":{"name":"ann","password":"2"}}`,
			wantWarnings: []string{"--set-field nope matched no"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{To: to}
			for _, h := range tt.headers {
				f, err := ParseSetHeader(h)
				if err != nil {
					t.Fatal(err)
				}
				opts.SetHeaders = append(opts.SetHeaders, f)
			}
			for _, s := range tt.fields {
				f, err := ParseSetField(s)
				if err != nil {
					t.Fatal(err)
				}
				opts.SetFields = append(opts.SetFields, f)
			}
			req, warnings, err := NewRequest(captured(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if req.Method != "POST" || req.URL.String() != tt.wantURL {
				t.Errorf("%s %s, want POST %s", req.Method, req.URL, tt.wantURL)
			}
			body, _ := io.ReadAll(req.Body)
			if string(body) != tt.wantBody || req.ContentLength != int64(len(body)) {
				t.Errorf("body %s (length %d), want %s", body, req.ContentLength, tt.wantBody)
			}
			for k, v := range tt.wantHeaders {
				if got := req.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if len(req.Header.Values("Authorization")) > 1 {
				t.Error("a set header was added beside the captured one")
			}
			if len(warnings) != len(tt.wantWarnings) {
				t.Fatalf("warnings %q, want %d", warnings, len(tt.wantWarnings))
			}
			for i, w := range tt.wantWarnings {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %q, want %q", warnings[i], w)
				}
			}
		})
	}
}

func TestFormAndTruncatedBody(t *testing.T) {
	c := &capture.Capture{Request: capture.Request{
		Method: "POST", URL: "http://proxy.example/login",
		Headers: []capture.Field{{Name: "Content-Type", Value: "application/x-www-form-urlencoded"}},
		Cookies: []capture.Field{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}},
		Body:    capture.Body{Text: "user=ann&password=%5BREDACTED%5D&x=%20", Truncated: true, Size: 100},
	}}
	to, _ := url.Parse("http://dev:1")
	pw, _ := ParseSetField("password=p&w")
	req, warnings, err := NewRequest(c, Options{To: to, SetFields: []Field{pw}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	if string(body) != "user=ann&password=p%26w&x=%20" {
		t.Errorf("body %s", body)
	}
	if req.URL.String() != "http://dev:1/login" || req.Header.Get("Cookie") != "a=1; b=2" {
		t.Errorf("url %s cookie %q", req.URL, req.Header.Get("Cookie"))
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "truncated") {
		t.Errorf("warnings %q", warnings)
	}
}

func TestParseErrors(t *testing.T) {
	for _, s := range []string{"NoColon", ": v", "Bad Name: v", "X: a\nb"} {
		if _, err := ParseSetHeader(s); err == nil {
			t.Errorf("ParseSetHeader(%q) accepted", s)
		}
	}
	for _, s := range []string{"novalue", "=v", ":=1", "a:={bad"} {
		if _, err := ParseSetField(s); err == nil {
			t.Errorf("ParseSetField(%q) accepted", s)
		}
	}
	f, err := ParseSetField("a.b=x=y")
	if err != nil || f != (Field{Path: "a.b", Value: "x=y"}) {
		t.Errorf("ParseSetField = %+v, %v", f, err)
	}
}
