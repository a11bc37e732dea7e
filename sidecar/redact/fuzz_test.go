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
	"unicode/utf8"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

// The fuzz tests build captures from the fuzzer's bytes, plant secrets
// where the rules say they must be removed, and check that none of them,
// in any encoding, is left anywhere in the redacted capture.

// gen draws choices from fuzz bytes; past the end it draws zeros.
type gen struct {
	b []byte
	i int
	n int // planted secrets so far, to keep them distinct
}

func (g *gen) next() byte {
	if g.i >= len(g.b) {
		return 0
	}
	c := g.b[g.i]
	g.i++
	return c
}

func (g *gen) intn(n int) int {
	if n <= 1 {
		return 0
	}
	if n > 256 {
		return (int(g.next())<<8 | int(g.next())) % n
	}
	return int(g.next()) % n
}

func (g *gen) coin() bool { return g.next()&1 == 1 }

func pick[T any](g *gen, xs []T) T { return xs[g.intn(len(xs))] }

const (
	alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	// bareSafe can follow "name=" in free text: no delimiter, no space.
	bareSafe = alnum + "-._~+/=!*@:$^%"
	// cookieSafe are RFC 6265 cookie-octets.
	cookieSafe = alnum + "!#$%&'()*+-./:<=>?@[]^_`{|}~"
	// anyPrintable is everything a JSON, form or query value may carry
	// once encoded.
	anyPrintable = alnum + " -._~+/=!*@:$^%&#?,;'\"\\()[]{}<>|`"
	token68      = alnum + "-._~+/"
)

// secret returns a distinct, high-entropy string of 16 to 40 bytes from
// alphabet: a digit and an upper-case letter lead, a counter follows.
func (g *gen) secret(alphabet string) string {
	g.n++
	var b strings.Builder
	b.WriteByte(alnum[g.intn(26)])
	b.WriteString(strconv.Itoa(g.n))
	b.WriteByte('Q')
	for n := 14 + g.intn(26); n > 0; n-- {
		b.WriteByte(alphabet[g.intn(len(alphabet))])
	}
	return b.String()
}

func (g *gen) digits() string {
	g.n++
	var b strings.Builder
	b.WriteString("4" + strconv.Itoa(1000+g.n))
	for n := 8 + g.intn(8); n > 0; n-- {
		b.WriteByte('0' + byte(g.intn(10)))
	}
	return b.String()
}

// plant is a secret that must not survive, and whether its first bytes
// must not survive either (values under sensitive names, which a cut body
// may hold only in part).
type plant struct {
	secret string
	prefix bool
	desc   string
}

type world struct {
	g      *gen
	cfg    fuzzConfig
	plants []plant
}

func (w *world) plant(secret string, prefix bool, desc string) string {
	w.plants = append(w.plants, plant{secret, prefix, desc})
	return secret
}

type fuzzConfig struct {
	cfg         Config
	fields      []string // extra sensitive field names
	headers     []string // extra sensitive header names
	query       []string // extra query names
	cookies     []string // extra cookie names
	allCookies  bool
	allSetCooks bool
}

var fuzzConfigs = []fuzzConfig{
	{},
	{
		cfg:    Config{Headers: []string{"X-Tenant-Key"}, Fields: []string{"dob", "pin_code"}, Query: []string{"otp"}, AuthCookies: []string{"remember_me"}},
		fields: []string{"dob", "pin_code"}, headers: []string{"X-Tenant-Key"}, query: []string{"otp"}, cookies: []string{"remember_me"},
	},
	{
		cfg:        Config{Headers: []string{"Cookie", "Set-Cookie"}, FingerprintKey: []byte("fuzz-fingerprint-key")},
		allCookies: true, allSetCooks: true,
	},
	{
		cfg:    Config{Fields: []string{"pin_code"}, FingerprintKey: []byte("fuzz-fingerprint-key")},
		fields: []string{"pin_code"},
	},
}

var (
	harmlessNames   = []string{"name", "email", "q", "page", "lang", "id", "note", "message", "items", "count", "city", "comment", "title", "description"}
	harmlessHeaders = []string{"X-Request-Id", "User-Agent", "X-Debug", "X-Trace", "Accept", "X-Note", "Content-Language"}
	harmlessCookies = []string{"theme", "lang", "_ga", "consent", "prefs"}
	harmlessWords   = []string{"hello", "bob", "42", "red shoes", "a&b=c", "ünïcode", "", "x y", "100%", "/home", "true"}
	exactHeaders    = []string{"Authorization", "Proxy-Authorization", "X-Api-Key", "X-Auth-Token", "X-Csrf-Token", "X-Amz-Security-Token"}
	sessionCookies  = []string{"session", "sessionid", "PHPSESSID", "connect.sid", "sid", "auth", "jwt", "csrftoken", "_csrf", "XSRF-TOKEN", "laravel_session", "next-auth.session-token"}
	queryExtras     = []string{"sessionid", "X-Amz-Signature", "sig", "jsessionid"}
)

