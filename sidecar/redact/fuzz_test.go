package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

// The fuzz tests build captures from the fuzzer's bytes, plant secrets
// where the rules say they must be removed, and check that none of them,
// in any encoding, is left anywhere in the redacted capture.

// views returns s and what a reader could decode it to. The decoders
// are the test's own, not the package's.
func views(s string) []string {
	j := jsonUnescapeAll(s)
	return []string{s, pctDecode(s, true), pctDecode(s, false), j, pctDecode(j, true), pctDecode(j, false)}
}

// pctDecode decodes every valid %XX (and '+' with plus), keeping the rest.
func pctDecode(s string, plus bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%' && i+2 < len(s):
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
			b.WriteByte(c)
		case c == '+' && plus:
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// jsonUnescapeAll decodes JSON escapes anywhere in s, quotes or not.
func jsonUnescapeAll(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'u':
			if i+5 <= len(s) {
				if r, err := strconv.ParseUint(s[i+1:i+5], 16, 16); err == nil {
					b.WriteRune(rune(r))
					i += 4
					continue
				}
			}
			b.WriteString(`\u`)
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// encodings returns the forms of secret searched in the marshalled
// capture; with partial, also the base64 of its parts (a body cut inside a
// secret still holds them).
func encodings(secret string, partial bool) []string {
	js, _ := json.Marshal(secret)
	out := []string{secret, string(js[1 : len(js)-1]), url.QueryEscape(secret), url.PathEscape(secret)}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
		out = append(out, enc.EncodeToString([]byte(secret)))
		if !partial {
			continue
		}
		// Inside a longer base64 text the secret may start at any of three
		// offsets; keep the characters that depend on the secret alone.
		for k := 1; k < 3; k++ {
			e := enc.EncodeToString(append(make([]byte, k), secret...))
			from := (k*4 + 2) / 3
			from = (from + 3) / 4 * 4
			to := (k + len(secret)) / 3 * 4
			if to-from >= 12 {
				out = append(out, e[from:to])
			}
		}
	}
	return out
}

// findLeak returns a description of the first planted secret that
// survived in c, or "".
func findLeak(c *capture.Capture, plants []plant) string {
	js, err := json.Marshal(c)
	if err != nil {
		return "marshal: " + err.Error()
	}
	var all []string
	for _, s := range texts(c) {
		all = append(all, views(s)...)
	}
	for _, p := range plants {
		for _, e := range encodings(p.secret, p.prefix) {
			if bytes.Contains(js, []byte(e)) {
				return fmt.Sprintf("%s: %q survived as %q", p.desc, p.secret, e)
			}
		}
		needle := p.secret
		if p.prefix && len(needle) > 10 {
			needle = needle[:10]
		}
		for _, v := range all {
			if strings.Contains(v, needle) {
				return fmt.Sprintf("%s: %q survived (as %q) in %q", p.desc, p.secret, needle, v)
			}
		}
	}
	return ""
}

var fuzzRedactors = func() []*Redactor {
	var rs []*Redactor
	for _, fc := range fuzzConfigs {
		r, err := New(fc.cfg)
		if err != nil {
			panic(err)
		}
		rs = append(rs, r)
	}
	return rs
}()

// FuzzNoSecretSurvives plants secrets in generated captures and checks
// that none survives redaction, raw or encoded.
func FuzzNoSecretSurvives(f *testing.F) {
	for _, seed := range []string{
		"", "\x01", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
		"\x03\x02\x01\x00\x00\x00\x02\x01\x00\x00\x00\x00\x01\x01\x02\x00\x00\x03\x00\x01\x00\x02\x02",
		"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0",
		strings.Repeat("\x01\x02\x00", 40), strings.Repeat("\x05\x03\x07\x02", 60),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{b: data}
		k := g.intn(len(fuzzConfigs))
		w := &world{g: g, cfg: fuzzConfigs[k]}
		c := w.capture()
		before := dump(c)
		fuzzRedactors[k].Capture(c)
		if leak := findLeak(c, w.plants); leak != "" {
			t.Fatalf("config %d: %s\n--- before:\n%s\n--- after:\n%s", k, leak, before, dump(c))
		}
	})
}

