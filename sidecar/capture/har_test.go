package capture

import (
	"encoding/json"
	"fmt"
	"github.com/faultline-dev/faultline/internal/golden"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHARGolden(t *testing.T) {
	s := samples()
	for _, name := range []string{"json-422", "binary-500", "get-401"} {
		t.Run(name, func(t *testing.T) {
			h := NewHAR(s[name])
			h.Log.Creator.Version = "test"
			got, err := json.MarshalIndent(h, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			validateHAR(t, got)
			golden.Assert(t, filepath.Join("testdata", name+".har"), append(got, '\n'))
		})
	}
}

func TestHARMergesOldestFirst(t *testing.T) {
	s := samples()
	h := NewHAR(s["get-401"], s["json-422"], s["binary-500"])
	b, _ := json.Marshal(h)
	validateHAR(t, b)
	var ids []string
	for _, e := range h.Log.Entries {
		ids = append(ids, e.ID)
	}
	if !slices.IsSorted(ids) || len(ids) != 3 {
		t.Errorf("entries %v, want 3 oldest first", ids)
	}
}

func TestHARContent(t *testing.T) {
	e := NewHAR(samples()["json-422"]).Log.Entries[0]
	if e.Request.URL != "http://api.example.com/items/42?verbose=1&tag=a%20b&token=[REDACTED]" {
		t.Errorf("url %q", e.Request.URL)
	}
	wantQuery := []HARNameValue{{"verbose", "1"}, {"tag", "a b"}, {"token", Placeholder}}
	if !slices.Equal(e.Request.QueryString, wantQuery) {
		t.Errorf("queryString %v, want %v", e.Request.QueryString, wantQuery)
	}
	if e.Response.Cookies[0] != (HARCookie{Name: "csrf", Value: Placeholder, Path: "/", HTTPOnly: true, Secure: true}) {
		t.Errorf("response cookie %+v", e.Response.Cookies[0])
	}
	if e.Request.PostData == nil || e.Request.PostData.MimeType != "application/json" || e.Request.BodySize != 52 {
		t.Errorf("postData %+v, bodySize %d", e.Request.PostData, e.Request.BodySize)
	}
	bin := NewHAR(samples()["binary-500"]).Log.Entries[0]
	if bin.Response.Content.Encoding != "base64" || bin.Response.Content.Size != 4 || bin.Request.PostData.Encoding != "base64" {
		t.Errorf("binary entry %+v", bin)
	}
}

// validateHAR checks the HAR 1.2 shape: the required fields of each object,
// with their JSON types, and the timings rule (time is the sum of the
// timings that are not -1).
func validateHAR(t *testing.T, data []byte) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("HAR is not JSON: %v", err)
	}
	v := &harValidator{t: t}
	log := v.object(doc, "log", "")
	v.str(log, "version", "log")
	if log["version"] != "1.2" {
		t.Errorf("log.version = %v", log["version"])
	}
	creator := v.object(log, "creator", "log")
	v.str(creator, "name", "log.creator")
	v.str(creator, "version", "log.creator")
	entries := v.array(log, "entries", "log")
	for i, raw := range entries {
		at := fmt.Sprintf("log.entries[%d]", i)
		e, ok := raw.(map[string]any)
		if !ok {
			t.Fatalf("%s is not an object", at)
		}
		started := v.str(e, "startedDateTime", at)
		if _, err := time.Parse(time.RFC3339Nano, started); err != nil {
			t.Errorf("%s.startedDateTime %q: %v", at, started, err)
		}
		total := v.num(e, "time", at)
		v.object(e, "cache", at)
		timings := v.object(e, "timings", at)
		sum := 0.0
		for _, k := range []string{"send", "wait", "receive"} {
			sum += v.num(timings, k, at+".timings")
		}
		for _, k := range []string{"blocked", "dns", "connect", "ssl"} {
			if x, ok := timings[k].(float64); ok && x != -1 {
				sum += x
			}
		}
		if diff := sum - total; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("%s: time %v but timings add up to %v", at, total, sum)
		}

		req := v.object(e, "request", at)
		at2 := at + ".request"
		v.str(req, "method", at2)
		if u := v.str(req, "url", at2); !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			t.Errorf("%s.url %q is not absolute", at2, u)
		}
		v.str(req, "httpVersion", at2)
		v.cookies(req, at2)
		v.pairs(req, "headers", at2)
		v.pairs(req, "queryString", at2)
		v.num(req, "headersSize", at2)
		v.num(req, "bodySize", at2)
		if pd, ok := req["postData"]; ok {
			p, ok := pd.(map[string]any)
			if !ok {
				t.Fatalf("%s.postData is not an object", at2)
			}
			v.str(p, "mimeType", at2+".postData")
			v.str(p, "text", at2+".postData")
		}

		resp := v.object(e, "response", at)
		at3 := at + ".response"
		v.num(resp, "status", at3)
		v.str(resp, "statusText", at3)
		v.str(resp, "httpVersion", at3)
		v.cookies(resp, at3)
		v.pairs(resp, "headers", at3)
		content := v.object(resp, "content", at3)
		v.num(content, "size", at3+".content")
		v.str(content, "mimeType", at3+".content")
		if enc, ok := content["encoding"]; ok && enc != "base64" {
			t.Errorf("%s.content.encoding %v", at3, enc)
		}
		v.str(resp, "redirectURL", at3)
		v.num(resp, "headersSize", at3)
		v.num(resp, "bodySize", at3)
	}
}

type harValidator struct{ t *testing.T }

func (v *harValidator) field(m map[string]any, k, at string) any {
	x, ok := m[k]
	if !ok {
		v.t.Fatalf("%s.%s is missing", at, k)
	}
	return x
}

func (v *harValidator) object(m map[string]any, k, at string) map[string]any {
	o, ok := v.field(m, k, at).(map[string]any)
	if !ok {
		v.t.Fatalf("%s.%s is not an object", at, k)
	}
	return o
}

func (v *harValidator) array(m map[string]any, k, at string) []any {
	a, ok := v.field(m, k, at).([]any)
	if !ok {
		v.t.Fatalf("%s.%s is not an array", at, k)
	}
	return a
}

func (v *harValidator) str(m map[string]any, k, at string) string {
	s, ok := v.field(m, k, at).(string)
	if !ok {
		v.t.Fatalf("%s.%s is not a string", at, k)
	}
	return s
}

func (v *harValidator) num(m map[string]any, k, at string) float64 {
	n, ok := v.field(m, k, at).(float64)
	if !ok {
		v.t.Fatalf("%s.%s is not a number", at, k)
	}
	return n
}

func (v *harValidator) pairs(m map[string]any, k, at string) {
	for i, x := range v.array(m, k, at) {
		p, ok := x.(map[string]any)
		if !ok {
			v.t.Fatalf("%s.%s[%d] is not an object", at, k, i)
		}
		v.str(p, "name", fmt.Sprintf("%s.%s[%d]", at, k, i))
		v.str(p, "value", fmt.Sprintf("%s.%s[%d]", at, k, i))
	}
}

func (v *harValidator) cookies(m map[string]any, at string) { v.pairs(m, "cookies", at) }
