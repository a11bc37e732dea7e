package capture

import (
	"bytes"
	"encoding/base64"
	"github.com/faultline-dev/faultline/internal/golden"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCurlGolden(t *testing.T) {
	for name, c := range samples() {
		t.Run(name, func(t *testing.T) {
			got := Curl(c)
			golden.Assert(t, filepath.Join("testdata", name+".curl"), []byte(got))
			checkScript(t, c, got)
		})
	}
}

func TestCurlArgs(t *testing.T) {
	s := samples()
	tests := []struct {
		name string
		c    *Capture
		want []string // each must be an argument, in this order
		not  []string // none may be an argument
	}{
		{"json", s["json-422"],
			[]string{"-X", "POST", "--url", "http://api.example.com/items/42?verbose=1&tag=a%20b&token=[REDACTED]",
				"-H", "Authorization: [REDACTED]", "-H", `X-Quote: it's "quoted" $(rm -rf /) ` + "`id`",
				"--data-raw", `{"name":"widget","price":"cheap","password":"[REDACTED]"}`},
			[]string{"Content-Length: 52"}},
		{"binary body through stdin", s["binary-500"],
			[]string{"-X", "PUT", "--data-binary", "@-"}, nil},
		{"odd headers", s["get-401"],
			[]string{"--url", "https://localhost/me/[1]/%7Bx%7D?q=a%20b%23frag", "-H", "X-Empty;", "-H", "X-Injected: a  X-Evil: 1", "-H", "Cookie: a=1; b=2"},
			[]string{"-X", "Bad Name: v", "@/etc/passwd: v", "--data-raw"}},
		{"leading @ stays data", s["head-text-with-at"],
			[]string{"-H", "Content-Type:", "--data-raw", "@/etc/passwd\nline 2\twith tab"}, []string{"--data-binary"}},
		{"binary body starting with -", &Capture{Request: Request{Method: "POST", URL: "/x", Body: Body{Text: "-n\x00"}}},
			[]string{"--data-binary", "@-"}, nil},
		{"HEAD", &Capture{Request: Request{Method: "HEAD", URL: "/x"}}, []string{"--head"}, []string{"-X"}},
		{"GET with a body keeps -X", &Capture{Request: Request{Method: "GET", URL: "/x", Body: Body{Text: "q"}}}, []string{"-X", "GET"}, nil},
		{"bad method", &Capture{Request: Request{Method: "GET /evil HTTP/1.1\r\n", URL: "/x"}}, nil, []string{"-X"}},
		{"absolute-form target", &Capture{Request: Request{Method: "GET", URL: "http://other/p?q=1", Host: "h"}}, []string{"http://h/p?q=1"}, nil},
		{"no leading slash", &Capture{Request: Request{Method: "GET", URL: "p"}}, []string{"http://localhost/p"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := buildCurl(tt.c)
			argv := cmd.argv()
			i := 0
			for _, w := range tt.want {
				j := slices.Index(argv[i:], w)
				if j < 0 {
					t.Fatalf("%q missing (or out of order) in %q", w, argv)
				}
				i += j + 1
			}
			for _, w := range tt.not {
				if slices.Contains(argv, w) {
					t.Errorf("%q present in %q", w, argv)
				}
			}
			checkScript(t, tt.c, Curl(tt.c))
		})
	}
}

// checkScript splits script as a shell would and checks that it runs
// exactly curl with buildCurl's arguments, fed the body through printf
// when buildCurl says so.
func checkScript(t *testing.T, c *Capture, script string) {
	t.Helper()
	cmds, err := splitScript(script)
	if err != nil {
		t.Fatalf("script does not split: %v\n%s", err, script)
	}
	want := buildCurl(c)
	wantArgv := append([]string{"curl"}, want.argv()...)
	switch {
	case want.stdin == nil && len(cmds) == 1:
		if !slices.Equal(cmds[0].argv, wantArgv) {
			t.Fatalf("argv\n got %q\nwant %q", cmds[0].argv, wantArgv)
		}
	case want.stdin != nil && len(cmds) == 2 && cmds[1].piped:
		if len(cmds[0].argv) != 2 || cmds[0].argv[0] != "printf" || strings.HasPrefix(cmds[0].argv[1], "-") {
			t.Fatalf("first command %q, want printf FORMAT (not an option)", cmds[0].argv)
		}
		out, err := printfOutput(cmds[0].argv[1])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, want.stdin) {
			t.Fatalf("printf writes %q, want %q", out, want.stdin)
		}
		if !slices.Equal(cmds[1].argv, wantArgv) {
			t.Fatalf("argv\n got %q\nwant %q", cmds[1].argv, wantArgv)
		}
	default:
		t.Fatalf("script runs %d commands:\n%s", len(cmds), script)
	}
}

