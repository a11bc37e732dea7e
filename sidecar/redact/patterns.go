package redact

import (
	"encoding/base64"
	"strings"
)

// authSchemes are kept in front of a redacted credential so that a 401
// still shows how the client tried to authenticate.
var authSchemes = []string{
	"Bearer", "Basic", "Digest", "Token", "ApiKey", "Api-Key", "JWT", "DPoP",
	"Negotiate", "NTLM", "OAuth", "HOBA", "Mutual", "AWS4-HMAC-SHA256", "SCRAM-SHA-256",
}

// schemeLen returns the length of "<scheme><spaces>" at the start of v
// when what follows is non-empty, else 0.
func schemeLen(v string) int {
	sp := strings.IndexAny(v, " \t")
	if sp <= 0 {
		return 0
	}
	known := false
	for _, a := range authSchemes {
		if strings.EqualFold(v[:sp], a) {
			known = true
			break
		}
	}
	if !known {
		return 0
	}
	k := sp
	for k < len(v) && (v[k] == ' ' || v[k] == '\t') {
		k++
	}
	if k == len(v) {
		return 0
	}
	return k
}

// authParams are the auth-param names of WWW-Authenticate challenges:
// `Bearer error_description="..."` is a challenge, not a credential.
var authParams = []string{"realm", "scope", "error", "error_description", "error_uri", "resource_metadata", "charset"}

// authScheme removes the credentials after "Bearer" and "Basic". Bearer
// tokens shorter than 8 bytes are taken for prose ("Bearer of ...");
// Basic credentials must decode to "user:password" or be 16 bytes or
// longer.
func (sc *scanner) authScheme(i, j int) int {
	s := sc.s
	w := s[i:j]
	bearer := strings.EqualFold(w, "bearer")
	if !bearer && !strings.EqualFold(w, "basic") {
		return 0
	}
	k, sep := j, false
	for k < len(s) {
		switch {
		case s[k] == ' ' || s[k] == '\t' || s[k] == '+':
			k++
		case strings.HasPrefix(s[k:], "%20"):
			k += 3
		default:
			goto sepDone
		}
		sep = true
	}
sepDone:
	if !sep {
		return 0
	}
	t := k
	for t < len(s) && isToken68(s[t]) {
		t++
	}
	body := t - k
	for t < len(s) && s[t] == '=' {
		t++
	}
	if n := markerLen(s[k:]); n > 0 {
		// Done before; but "[REDACTED]xyz" is not.
		end := k + n
		for end < len(s) && isToken68(s[end]) {
			end++
		}
		if end > k+n {
			sc.redact(k, end, "<bearer>", false)
		}
		return end
	}
	tok := s[k:t]
	if bearer {
		if body < 8 {
			return 0
		}
		if t > k+body && t < len(s) && (s[t] == '"' || s[t] == '\\') {
			for _, a := range authParams {
				if strings.EqualFold(tok[:body], a) {
					return 0
				}
			}
		}
		sc.redact(k, t, "<bearer>", false)
		return t
	}
	if body < 16 && !basicCredentials(tok) {
		return 0
	}
	sc.redact(k, t, "<basic>", false)
	return t
}

// basicCredentials reports whether tok is base64 of "user:password".
func basicCredentials(tok string) bool {
	if len(tok) < 4 || len(tok)%4 != 0 || len(tok) > 32 {
		return false
	}
	var buf [24]byte
	n, err := base64.StdEncoding.Decode(buf[:], []byte(tok))
	return err == nil && strings.IndexByte(string(buf[:n]), ':') >= 0
}

// pem removes the body of a PEM private key block starting at i, up to its
// END line or the end of s.
func (sc *scanner) pem(i int) int {
	s := sc.s
	const begin = "-----BEGIN"
	head := s[i+len(begin):]
	if len(head) > 48 {
		head = head[:48]
	}
	e := strings.Index(head, "-----")
	if e < 0 {
		return 0
	}
	if !strings.Contains(head[:e], "PRIVATE KEY") || strings.Trim(head[:e], " ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return 0
	}
	start := i + len(begin) + e + 5
	next := len(s)
	if x := strings.Index(s[start:], "-----END"); x >= 0 {
		next = start + x
	}
	end := next
	for start < end && strings.IndexByte(" \t\r\n", s[start]) >= 0 {
		start++
	}
	for end > start && strings.IndexByte(" \t\r\n", s[end-1]) >= 0 {
		end--
	}
	if end > start {
		sc.redact(start, end, "<private_key>", false)
	}
	return next
}

