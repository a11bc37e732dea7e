package redact

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

// The capture generator of the fuzz tests: it builds captures from the
// fuzzer's bytes and plants secrets where the rules say they must go.

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

// breakJSON makes text invalid the ways real senders do: a trailing
// comma, a missing comma, leading or trailing junk.
func (w *world) breakJSON(text string) string {
	g := w.g
	switch g.intn(4) {
	case 0: // trailing comma
		if t := strings.TrimRight(text, " \n"); strings.HasSuffix(t, "}") || strings.HasSuffix(t, "]") {
			return t[:len(t)-1] + "," + t[len(t)-1:]
		}
	case 1: // missing comma
		if n := strings.Count(text, ","); n > 0 {
			i := -1
			for k := g.intn(n); k >= 0; k-- {
				i += 1 + strings.IndexByte(text[i+1:], ',')
			}
			return text[:i] + text[i+1:]
		}
	case 2: // XSSI guard in front
		return ")]}',\n" + text
	}
	return text + "\n<!-- served by gunicorn -->" // trailing junk
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
		if g.intn(4) == 0 {
			text = w.breakJSON(text)
		}
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