// sensitiveName returns a name matching the field rules, in one of the
// spellings users write.
func (w *world) sensitiveName() string {
	g := w.g
	base := pick(g, append(append([]string(nil), builtinFields...), w.cfg.fields...))
	switch g.intn(4) {
	case 1:
		base = strings.ToUpper(base)
	case 2: // camel: userPassword, clientSecret
		parts := strings.Split(base, "_")
		for i := range parts {
			if i > 0 && parts[i] != "" {
				parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
			}
		}
		base = strings.Join(parts, "")
	case 3:
		base = strings.ReplaceAll(base, "_", "-")
	}
	pre := pick(g, []string{"", "", "user_", "new-", "X-", "my", "stripe_", "user["})
	suf := pick(g, []string{"", "", "_confirm", "Hash", "2", "_v1"})
	if pre == "user[" {
		suf += "]"
	}
	return pre + base + suf
}

// pattern returns text carrying a secret that only the pattern rules can
// find, and plants that secret.
func (w *world) pattern(where string) string {
	g := w.g
	var text string
	switch g.intn(9) {
	case 0:
		text = w.jwt(where)
	case 7: // a JSON document inside a string: a log line, an error message
		text = `{"a": 1, ` + w.jsonString(w.sensitiveName()) + `: ` + w.jsonString(w.plant(g.secret(anyPrintable), true, where+" embedded json")) + `}`
	case 1:
		tok := w.plant(g.secret(token68)+pick(g, []string{"", "=", "=="}), false, where+" bearer")
		text = pick(g, []string{"Bearer ", "bearer ", "BEARER  "}) + tok
	case 2:
		creds := base64.StdEncoding.EncodeToString([]byte("user:" + g.secret(anyPrintable)))
		text = "Basic " + w.plant(creds, false, where+" basic")
	case 3:
		text = pick(g, []string{"sk_live_", "AKIA", "ghp_", "sk-proj-", "xoxb-", "glpat-"})
		s := g.secret(alnum)
		if text == "AKIA" {
			s = strings.ToUpper(s)[:16]
		} else {
			s += "0123456789abcdefghij" // real keys are 20 to 90 bytes long
		}
		text += w.plant(s, false, where+" key shape")
	case 4:
		text = "postgres://app:" + w.plant(g.secret(alnum), false, where+" userinfo") + "@db:5432/app"
	case 5:
		text = "-----BEGIN PRIVATE KEY-----\n" + w.plant(g.secret(alnum+"+/"), false, where+" pem") + "\n-----END PRIVATE KEY-----"
	default: // an assignment in free text
		text = w.sensitiveName() + pick(g, []string{"=", ": ", " = ", "=>"}) + w.plant(g.secret(bareSafe), true, where+" assignment")
	}
	pre := pick(g, []string{"", "see ", "x: ", "(", "[", "err="})
	post := pick(g, []string{"", " ok", ")", "\n", ", then"})
	return pre + text + post
}