// FuzzCurl builds captures from random parts and checks that the command
// splits into exactly the intended argv (no part can end a quote, start a
// command or a substitution), that the body arrives byte for byte, and
// that clean values pass unchanged.
func FuzzCurl(f *testing.F) {
	f.Add("POST", "example.com", "/a?b=c", "X-Key", "it's", []byte("body"), false)
	f.Add("GET", "h", "/'; rm -rf / #", "A", "$(id)\n`id`", []byte{0, 1, 2, '\''}, false)
	f.Add("PUT", "", "/x", "@file", "'\\''", []byte("@/etc/passwd"), true)
	f.Add("HEAD", "[::1]:80", "/%zz", "Cookie", "", []byte("\xff\xfe%s\\n\\0"), false)
	f.Fuzz(func(t *testing.T, method, host, target, hname, hvalue string, body []byte, b64 bool) {
		c := &Capture{ID: target, Route: hvalue, Request: Request{
			Method: method, Host: host, URL: target,
			Headers: []Field{{hname, hvalue}, {"X-Fixed", hvalue + hname}},
			Cookies: []Field{{hname, hvalue}},
		}}
		c.Request.Body.Text = string(body)
		if b64 {
			c.Request.Body = Body{Text: base64.StdEncoding.EncodeToString(body), Base64: true}
		}
		c.Redacted = []Redaction{{Where: hname, Name: hvalue}}
		script := Curl(c)
		checkScript(t, c, script)
		argv := buildCurl(c).argv()
		if ValidToken(hname) && !leftToCurl[strings.ToLower(hname)] {
			if v := strings.Trim(hvalue, " \t"); v != "" && !strings.ContainsFunc(v, isControl) &&
				!slices.Contains(argv, hname+": "+v) {
				t.Errorf("clean header %q: %q missing from %q", hname, v, argv)
			}
		}
		if bytes.Contains(body, []byte{0}) && slices.Contains(argv, "--data-raw") {
			t.Error("a NUL byte in an argument")
		}
		// Comment lines stay comments: every line is a comment or part of
		// the one command, which the split above already checked.
		if !utf8.ValidString(strings.Join(commentLines(script), "")) {
			t.Error("comment lines are not UTF-8")
		}
	})
}

