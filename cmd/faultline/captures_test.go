package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/admin"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

// captureFixture is a store on disk with three captures, and an admin API
// over it that wants a token.
type captureFixture struct {
	dir, adminURL string
	caps          []*capture.Capture // oldest first
}

const fixtureToken = "t0ken"

func newCaptureFixture(t *testing.T) *captureFixture {
	t.Helper()
	f := &captureFixture{dir: t.TempDir()}
	st, err := store.Open(filepath.Join(f.dir, store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().Add(-time.Hour)
	for i, tc := range []struct {
		status int
		method string
		route  string
		target string
	}{
		{401, "GET", "/me", "/me"},
		{422, "POST", "/items/{item_id}", "/items/7?token=" + capture.Placeholder},
		{500, "GET", "/items/{item_id}", "/items/\x1b[31mred"},
	} {
		at := now.Add(time.Duration(i) * time.Minute)
		c := &capture.Capture{
			ID: capture.NewID(at), Time: at, DurationMS: 12.5, Route: tc.route,
			Request: capture.Request{Method: tc.method, URL: tc.target, Host: "api.example", Headers: []capture.Field{
				{Name: "Authorization", Value: capture.Placeholder},
				{Name: "Content-Type", Value: "application/json"},
			}},
			Response: capture.Response{Status: tc.status, Body: capture.Body{Text: `{"detail":"no"}`}},
			Redacted: []capture.Redaction{{Where: capture.WhereRequestHeader, Name: "Authorization"}},
		}
		if tc.method == "POST" {
			c.Request.Body = capture.Body{Text: `{"name":"w","password":"[REDACTED]"}`}
			c.Redacted = append(c.Redacted,
				capture.Redaction{Where: capture.WhereRequestBody, Name: "password"},
				capture.Redaction{Where: capture.WhereRequestQuery, Name: "token"})
		}
		if _, err := st.Put(context.Background(), []*capture.Capture{c}); err != nil {
			t.Fatal(err)
		}
		f.caps = append(f.caps, c)
	}
	srv := httptest.NewServer(admin.New(st, admin.Options{Token: fixtureToken}))
	t.Cleanup(srv.Close)
	f.adminURL = srv.URL
	return f
}

// viaAdmin and viaDisk are the two ways to read the fixture.
func (f *captureFixture) viaAdmin() []string {
	return []string{"--admin", f.adminURL, "--admin-token", fixtureToken}
}

func (f *captureFixture) viaDisk() []string { return []string{"--data-dir", f.dir} }

func TestCapturesList(t *testing.T) {
	f := newCaptureFixture(t)
	for name, src := range map[string][]string{"admin": f.viaAdmin(), "disk": f.viaDisk()} {
		t.Run(name, func(t *testing.T) {
			tests := []struct {
				args []string
				want []int // indexes into f.caps, in output order
			}{
				{nil, []int{2, 1, 0}},
				{[]string{"--code", "4xx"}, []int{1, 0}},
				{[]string{"--code", "500"}, []int{2}},
				{[]string{"--route", "/items/{item_id}", "--limit", "1"}, []int{2}},
				{[]string{"--since", "90s"}, nil},
				{[]string{"--since", time.Now().Add(-time.Hour).Add(30 * time.Second).Format(time.RFC3339)}, []int{2, 1}},
			}
			for _, tt := range tests {
				args := append(append([]string{"captures", "list"}, src...), tt.args...)
				code, out, stderr := runMain(append(args, "--json")...)
				if code != 0 {
					t.Fatalf("%v: exit %d: %s", tt.args, code, stderr)
				}
				var got struct{ Captures []capture.Summary }
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatalf("%v: %v\n%s", tt.args, err, out)
				}
				if len(got.Captures) != len(tt.want) {
					t.Fatalf("%v: %d captures, want %d", tt.args, len(got.Captures), len(tt.want))
				}
				for i, w := range tt.want {
					if got.Captures[i].ID != f.caps[w].ID {
						t.Errorf("%v: [%d] = %s, want %s", tt.args, i, got.Captures[i].ID, f.caps[w].ID)
					}
				}
			}
		})
	}
}

func TestCapturesListTable(t *testing.T) {
	f := newCaptureFixture(t)
	code, out, stderr := runMain(append([]string{"captures", "list"}, f.viaAdmin()...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	head := strings.Fields(lines[0])
	if strings.Join(head, " ") != "TIME STATUS METHOD ROUTE PATH DURATION ID" {
		t.Errorf("header %q", lines[0])
	}
	// Columns line up: every ID starts where the header's ID does.
	col := strings.Index(lines[0], "ID")
	for i, line := range lines[1:] {
		if want := f.caps[2-i].ID; !strings.HasPrefix(line[col:], want) {
			t.Errorf("line %q: ID not at column %d", line, col)
		}
	}
	if !strings.Contains(lines[2], "422") || !strings.Contains(lines[2], "POST") || !strings.Contains(lines[2], "12.5ms") {
		t.Errorf("row %q", lines[2])
	}
	if strings.Contains(out, "\x1b") || !strings.Contains(lines[1], `/items/\x1b[31mred`) {
		t.Errorf("escape sequence reached the terminal: %q", lines[1])
	}
}

func TestCapturesShowAndCurl(t *testing.T) {
	f := newCaptureFixture(t)
	c := f.caps[1]
	code, out, stderr := runMain(append([]string{"captures", "show", c.ID}, f.viaAdmin()...)...)
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"ID        " + c.ID, "Status    422 Unprocessable Entity", "Route     /items/{item_id}",
		"Authorization: [REDACTED]", "Redacted  request.header Authorization, request.body password", `"password": "[REDACTED]"`} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	// Flags may come after the ID, and --data-dir reads the same capture.
	code, out, _ = runMain(append([]string{"captures", "show", c.ID, "--json"}, f.viaDisk()...)...)
	var got capture.Capture
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.ID != c.ID || got.Request.Body.Text != c.Request.Body.Text {
		t.Errorf("show --json: exit %d\n%s", code, out)
	}
	code, out, _ = runMain(append([]string{"captures", "curl", c.ID}, f.viaDisk()...)...)
	if code != 0 || out != capture.Curl(c) {
		t.Errorf("curl: exit %d\n%s\nwant\n%s", code, out, capture.Curl(c))
	}
	code, _, stderr = runMain(append([]string{"captures", "show", capture.NewID(time.Now())}, f.viaAdmin()...)...)
	if code != 1 || !strings.Contains(stderr, "not found") {
		t.Errorf("unknown ID: exit %d: %s", code, stderr)
	}
}

func TestCapturesHAR(t *testing.T) {
	f := newCaptureFixture(t)
	readHAR := func(t *testing.T, data string) capture.HAR {
		t.Helper()
		var h capture.HAR
		if err := json.Unmarshal([]byte(data), &h); err != nil || h.Log.Version != "1.2" {
			t.Fatalf("not a HAR (%v):\n%s", err, data)
		}
		return h
	}
	code, out, stderr := runMain(append([]string{"captures", "har", f.caps[0].ID, f.caps[2].ID}, f.viaAdmin()...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if h := readHAR(t, out); len(h.Log.Entries) != 2 || h.Log.Entries[0].ID != f.caps[0].ID {
		t.Errorf("entries %+v", h.Log.Entries)
	}
	// No IDs: the listed ones, merged, oldest first, into a private file.
	file := filepath.Join(t.TempDir(), "out.har")
	code, _, stderr = runMain(append([]string{"captures", "har", "--code", "4xx", "--out", file}, f.viaDisk()...)...)
	if code != 0 || !strings.Contains(stderr, "wrote 2 captures") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, _ := os.ReadFile(file)
	h := readHAR(t, string(data))
	if len(h.Log.Entries) != 2 || h.Log.Entries[0].ID != f.caps[0].ID || h.Log.Entries[1].ID != f.caps[1].ID {
		t.Errorf("entries %+v", h.Log.Entries)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("--out mode %v", fi.Mode().Perm())
	}
}

func TestCapturesReplay(t *testing.T) {
	f := newCaptureFixture(t)
	type seen struct {
		method, uri, auth string
		body              string
	}
	got := make(chan seen, 1)
	dev := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Header.Get("Authorization"), string(b)}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":7,"name":"w"}`)
	}))
	defer dev.Close()

	c := f.caps[1]
	code, out, stderr := runMain(append([]string{"captures", "replay", c.ID, "--to", dev.URL + "/v2",
		"--set-header", "Authorization: Bearer dev", "--set-field", "password=hunter2"}, f.viaAdmin()...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	s := <-got
	if s.method != "POST" || s.uri != "/v2/items/7?token="+capture.Placeholder || s.auth != "Bearer dev" ||
		s.body != `{"name":"w","password":"hunter2"}` {
		t.Errorf("dev server got %+v", s)
	}
	if want := "captured 422 → now 200\n" + `{"id":7,"name":"w"}` + "\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	// The query token was not set: one warning, and it says how.
	if strings.Count(stderr, "warning:") != 1 || !strings.Contains(stderr, "--set-field token=VALUE") {
		t.Errorf("stderr %q", stderr)
	}
}

func TestCapturesToken(t *testing.T) {
	f := newCaptureFixture(t)
	t.Setenv("FAULTLINE_ADMIN_TOKEN", fixtureToken)
	if code, _, stderr := runMain("captures", "list", "--admin", f.adminURL); code != 0 {
		t.Errorf("token from the environment: exit %d: %s", code, stderr)
	}
	t.Setenv("FAULTLINE_ADMIN_TOKEN", "")
	code, _, stderr := runMain("captures", "list", "--admin", f.adminURL)
	if code != 1 || !strings.Contains(stderr, "token") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("no token: exit %d: %q", code, stderr)
	}
	// Nothing listening: the error names the address.
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	code, _, stderr = runMain("captures", "list", "--admin", addr)
	if code != 1 || !strings.Contains(stderr, addr) {
		t.Errorf("admin down: exit %d: %q", code, stderr)
	}
}

func TestCapturesBadInput(t *testing.T) {
	id := capture.NewID(time.Now())
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"captures"}, "captures: missing subcommand"},
		{[]string{"captures", "frob"}, `captures: unknown subcommand "frob"`},
		{[]string{"captures", "list", "--code", "banana"}, `--code: "banana" is not a status code`},
		{[]string{"captures", "list", "--since", "yesterday"}, `--since: "yesterday"`},
		{[]string{"captures", "list", "--limit", "0"}, "--limit: 0 is not a number from 1 to 1000"},
		{[]string{"captures", "list", "--limit", "many"}, "invalid value \"many\" for flag -limit"},
		{[]string{"captures", "list", "--admin", "localhost:9901"}, `--admin: "localhost:9901" is not an http`},
		{[]string{"captures", "list", "--admin", "http://x", "--data-dir", dir}, "--data-dir: cannot be used with --admin"},
		{[]string{"captures", "list", "--data-dir", filepath.Join(dir, "none")}, "--data-dir: capture store " + filepath.Join(dir, "none")},
		{[]string{"captures", "list", "extra"}, `captures list: unexpected argument "extra"`},
		{[]string{"captures", "show"}, "captures show: wants one capture ID, got 0"},
		{[]string{"captures", "show", "../../etc/passwd"}, `captures show: "../../etc/passwd" is not a capture ID`},
		{[]string{"captures", "curl", id, id}, "captures curl: wants one capture ID, got 2"},
		{[]string{"captures", "har", "nope"}, `captures har: "nope" is not a capture ID`},
		{[]string{"captures", "har", id, "--code", "500"}, "--code: selects captures to list; not used with IDs"},
		{[]string{"captures", "har", "--out", filepath.Join(dir, "no", "such", "dir.har"), "--data-dir", newEmptyStore(t)}, "--out: "},
		{[]string{"captures", "replay", id}, "--to: required"},
		{[]string{"captures", "replay", id, "--to", "ftp://x"}, `--to: "ftp://x" is not an http`},
		{[]string{"captures", "replay", id, "--to", "http://x", "--set-header", "NoColon"}, `--set-header: "NoColon" is not 'Name: value'`},
		{[]string{"captures", "replay", id, "--to", "http://x", "--set-field", "novalue"}, `--set-field: "novalue" is not name=value`},
		{[]string{"captures", "replay", id, "--to", "http://x", "--set-field", "n:={"}, "--set-field: n:= wants JSON"},
		{[]string{"captures", "list", "--nope"}, "flag provided but not defined: -nope"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[1:], " "), func(t *testing.T) {
			code, _, stderr := runMain(tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (%s)", code, stderr)
			}
			if !strings.HasPrefix(stderr, "faultline: "+tt.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q\nwant one line starting %q", stderr, "faultline: "+tt.want)
			}
		})
	}
}

func newEmptyStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return dir
}

func TestCapturesHelp(t *testing.T) {
	code, out, _ := runMain("captures", "--help")
	if code != 0 || !strings.Contains(out, "replay ID --to URL") {
		t.Errorf("exit %d\n%s", code, out)
	}
	code, out, _ = runMain("captures", "list", "-h")
	if code != 0 || !strings.Contains(out, "-since") {
		t.Errorf("list -h: exit %d\n%s", code, out)
	}
}
