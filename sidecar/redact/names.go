package redact

import (
	"bytes"
	"strings"
)

// Built-in lists. Each entry of a name list is normalised (see normalize)
// and matched as a substring of the normalised name, so "password" also
// covers "userPassword", "password_confirm" and "X-Password".
var (
	// builtinHeaders are matched by exact name, case-insensitively. Cookie
	// and Set-Cookie are not here: they are redacted cookie by cookie.
	builtinHeaders = []string{
		"Authorization", "Proxy-Authorization", "X-Api-Key", "X-Auth-Token",
		"X-Csrf-Token", "X-Amz-Security-Token",
	}

	// builtinFields apply to JSON keys at any depth, form and multipart
	// field names, query parameters, cookie names and header names.
	builtinFields = []string{
		"password", "passwd", "pwd", "token", "secret", "api_key", "apikey",
		"access_token", "refresh_token", "id_token", "client_secret",
		"private_key", "authorization", "credit_card", "card_number", "cvv", "ssn",
	}

	// builtinQuery are the extra query (and URL fragment) parameters:
	// session ids put in URLs by servlet and PHP stacks, and the signatures
	// of presigned URLs (S3 X-Amz-Signature, Azure SAS sig).
	builtinQuery = []string{"sessionid", "sessid", "signature"}
	// builtinQueryExact must equal the whole normalised name.
	builtinQueryExact = []string{"sig"}

	// builtinCookies are the extra, session-ish cookie names: session,
	// sessionid, PHPSESSID, laravel_session, auth*, next-auth, jwt, csrftoken,
	// _csrf, XSRF-TOKEN ...
	builtinCookies = []string{"sess", "auth", "jwt", "csrf", "xsrf"}
	// builtinCookieSuffixes match the end of the normalised name: sid,
	// connect.sid, SSID, __Host-sid.
	builtinCookieSuffixes = []string{"sid"}
)

type ruleKind uint8

const (
	ruleContains ruleKind = iota
	ruleEquals
	ruleSuffix
)

type rule struct {
	name string // as listed
	norm []byte
	kind ruleKind
}

// ruleSet decides whether a name is sensitive. The zero value matches nothing.
type ruleSet struct {
	rules []rule
	// byFirst indexes the contains-rules by their first byte, so that a
	// name is scanned once whatever the number of rules.
	byFirst [256][]int
	others  []int // equals and suffix rules
}

// add appends names with kind, skipping contains-rules made redundant by
// an existing, shorter contains-rule.
func (rs *ruleSet) add(kind ruleKind, names ...string) {
	for _, n := range names {
		norm := normalize(nil, n)
		if len(norm) == 0 {
			continue
		}
		rs.rules = append(rs.rules, rule{name: n, norm: norm, kind: kind})
	}
	rs.prune()
}

func (rs *ruleSet) addSet(other *ruleSet) {
	rs.rules = append(rs.rules, other.rules...)
	rs.prune()
}

// prune drops rules implied by others: a contains-rule implies any rule
// whose text contains it.
func (rs *ruleSet) prune() {
	out := rs.rules[:0:0]
	for i, r := range rs.rules {
		implied := false
		for j, o := range rs.rules {
			if i == j || o.kind != ruleContains || !bytes.Contains(r.norm, o.norm) {
				continue
			}
			if !bytes.Equal(r.norm, o.norm) || r.kind != ruleContains || j < i {
				implied = true
				break
			}
		}
		if !implied {
			out = append(out, r)
		}
	}
	rs.rules = out
	rs.byFirst = [256][]int{}
	rs.others = nil
	for i, r := range rs.rules {
		if r.kind == ruleContains {
			rs.byFirst[r.norm[0]] = append(rs.byFirst[r.norm[0]], i)
		} else {
			rs.others = append(rs.others, i)
		}
	}
}

// match reports whether name is sensitive under rs.
func (rs *ruleSet) match(name string) bool { return rs.find(name) >= 0 }

// which returns the listed name that makes name sensitive, or "".
func (rs *ruleSet) which(name string) string {
	if k := rs.find(name); k >= 0 {
		return rs.rules[k].name
	}
	return ""
}

// find returns the index of a rule matching name, or -1.
func (rs *ruleSet) find(name string) int {
	if len(name) == 0 || len(rs.rules) == 0 {
		return -1
	}
	var buf [64]byte
	n := normalize(buf[:0], name)
	for i, c := range n {
		for _, k := range rs.byFirst[c] {
			if bytes.HasPrefix(n[i:], rs.rules[k].norm) {
				return k
			}
		}
	}
	for _, k := range rs.others {
		r := &rs.rules[k]
		if r.kind == ruleEquals && bytes.Equal(n, r.norm) || r.kind == ruleSuffix && bytes.HasSuffix(n, r.norm) {
			return k
		}
	}
	return -1
}

// normalize appends name to dst in ASCII lower case with '-', '_', '.' and
// spaces removed: "X-Refresh-Token" and "refresh_token" both become
// "xrefreshtoken" / "refreshtoken", "userPassword" becomes "userpassword".
func normalize(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '-' || c == '_' || c == '.' || c == ' ':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// headerSet holds exact header names, lower-cased.
type headerSet map[string]struct{}

func (hs headerSet) has(name string) bool {
	if len(name) > 64 {
		_, ok := hs[strings.ToLower(name)]
		return ok
	}
	var buf [64]byte
	b := buf[:0]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	_, ok := hs[string(b)] // no allocation: map index by converted bytes
	return ok
}

func isTokenChar(c byte) bool {
	// RFC 9110 tchar.
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
