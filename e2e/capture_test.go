package e2e

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// secrets planted in the failing request; none may appear anywhere the
// sidecar writes.
var secrets = []string{
	"Bearer-Token-9f8e7d6c5b4a",                                   // Authorization
	"sess-0123456789abcdef-SECRET",                                // session cookie
	"apikey-ZYXWVUTSRQ-9876",                                      // X-Api-Key
	"hunter2-Pa55w0rd!",                                           // JSON password
	"tok_live_abcdef0123456789",                                   // JSON nested token
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldA", // JWT in a harmless field
	"qs-secret-access-token-4242",                                 // query access_token
}

// variants returns the forms in which a secret could leak: raw, URL- and
// JSON-escaped, and base64.
func variants(s string) []string {
	b, _ := json.Marshal(s)
	return []string{s, url.QueryEscape(s), strings.Trim(string(b), `"`), base64.StdEncoding.EncodeToString([]byte(s))}
}

func assertNoSecrets(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range secrets {
		for _, v := range variants(s) {
			if strings.Contains(text, v) {
				t.Errorf("secret %q leaked into %s", v, where)
			}
		}
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func getText(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return string(b)
}

type summary struct {
	ID      string `json:"id"`
	Status  int    `json:"status"`
	Route   string `json:"route"`
	Method  string `json:"method"`
	TraceID string `json:"trace_id"`
}

// waitCaptures polls the admin API until n captures match query.
func waitCaptures(t *testing.T, adminURL, query string, n int) []summary {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var list struct{ Captures []summary }
		getJSON(t, adminURL+"/api/captures?"+query, &list)
		if len(list.Captures) >= n {
			return list.Captures
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d captures for %q, want %d", len(list.Captures), query, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCaptureRedactedEverywhere sends a 422 carrying secrets in every
// place a client puts them, through the real FastAPI app, and checks the
// capture holds the request and the pydantic answer while no secret
// reaches the API, HAR, curl, the logs or any file under --data-dir.
func TestCaptureRedactedEverywhere(t *testing.T) {
	a := startApp(t, "")
	dataDir := t.TempDir()
	s := startSidecar(t, "--upstream", a.URL, "--data-dir", dataDir)
	s.waitRoutes(t)

	body := fmt.Sprintf(`{"name":"widget","price":-5,"password":%q,"auth":{"token":%q},"note":%q}`, secrets[3], secrets[4], secrets[5])
	code, resp := do(t, "POST", s.URL+"/items?access_token="+secrets[6]+"&page=2", strings.NewReader(body), map[string]string{
		"Content-Type":  "application/json",
		"Authorization": "Bearer " + secrets[0],
		"Cookie":        "session=" + secrets[1] + "; theme=dark-mode",
		"X-Api-Key":     secrets[2],
		"X-Request-Id":  "req-visible-42",
	})
	if code != 422 || !strings.Contains(resp, "ensure this value is greater than 0") {
		t.Fatalf("POST /items: %d %s", code, resp)
	}
	list := waitCaptures(t, s.AdminURL, "code=422&route=/items", 1)
	id := list[0].ID
	if list[0].Route != "/items" || list[0].Method != "POST" || list[0].Status != 422 {
		t.Errorf("summary %+v", list[0])
	}

	raw := getText(t, s.AdminURL+"/api/captures/"+id)
	var c struct {
		Request struct {
			URL     string
			Headers []struct{ Name, Value string }
			Cookies []struct{ Name, Value string }
			Body    string `json:"body"`
		}
		Response struct {
			Status int
			Body   string `json:"body"`
		}
		Redacted []struct{ Where, Name string }
	}
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	if c.Response.Status != 422 || !strings.Contains(c.Response.Body, `"loc":["body","price"]`) {
		t.Errorf("response body not captured: %q", c.Response.Body)
	}
	if !strings.Contains(c.Request.Body, `"name":"widget"`) || !strings.Contains(c.Request.Body, `"price":-5`) {
		t.Errorf("request body not captured: %q", c.Request.Body)
	}
	if !strings.Contains(c.Request.URL, "page=2") {
		t.Errorf("non-secret query parameter lost: %q", c.Request.URL)
	}
	visible := map[string]bool{}
	for _, ck := range c.Request.Cookies {
		if ck.Name == "theme" && ck.Value == "dark-mode" {
			visible["cookie"] = true
		}
	}
	for _, h := range c.Request.Headers {
		if h.Name == "X-Request-Id" && h.Value == "req-visible-42" {
			visible["header"] = true
		}
	}
	if !visible["cookie"] || !visible["header"] {
		t.Errorf("non-secret cookie or header not visible: %v\n%s", visible, raw)
	}
	if len(c.Redacted) < 6 {
		t.Errorf("redaction list too short: %+v", c.Redacted)
	}

	assertNoSecrets(t, "the capture API", raw)
	assertNoSecrets(t, "the list API", getText(t, s.AdminURL+"/api/captures"))
	assertNoSecrets(t, "HAR", getText(t, s.AdminURL+"/api/captures/"+id+"/har"))
	assertNoSecrets(t, "curl", getText(t, s.AdminURL+"/api/captures/"+id+"/curl"))

	// The CLI, reading the API and the store on disk.
	for _, args := range [][]string{
		{"captures", "list", "--admin", s.AdminURL},
		{"captures", "show", id, "--admin", s.AdminURL, "--json"},
		{"captures", "har", id, "--admin", s.AdminURL},
		{"captures", "curl", id, "--admin", s.AdminURL},
	} {
		out, err := exec.Command(binary, args...).CombinedOutput()
		if err != nil {
			t.Errorf("faultline %v: %v\n%s", args, err, out)
		}
		assertNoSecrets(t, fmt.Sprintf("faultline %v", args), string(out))
	}

	// Stop the sidecar (drain writes the queue), then read every file.
	s.stop(t)
	assertNoSecrets(t, "stdout", s.Stdout.String())
	assertNoSecrets(t, "stderr", s.Stderr.String())
	filepath.Walk(dataDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		assertNoSecrets(t, p, string(b))
		return nil
	})
	out, err := exec.Command(binary, "captures", "show", id, "--data-dir", dataDir, "--json").CombinedOutput()
	if err != nil || !strings.Contains(string(out), id) {
		t.Errorf("capture not readable from the store on disk: %v\n%s", err, out)
	}
	assertNoSecrets(t, "captures show --data-dir", string(out))
}

// TestCapturesSurviveRestart: a second sidecar on the same --data-dir
// serves the captures of the first.
func TestCapturesSurviveRestart(t *testing.T) {
	a := startApp(t, "")
	dataDir := t.TempDir()
	s := startSidecar(t, "--upstream", a.URL, "--data-dir", dataDir)
	do(t, "GET", s.URL+"/boom", nil, nil)
	id := waitCaptures(t, s.AdminURL, "code=5xx", 1)[0].ID
	s.stop(t)
	s2 := startSidecar(t, "--upstream", a.URL, "--data-dir", dataDir)
	var c struct{ ID string }
	getJSON(t, s2.AdminURL+"/api/captures/"+id, &c)
	if c.ID != id {
		t.Errorf("capture %s lost across a restart", id)
	}
}

// TestStoreFaultsDoNotFailRequests runs the store on a tiny tmpfs and
// fills the disk under the running sidecar: requests must pass unchanged
// and the lost captures be counted. A store file removed under it is
// replaced by a new one.
func TestStoreFaultsDoNotFailRequests(t *testing.T) {
	a := startApp(t, "")
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root (CI runs as root)")
	}
	dataDir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", "-l", dataDir).Run()
	s := startSidecar(t, "--upstream", a.URL, "--data-dir", dataDir, "--capture-rate", "1000")
	do(t, "GET", s.URL+"/boom", nil, nil)
	waitCaptures(t, s.AdminURL, "", 1)

	// A deleted store file is noticed and replaced.
	db := filepath.Join(dataDir, "captures.db")
	for _, p := range []string{db, db + "-wal", db + "-shm"} {
		os.Remove(p)
	}
	time.Sleep(1100 * time.Millisecond) // the store checks its file at most once a second
	do(t, "GET", s.URL+"/boom", nil, nil)
	waitCaptures(t, s.AdminURL, "", 1)

	// Fill the disk.
	filler, _ := os.Create(filepath.Join(dataDir, "filler"))
	io.Copy(filler, io.LimitReader(zeroReader{}, 4<<20))
	filler.Close()
	big := strings.Repeat("x", 32<<10)
	for i := range 60 {
		code, _ := do(t, "POST", fmt.Sprintf("%s/items?i=%d", s.URL, i), strings.NewReader(`{"name":"`+big+`"}`), map[string]string{"Content-Type": "application/json"})
		if code != 422 {
			t.Fatalf("request failed with the disk full: %d", code)
		}
		if code, _ := do(t, "GET", s.URL+"/items/1", nil, nil); code != 200 {
			t.Fatalf("request failed with the disk full: %d", code)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for scrape(t, s.MetricsURL)[`faultline_captures_dropped_total{reason="store_error"}`] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a full disk was not counted as dropped captures:\n%s", s.Stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := strings.Count(s.Stderr.String(), "disk is full") + strings.Count(s.Stderr.String(), "SQLITE_FULL"); n > 3 {
		t.Errorf("the store failure was logged %d times, want it rate-limited", n)
	}
}

// TestUnusableStoreAtStartIsBadInput: a store that cannot be opened at
// start-up stops the sidecar with one line and exit code 2.
func TestUnusableStoreAtStartIsBadInput(t *testing.T) {
	needE2E(t)
	file := filepath.Join(t.TempDir(), "not-a-dir")
	os.WriteFile(file, []byte("x"), 0o600)
	out, err := exec.Command(binary, "run", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
		"--admin-listen", "127.0.0.1:0", "--data-dir", file).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "faultline: --data-dir: ") {
		t.Errorf("last line %q does not name --data-dir", last)
	}
}