// jwt returns a planted JWT.
func (w *world) jwt(where string) string {
	sig := base64.RawURLEncoding.EncodeToString([]byte(w.g.secret(anyPrintable)))
	payload := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"sub":"%d"}`, w.g.intn(1000))))
	return w.plant("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."+payload+"."+sig, false, where+" jwt")
}

// harmlessName returns a harmless name, or now and then a name that is a
// token itself.
func (w *world) harmlessName(names []string, where string) string {
	if w.g.intn(8) == 0 {
		return w.jwt(where + " name")
	}
	return pick(w.g, names)
}

// harmless returns a value under a harmless name: words or a pattern.
func (w *world) harmless(where string) string {
	if w.g.intn(3) == 0 {
		return w.pattern(where)
	}
	return pick(w.g, harmlessWords)
}

// jsonString encodes s as a JSON string, escaping some bytes needlessly
// the way other encoders do.
func (w *world) jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r == '/' && w.g.intn(4) == 0:
			b.WriteString(`\/`)
		case w.g.intn(12) == 0:
			if r > 0xffff {
				b.WriteRune(r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func (w *world) ws() string { return pick(w.g, []string{"", "", " ", "\n  "}) }

// jsonValue returns a JSON document with secrets under sensitive keys and
// patterns under harmless ones.
func (w *world) jsonValue(depth int, path string) string {
	g := w.g
	if depth > 3 {
		return w.jsonString(pick(g, harmlessWords))
	}
	switch g.intn(5) {
	case 0, 1, 2:
		var b strings.Builder
		b.WriteString("{" + w.ws())
		for i, n := 0, g.intn(5); i < n; i++ {
			if i > 0 {
				b.WriteString("," + w.ws())
			}
			if g.intn(3) == 0 {
				name := w.sensitiveName()
				b.WriteString(w.jsonString(name) + w.ws() + ":" + w.ws())
				b.WriteString(w.sensitiveJSON(path + "." + name))
			} else {
				name := w.harmlessName(harmlessNames, "json key")
				b.WriteString(w.jsonString(name) + ":" + w.ws())
				b.WriteString(w.jsonValue(depth+1, path+"."+name))
			}
		}
		b.WriteString(w.ws() + "}")
		return b.String()
	case 3:
		var b strings.Builder
		b.WriteString("[")
		for i, n := 0, g.intn(4); i < n; i++ {
			if i > 0 {
				b.WriteString("," + w.ws())
			}
			b.WriteString(w.jsonValue(depth+1, fmt.Sprintf("%s[%d]", path, i)))
		}
		b.WriteString("]")
		return b.String()
	}
	if g.coin() {
		return strconv.Itoa(g.intn(1000))
	}
	return w.jsonString(w.harmless("json " + path))
}

// sensitiveJSON returns a value under a sensitive key.
func (w *world) sensitiveJSON(path string) string {
	g := w.g
	switch g.intn(5) {
	case 0:
		return w.plant(g.digits(), true, "json number "+path)
	case 1:
		return `{"k":` + w.jsonString(w.plant(g.secret(anyPrintable), true, "json object "+path)) + `,"n":[1,{"x":` +
			w.jsonString(w.plant(g.secret(anyPrintable), true, "json object "+path)) + `}]}`
	case 2:
		return "[" + w.jsonString(w.plant(g.secret(anyPrintable), true, "json array "+path)) + "]"
	}
	return w.jsonString(w.plant(g.secret(anyPrintable), true, "json "+path))
}

// encodeQuery percent-encodes s as a client might: url.QueryEscape, or
// every byte, or '+' and '%20' for spaces.
func (w *world) encodeQuery(s string) string {
	switch w.g.intn(3) {
	case 0:
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if isAlnum(s[i]) && w.g.coin() {
				b.WriteByte(s[i])
			} else {
				fmt.Fprintf(&b, "%%%02X", s[i])
			}
		}
		return b.String()
	case 1:
		return strings.ReplaceAll(url.PathEscape(s), "&", "%26")
	}
	return url.QueryEscape(s)
}

// queryString returns "a=1&b=2" with planted secrets.
func (w *world) queryString(where string, extra []string) string {
	g := w.g
	var pairs []string
	for i, n := 0, g.intn(5); i < n; i++ {
		switch g.intn(3) {
		case 0:
			name := w.sensitiveName()
			if len(extra) > 0 && g.coin() {
				name = pick(g, extra)
			}
			pairs = append(pairs, w.encodeQuery(name)+"="+w.encodeQuery(w.plant(g.secret(anyPrintable), true, where+" "+name)))
		default:
			name := w.harmlessName(harmlessNames, where)
			pairs = append(pairs, w.encodeQuery(name)+"="+w.encodeQuery(w.harmless(where+" "+name)))
		}
	}
	if g.intn(4) == 0 {
		pairs = append(pairs, "flag")
	}
	return strings.Join(pairs, "&")
}

func (w *world) cookiePair(where string, sensitiveNames []string) (string, string) {
	g := w.g
	if w.cfg.allCookies && where == "cookie" || g.intn(3) == 0 {
		var name string
		switch {
		case w.cfg.allCookies && where == "cookie" && g.coin():
			name = pick(g, harmlessCookies)
		case g.coin():
			name = pick(g, sensitiveNames)
		default:
			name = strings.NewReplacer("[", "", "]", "").Replace(w.sensitiveName())
		}
		v := w.plant(g.secret(cookieSafe), true, where+" "+name)
		if g.intn(4) == 0 {
			v = `"` + v + `"`
		}
		return name, v
	}
	name := w.harmlessName(harmlessCookies, where)
	v := w.harmless(where + " " + name)
	// A cookie value cannot hold spaces, quotes, commas or semicolons:
	// clients percent-encode them.
	return name, strings.NewReplacer("%", "%25", " ", "%20", `"`, "%22", ",", "%2C", ";", "%3B", "\\", "%5C", "\n", "%0A").Replace(v)
}