// FuzzCaptureArbitrary feeds arbitrary strings to every place of a
// capture: Capture must not panic, base64 bodies must stay base64, and a
// second pass must change nothing.
func FuzzCaptureArbitrary(f *testing.F) {
	f.Add("/login?password=x&q=1", "Bearer abcdefgh12345678", "sessionid=abc; theme=dark", `{"password":"x","a":[1,{"token":"y"}]}`, "application/json", uint8(0))
	f.Add("/x;jsessionid=1#a", "password=x", "a", "--b\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nx\r\n--b--", "multipart/form-data; boundary=b", uint8(1))
	f.Add("http://u:p@h/?a=%zz", "eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2ln", "x=\"y\"", "password=a&token=b", "", uint8(6))
	f.Add("", "", "", `{"a": {"b": [1, 2, {"pass\u0077ord": "x`, "text/json", uint8(2))
	f.Add("/", "Basic dXNlcjpwYXNz", "", "-----BEGIN PRIVATE KEY-----\nabc", "text/plain", uint8(3))
	f.Fuzz(func(t *testing.T, u, hv, cookie, body, ct string, flags uint8) {
		r := fuzzRedactors[int(flags>>4)%len(fuzzRedactors)]
		c := &capture.Capture{
			Request: capture.Request{
				URL: u,
				Headers: []capture.Field{
					{Name: "Authorization", Value: hv}, {Name: "X-Any", Value: hv}, {Name: "Cookie", Value: cookie},
					{Name: "Referer", Value: u}, {Name: hv, Value: body},
				},
				Cookies: []capture.Field{{Name: hv, Value: cookie}},
				Body:    capture.Body{Text: body, ContentType: ct, Truncated: flags&1 == 1},
			},
			Response: capture.Response{
				Headers: []capture.Field{{Name: "Set-Cookie", Value: cookie}, {Name: "Location", Value: hv}},
				Body:    capture.Body{Text: body, ContentType: ct},
			},
		}
		if flags&2 == 2 {
			c.Request.Body.Text, c.Request.Body.Base64 = base64.StdEncoding.EncodeToString([]byte(body)), true
		}
		if flags&4 == 4 {
			c.Response.Body.Text, c.Response.Body.Base64 = body, true // maybe not base64 at all
		}
		r.Capture(c)
		for _, b := range []capture.Body{c.Request.Body, c.Response.Body} {
			if b.Base64 {
				if _, err := base64.StdEncoding.DecodeString(b.Text); err != nil {
					t.Fatalf("base64 body no longer decodes: %v", err)
				}
			}
		}
		for _, x := range c.Redacted {
			if x.Where == "" {
				t.Fatalf("redaction without a place: %+v", x)
			}
		}
		again := *c
		again.Request.Headers = append([]capture.Field(nil), c.Request.Headers...)
		again.Request.Cookies = append([]capture.Field(nil), c.Request.Cookies...)
		again.Response.Headers = append([]capture.Field(nil), c.Response.Headers...)
		again.Redacted = append([]capture.Redaction(nil), c.Redacted...)
		r.Capture(&again)
		if !reflect.DeepEqual(&again, c) {
			t.Fatalf("second pass changed the capture:\n%s\n---\n%s", dump(c), dump(&again))
		}
	})
}

// FuzzPatternInContext puts one pattern-shaped secret between arbitrary
// texts and checks that the scan removes it whatever surrounds it.
func FuzzPatternInContext(f *testing.F) {
	f.Add("before ", " after", uint8(0), []byte("0123456789abcdefghij"))
	f.Add(`{"a": "`, `"}`, uint8(1), []byte("tok"))
	f.Add("password=", "", uint8(2), []byte{})
	f.Add("\\\"", "&x=1", uint8(3), []byte("\xff\x00"))
	f.Add("-----BEGIN RSA PRIVATE KEY-----", "-----END", uint8(4), []byte("k"))
	f.Fuzz(func(t *testing.T, before, after string, kind uint8, seed []byte) {
		g := &gen{b: seed}
		w := &world{g: g}
		var tok string
		switch kind % 5 {
		case 0:
			tok = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0." + w.plant(base64.RawURLEncoding.EncodeToString(append([]byte("sig"), seed...)), false, "jwt signature")
		case 1:
			tok = "Bearer " + w.plant(g.secret(token68), false, "bearer")
		case 2:
			tok = "Basic " + w.plant(base64.StdEncoding.EncodeToString([]byte("u:"+g.secret(anyPrintable))), false, "basic")
		case 3:
			tok = "sk_live_" + w.plant(g.secret(alnum), false, "stripe")
		case 4:
			tok = "token=" + w.plant(g.secret(bareSafe), false, "assignment")
		}
		sep := pick(g, []string{" ", "\n", "\t", ": ", "\"", "'", "(", ", "})
		text := before + sep + tok + pick(g, []string{" ", "\n", "\"", ")", ",", ""}) + after
		r := fuzzRedactors[0]
		for _, ct := range []string{"text/plain", "application/json", "application/x-www-form-urlencoded"} {
			out := r.bodyText(text, ct, nil, capture.WhereRequestBody, "", 0)
			if strings.Contains(out, w.plants[0].secret) {
				t.Fatalf("%s (%s) survived in %q", w.plants[0].desc, ct, out)
			}
		}
		if out := r.scrub(text, &r.fields, nil, place{where: capture.WhereRequestHeader}); strings.Contains(out, w.plants[0].secret) {
			t.Fatalf("%s survived the header scan: %q", w.plants[0].desc, out)
		}
	})
}

var (
	randomCaptures = flag.Int("redact.random", 3000, "captures generated by TestNoSecretSurvivesRandom")
	randomSeed     = flag.Uint64("redact.seed", 1, "seed of TestNoSecretSurvivesRandom")
)

// TestNoSecretSurvivesRandom runs the planted-secret check on random
// bytes, which reach deeper into the generator than the fuzzer's first
// mutations do.
func TestNoSecretSurvivesRandom(t *testing.T) {
	n := *randomCaptures
	if testing.Short() {
		n = 300
	}
	rng := rand.New(rand.NewPCG(*randomSeed, 2))
	kinds := map[string]int{}
	for i := range n {
		data := make([]byte, 64+rng.IntN(2048))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		g := &gen{b: data}
		k := g.intn(len(fuzzConfigs))
		w := &world{g: g, cfg: fuzzConfigs[k]}
		c := w.capture()
		before := dump(c)
		fuzzRedactors[k].Capture(c)
		if leak := findLeak(c, w.plants); leak != "" {
			t.Fatalf("case %d, config %d: %s\n--- before:\n%s\n--- after:\n%s", i, k, leak, before, dump(c))
		}
		for _, p := range w.plants {
			f := strings.Fields(p.desc)
			kinds[f[0]]++
		}
	}
	t.Logf("%d captures, secrets planted by place: %v", n, kinds)
}