func commentLines(script string) []string {
	var out []string
	for line := range strings.Lines(script) {
		if strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

// nastyStrings are values that break naive quoting.
var nastyStrings = []string{
	"", "'", "''", `'\''`, `"`, `\`, `\'`, "$HOME", "${IFS}", "$(id)", "`id`", "; id", "&& id", "| id",
	"a\nb", "a\r\nb", "#", "~", "*", "?", "[a]", "{a,b}", "!!", "%s%n", `\101`, "\\0", "é ü 日本",
	"\xff\xfe", "-X", "--url", "@-", "@/etc/passwd",
}

// randomCapture builds a capture from nasty and random parts.
func randomCapture(r *rand.Rand) *Capture {
	pick := func() string {
		if r.IntN(3) == 0 {
			b := make([]byte, r.IntN(12))
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
			return string(b)
		}
		return nastyStrings[r.IntN(len(nastyStrings))] + nastyStrings[r.IntN(len(nastyStrings))]
	}
	c := &Capture{Request: Request{Method: []string{"GET", "POST", "PUT", "HEAD", pick()}[r.IntN(5)], URL: "/" + pick(), Host: "localhost:1"}}
	for range r.IntN(4) {
		c.Request.Headers = append(c.Request.Headers, Field{[]string{"X-A", "X-B", pick()}[r.IntN(3)], pick()})
	}
	body := pick() + pick()
	if r.IntN(2) == 0 {
		c.Request.Body = Body{Text: base64.StdEncoding.EncodeToString([]byte(body)), Base64: true}
	} else {
		c.Request.Body.Text = body
	}
	return c
}

// TestCurlInRealShells runs the commands in the shells on this machine,
// with curl replaced by a function that prints its arguments and input,
// and checks they match what was intended.
func TestCurlInRealShells(t *testing.T) {
	shells := []string{"sh", "bash", "dash", "zsh", "busybox"}
	r := rand.New(rand.NewPCG(1, 2))
	cases := []*Capture{}
	for _, c := range samples() {
		cases = append(cases, c)
	}
	for range 100 {
		cases = append(cases, randomCapture(r))
	}
	ran := 0
	for _, sh := range shells {
		path, err := exec.LookPath(sh)
		if err != nil {
			continue
		}
		ran++
		t.Run(sh, func(t *testing.T) {
			args := []string{"-c"}
			if sh == "busybox" {
				args = []string{"sh", "-c"}
			}
			for _, c := range cases {
				want := buildCurl(c)
				// The stub prints its argument count, each argument NUL
				// terminated, then its standard input.
				stub := `curl() { printf '%s\0' "$#" "$@"; cat; }` + "\n"
				out, err := exec.Command(path, append(args, stub+Curl(c))...).Output()
				if err != nil {
					t.Fatalf("%v\n%s", err, Curl(c))
				}
				parts := bytes.SplitN(out, []byte{0}, 2)
				n := 0
				for _, d := range parts[0] {
					n = n*10 + int(d-'0')
				}
				rest := parts[1]
				var got []string
				for range n {
					i := bytes.IndexByte(rest, 0)
					got = append(got, string(rest[:i]))
					rest = rest[i+1:]
				}
				if !slices.Equal(got, want.argv()) {
					t.Fatalf("argv\n got %q\nwant %q\n%s", got, want.argv(), Curl(c))
				}
				if !bytes.Equal(rest, want.stdin) {
					t.Fatalf("stdin %q, want %q\n%s", rest, want.stdin, Curl(c))
				}
			}
		})
	}
	if ran == 0 {
		t.Skip("no POSIX shell found")
	}
}

// TestCurlAgainstServer runs the real curl and checks what a server gets.
func TestCurlAgainstServer(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	type seen struct {
		method, uri string
		header      http.Header
		body        []byte
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- seen{r.Method, r.RequestURI, r.Header, b}:
		default:
			t.Errorf("unexpected request %s %s", r.Method, r.RequestURI)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	s := samples()
	bin, _ := s["binary-500"].Request.Body.Bytes()
	tests := []struct {
		name string
		c    *Capture
		uri  string
		body []byte
		hdr  map[string]string
	}{
		{"json", s["json-422"], "/items/42?verbose=1&tag=a%20b&token=[REDACTED]",
			[]byte(s["json-422"].Request.Body.Text),
			map[string]string{"Authorization": Placeholder, "X-Quote": `it's "quoted" $(rm -rf /) ` + "`id`", "Content-Type": "application/json"}},
		{"binary", s["binary-500"], "/upload?name=@etc/passwd", bin, map[string]string{"Content-Type": "image/png"}},
		{"leading @", s["head-text-with-at"], "/form", []byte("@/etc/passwd\nline 2\twith tab"), map[string]string{"Content-Type": ""}},
		{"odd headers", s["get-401"], "/me/[1]/%7Bx%7D?q=a%20b%23frag", []byte{}, map[string]string{"X-Injected": "a  X-Evil: 1", "X-Evil": "", "Cookie": "a=1; b=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *tt.c
			c.Request.Host, c.Request.Scheme = host, "http"
			script := strings.Replace(Curl(&c), "curl --globoff", "curl --silent --show-error --max-time 10 --globoff", 1)
			out, err := exec.Command("sh", "-c", script).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s\n%s", err, out, Curl(&c))
			}
			var g seen
			select {
			case g = <-got:
			default:
				t.Fatal("the server got no request")
			}
			if g.method != c.Request.Method || g.uri != tt.uri || !bytes.Equal(g.body, tt.body) {
				t.Errorf("server got %s %s %q, want %s %s %q", g.method, g.uri, g.body, c.Request.Method, tt.uri, tt.body)
			}
			for k, v := range tt.hdr {
				if g.header.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, g.header.Get(k), v)
				}
			}
		})
	}
}