// userinfo removes the password of "scheme://user:password@host" whose
// authority starts at k.
func (sc *scanner) userinfo(k int) int {
	s := sc.s
	end := k
	for end < len(s) {
		c := s[end]
		if c <= ' ' || strings.IndexByte(`/?#"'<>\`, c) >= 0 {
			break
		}
		end++
	}
	auth := s[k:end]
	at := strings.LastIndexByte(auth, '@')
	if at < 0 {
		// A text cut inside the user info ("postgres://app:pw") still
		// holds the password; "host:8000" is a port.
		colon := strings.IndexByte(auth, ':')
		if end < len(s) || colon < 0 || colon+1 == len(auth) || strings.Trim(auth[colon+1:], "0123456789") == "" {
			return 0
		}
		sc.redact(k+colon+1, end, "<userinfo>", false)
		return end
	}
	colon := strings.IndexByte(auth[:at], ':')
	if colon < 0 || colon+1 == at || isMarker(auth[colon+1:at]) {
		return 0
	}
	sc.redact(k+colon+1, k+at, "<userinfo>", false)
	return k + at + 1
}

// shapes removes JWTs and well-known key shapes inside the run s[i:j]; a
// match may run past j.
func (sc *scanner) shapes(i, j int) int {
	s := sc.s
	noJWT := 0 // an "eyJ" before this ends where a failed one did: no JWT
	for k := i; k < j; k++ {
		c := s[k]
		if c == 'e' && k >= noJWT && strings.HasPrefix(s[k:], "eyJ") {
			end, skip := jwtEnd(s, k)
			if end > 0 {
				sc.redact(k, end, "<jwt>", false)
				return end
			}
			noJWT = skip
		}
		if k > i && isAlnum(s[k-1]) {
			continue // key shapes start a word
		}
		for _, sh := range shapeIndex[c] {
			if !strings.HasPrefix(s[k:], sh.prefix) {
				continue
			}
			p := k + len(sh.prefix)
			n := 0
			for p+n < len(s) && sh.class(s[p+n]) {
				n++
			}
			if n >= sh.min {
				sc.redact(p, p+n, sh.kind, false)
				return p + n
			}
		}
	}
	return 0
}

// jwtEnd returns the end of the JWT (or JWE) starting at k, or 0 and the
// end of the first segment.
func jwtEnd(s string, k int) (end, skip int) {
	seg := func(p int) int {
		n := 0
		for p+n < len(s) && isB64URL(s[p+n]) {
			n++
		}
		return n
	}
	n := seg(k)
	p := k + n
	if n < 4 || p >= len(s) || s[p] != '.' {
		return 0, p
	}
	n = seg(p + 1)
	if n < 2 {
		return 0, p
	}
	q := p + 1 + n
	if q >= len(s) || s[q] != '.' {
		return 0, p
	}
	q += 1 + seg(q+1)
	for q < len(s) && s[q] == '.' { // JWE: five segments
		n = seg(q + 1)
		if n == 0 {
			break
		}
		q += 1 + n
	}
	return q, p
}

// shape is a well-known key format: a fixed prefix (kept) and at least min
// bytes of class (removed).
type shape struct {
	prefix string
	class  func(byte) bool
	min    int
	kind   string
}

func isUpperDigit(c byte) bool { return 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' }
func isWordByte(c byte) bool   { return isAlnum(c) || c == '_' }

var shapes = []shape{
	{"AKIA", isUpperDigit, 16, "<aws_access_key>"},
	{"ASIA", isUpperDigit, 16, "<aws_access_key>"},
	{"AIza", isB64URL, 30, "<google_api_key>"},
	{"sk_live_", isAlnum, 16, "<stripe_key>"},
	{"sk_test_", isAlnum, 16, "<stripe_key>"},
	{"rk_live_", isAlnum, 16, "<stripe_key>"},
	{"rk_test_", isAlnum, 16, "<stripe_key>"},
	{"whsec_", isAlnum, 16, "<stripe_webhook_secret>"},
	{"sk-", isB64URL, 20, "<api_key>"},
	{"ghp_", isAlnum, 30, "<github_token>"},
	{"gho_", isAlnum, 30, "<github_token>"},
	{"ghu_", isAlnum, 30, "<github_token>"},
	{"ghs_", isAlnum, 30, "<github_token>"},
	{"ghr_", isAlnum, 30, "<github_token>"},
	{"github_pat_", isWordByte, 30, "<github_token>"},
	{"glpat-", isB64URL, 20, "<gitlab_token>"},
	{"xoxb-", isB64URL, 10, "<slack_token>"},
	{"xoxp-", isB64URL, 10, "<slack_token>"},
	{"xoxa-", isB64URL, 10, "<slack_token>"},
	{"xoxr-", isB64URL, 10, "<slack_token>"},
	{"xoxs-", isB64URL, 10, "<slack_token>"},
	{"xoxe-", isB64URL, 10, "<slack_token>"},
}

var shapeIndex = func() (idx [256][]shape) {
	for _, sh := range shapes {
		idx[sh.prefix[0]] = append(idx[sh.prefix[0]], sh)
	}
	return idx
}()