// body returns a body, its content type, and plants its secrets.
func (w *world) body(where string) capture.Body {
	g := w.g
	var text, ct string
	switch g.intn(5) {
	case 0:
		text = w.jsonValue(0, "")
		ct = pick(g, []string{"application/json", "application/json; charset=utf-8", "", "application/x-www-form-urlencoded", "text/plain"})
		if first := strings.TrimLeft(text, " \n"); ct != "application/json" && ct != "application/json; charset=utf-8" &&
			(first == "" || first[0] != '{' && first[0] != '[') {
			ct = "application/json" // a bare JSON scalar is only JSON when declared
		}
	case 1:
		text = w.queryString(where+" form", nil)
		ct = pick(g, []string{"application/x-www-form-urlencoded", "", "text/plain"})
	case 2:
		boundary := fmt.Sprintf("----fuzzB0undary%d", g.intn(100))
		var b strings.Builder
		for i, n := 0, g.intn(4); i < n; i++ {
			b.WriteString("--" + boundary + "\r\n")
			switch g.intn(4) {
			case 0:
				name := w.sensitiveName()
				fmt.Fprintf(&b, "Content-Disposition: form-data; name=%q\r\n\r\n%s\r\n", name,
					w.plant(g.secret(anyPrintable), true, where+" multipart "+name))
			case 1:
				fmt.Fprintf(&b, "Content-Disposition: form-data; name=\"meta\"\r\nContent-Type: application/json\r\n\r\n%s\r\n", w.jsonValue(1, "meta"))
			case 2:
				fmt.Fprintf(&b, "Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nline\n%s\r\n", w.pattern(where+" multipart file"))
			default:
				name := w.harmlessName(harmlessNames, where+" multipart")
				fmt.Fprintf(&b, "Content-Disposition: form-data; name=%q\r\n\r\n%s\r\n", name, w.harmless(where+" multipart "+name))
			}
		}
		b.WriteString("--" + boundary + "--\r\n")
		text = b.String()
		ct = pick(g, []string{"multipart/form-data; boundary=" + boundary, `multipart/form-data; boundary="` + boundary + `"`, "multipart/form-data"})
	case 3:
		var b strings.Builder
		b.WriteString("INFO request failed\n")
		for i, n := 0, g.intn(5); i < n; i++ {
			switch g.intn(5) {
			case 0:
				fmt.Fprintf(&b, "%s=%s\n", w.sensitiveName(), w.plant(g.secret(bareSafe), true, where+" text bare"))
			case 1:
				s := g.secret(anyPrintable)
				fmt.Fprintf(&b, "  %q: %s,\n", w.sensitiveName(), w.jsonString(w.plant(s, true, where+" text json")))
			case 2:
				s := g.secret(strings.NewReplacer("'", "", "\\", "").Replace(anyPrintable))
				fmt.Fprintf(&b, "%s: '%s'\n", w.sensitiveName(), w.plant(s, true, where+" text quoted"))
			default:
				b.WriteString(w.pattern(where+" text") + "\n")
			}
		}
		text = b.String()
		ct = pick(g, []string{"text/plain", "", "text/html"})
	default:
		return capture.Body{}
	}
	b := capture.Body{Text: text, ContentType: ct, Size: int64(len(text))}
	if len(text) > 0 && g.intn(4) == 0 {
		b.Text, b.Truncated = text[:g.intn(len(text))], true
	}
	if g.intn(4) == 0 || !utf8.ValidString(b.Text) {
		b.Text, b.Base64 = base64.StdEncoding.EncodeToString([]byte(b.Text)), true
	}
	return b
}

func (w *world) capture() *capture.Capture {
	g := w.g
	c := &capture.Capture{ID: "c1", Route: "/items/{id}"}
	path := pick(g, []string{"/items/42", "/login", "/", "/a/b;jsessionid=" + w.plant(g.secret(alnum), true, "path param")})
	if g.intn(4) == 0 {
		path += "/" + w.pattern("path") // may hold spaces: encode like a client
		path = strings.NewReplacer(" ", "%20", "\n", "%0A", "?", "%3F", "#", "%23").Replace(path)
	}
	c.Request.URL = path
	if q := w.queryString("query", append(append([]string(nil), queryExtras...), w.cfg.query...)); q != "" {
		c.Request.URL += "?" + q
	}
	if g.intn(4) == 0 {
		c.Request.URL += "#access_token=" + url.QueryEscape(w.plant(g.secret(anyPrintable), true, "fragment"))
	}

	cookieNames := append(append([]string(nil), sessionCookies...), w.cfg.cookies...)
	var cookieParts []string
	for i, n := 0, g.intn(4); i < n; i++ {
		name, v := w.cookiePair("cookie", cookieNames)
		cookieParts = append(cookieParts, name+"="+v)
		c.Request.Cookies = append(c.Request.Cookies, capture.Field{Name: name, Value: v})
	}
	for i, n := 0, g.intn(6); i < n; i++ {
		switch g.intn(5) {
		case 0:
			name := pick(g, append(append([]string(nil), exactHeaders...), w.cfg.headers...))
			if g.coin() {
				name = strings.ToLower(name)
			}
			v := w.plant(g.secret(anyPrintable), true, "header "+name)
			v = pick(g, []string{"", "Bearer ", "Basic ", "Token "}) + v
			c.Request.Headers = append(c.Request.Headers, capture.Field{Name: name, Value: v})
		case 1:
			name := "X-" + strings.NewReplacer("[", "", "]", "").Replace(w.sensitiveName())
			c.Request.Headers = append(c.Request.Headers, capture.Field{Name: name, Value: w.plant(g.secret(alnum), true, "header "+name)})
		case 2:
			c.Request.Headers = append(c.Request.Headers, capture.Field{Name: "Referer", Value: "https://app.example/p?" + w.queryString("referer", nil)})
		default:
			name := w.harmlessName(harmlessHeaders, "header")
			c.Request.Headers = append(c.Request.Headers, capture.Field{Name: name, Value: strings.ReplaceAll(w.harmless("header "+name), "\n", " ")})
		}
	}
	if len(cookieParts) > 0 {
		c.Request.Headers = append(c.Request.Headers, capture.Field{Name: pick(g, []string{"Cookie", "cookie"}), Value: strings.Join(cookieParts, "; ")})
	}
	c.Request.Body = w.body("request body")

	c.Response.Status = pick(g, []int{401, 422, 500})
	for i, n := 0, g.intn(4); i < n; i++ {
		switch g.intn(3) {
		case 0:
			name, v := w.cookiePair("set-cookie", sessionCookies)
			if w.cfg.allSetCooks && g.coin() {
				name = "theme"
				v = w.plant(g.secret(cookieSafe), true, "set-cookie (all)")
			}
			c.Response.Headers = append(c.Response.Headers, capture.Field{Name: "Set-Cookie", Value: name + "=" + v + pick(g, []string{"", "; Path=/", "; Path=/; HttpOnly; Secure; SameSite=Lax"})})
		case 1:
			c.Response.Headers = append(c.Response.Headers, capture.Field{Name: "Location", Value: "/next?" + w.queryString("location", nil)})
		default:
			name := pick(g, harmlessHeaders)
			c.Response.Headers = append(c.Response.Headers, capture.Field{Name: name, Value: strings.ReplaceAll(w.harmless("response header "+name), "\n", " ")})
		}
	}
	if g.intn(3) == 0 {
		// A FastAPI 422 echoing the rejected values.
		var items []string
		for i, n := 0, 1+g.intn(3); i < n; i++ {
			name := strings.NewReplacer("[", "", "]", "").Replace(w.sensitiveName())
			loc := `"loc":["body",` + w.jsonString(name) + `]`
			input := `"input":` + w.jsonString(w.plant(g.secret(anyPrintable), true, "422 input "+name))
			if g.coin() {
				loc, input = input, loc
			}
			items = append(items, `{"type":"string_too_short",`+loc+`,"msg":"too short",`+input+`}`)
		}
		c.Response.Body = capture.Body{ContentType: "application/json", Text: `{"detail":[` + strings.Join(items, ",") + `]}`}
	} else {
		c.Response.Body = w.body("response body")
	}
	return c
}

// views returns s and what a reader could decode it to.
func views(s string) []string {
	j := jsonUnescapeAll(s)
	return []string{s, unescape(s, true), unescape(s, false), j, unescape(j, true), unescape(j, false)}
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
			if r, ok := hex4(s, i+1); ok {
				b.WriteRune(r)
				i += 4
				continue
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
	all := texts(c)
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
		for _, s := range all {
			for _, v := range views(s) {
				if strings.Contains(v, needle) {
					return fmt.Sprintf("%s: %q survived (as %q) in %q", p.desc, p.secret, needle, s)
				}
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
