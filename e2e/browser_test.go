package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/admin"
	capturepage "github.com/faultline-dev/faultline/sidecar/capture/page"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

// chromiumPath is Debian's Chromium, which the README's test command installs.
const chromiumPath = "/usr/bin/chromium"

// xss are payloads that run script when parsed as HTML; each sets
// window.__pwned. Captured as request bodies, headers and paths, they must
// only ever be shown as text.
var xss = []string{
	`<script>window.__pwned=1</script>`,
	`<img src=x onerror="window.__pwned=1">`,
	`<svg onload="window.__pwned=1"></svg>`,
}

// newBrowser starts a headless Chromium for the test and returns its tab.
// Every page of the tab records Content-Security-Policy violations in
// window.__csp, so a test can tell that nothing even tried to run.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test (needs Chromium)")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatal("Chromium is not installed: run the README's test command, which installs the Debian package chromium")
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithErrorf(func(string, ...any) {}))
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	// The first Run starts the browser, for the life of ctx: no timeout here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp = []; document.addEventListener('securitypolicyviolation',
			(e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sample));`,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

// step runs actions with a deadline.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor evaluates expr until it is true. (chromedp.Poll compiles its
// predicate with new Function, which the page's CSP rightly refuses.)
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s (%s): %v", what, expr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshot saves the tab as a PNG under the test's temp dir, and into
// $FAULTLINE_SCREENSHOTS when that is set, to look at afterwards.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dirs := []string{t.TempDir()}
	if d := os.Getenv("FAULTLINE_SCREENSHOTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
}

// checkNothingRan fails when a payload ran or anything broke the CSP.
func checkNothingRan(t *testing.T, ctx context.Context) {
	t.Helper()
	if got := eval[string](t, ctx, `typeof window.__pwned`); got != "undefined" {
		t.Errorf("a captured payload ran: window.__pwned is %s", got)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('main img, main svg, main script, main iframe').length`); n != 0 {
		t.Errorf("%d elements were made from captured markup", n)
	}
	if v := eval[[]string](t, ctx, `window.__csp || []`); len(v) > 0 {
		t.Errorf("Content-Security-Policy violations: %q", v)
	}
}

// TestBrowserPage drives the capture page in Chromium, with the sidecar in
// front of the real FastAPI app: a 401, a 422 and a 500 are listed; the
// list filters to 422; the capture opens from the keyboard and shows
// pydantic's error as a field table; redactions are marked; a deep link
// opens filtered; new captures arrive live; and captured markup never runs.
func TestBrowserPage(t *testing.T) {
	a := startApp(t, "")
	s := startSidecar(t, "--upstream", a.URL, "--access-log", "off")
	s.waitRoutes(t)
	ctx := newBrowser(t)

	// The payloads run when a page parses them as HTML, so the check
	// below that they do not is a real one.
	step(t, ctx, "control", chromedp.Navigate("about:blank"),
		chromedp.Evaluate[chromedp.Void](`document.body.innerHTML = `+jsString(xss[1])))
	waitFor(t, ctx, "the control payload to run", `window.__pwned === 1`)

	code, _ := do(t, "GET", s.URL+"/secure", nil, map[string]string{"Authorization": "Bearer wrong-token-5f4e3d"})
	if code != 401 {
		t.Fatalf("GET /secure: %d", code)
	}
	code, _ = do(t, "POST", s.URL+"/items", strings.NewReader(`{"name":"widget","price":-5,"password":"hunter2"}`),
		map[string]string{"Content-Type": "application/json"})
	if code != 422 {
		t.Fatalf("POST /items: %d", code)
	}
	code, _ = do(t, "GET", s.URL+"/boom", nil, nil)
	if code != 500 {
		t.Fatalf("GET /boom: %d", code)
	}
	var body strings.Builder
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // the markup as a client would send it
	enc.Encode(map[string]any{"name": xss[0], "price": xss[1], "tags": []string{xss[2]}})
	code, _ = do(t, "POST", s.URL+"/items", strings.NewReader(body.String()),
		map[string]string{"Content-Type": "application/json", "X-Note": xss[1]})
	if code != 422 {
		t.Fatalf("POST /items with markup: %d", code)
	}
	code, _ = do(t, "GET", s.URL+"/items/%3Cimg%20src=x%20onerror=window.__pwned=1%3E", nil, nil)
	if code != 422 {
		t.Fatalf("GET /items/<img>: %d", code)
	}
	all := waitCaptures(t, s.AdminURL, "", 5)
	only422 := waitCaptures(t, s.AdminURL, "code=422", 3)
	price, markup := only422[2].ID, only422[1].ID // oldest first: the price, the markup body
	var unauthorized string
	for _, c := range all {
		if c.Status == 401 {
			unauthorized = c.ID
		}
	}

	// The list, newest first, with every status.
	step(t, ctx, "open the page", chromedp.Navigate(s.AdminURL+"/"))
	waitFor(t, ctx, "five rows", `document.querySelectorAll('#list tbody tr').length === 5`)
	statuses := eval[[]string](t, ctx, `[...document.querySelectorAll('#list tbody .c-status')].map((e) => e.textContent)`)
	for _, want := range []string{"401 Unauthorized", "422 Unprocessable", "500 Server Error"} {
		if !slices.Contains(statuses, want) {
			t.Errorf("statuses %q lack %q", statuses, want)
		}
	}
	paths := eval[[]string](t, ctx, `[...document.querySelectorAll('#list tbody .c-path')].map((e) => e.textContent)`)
	if !slices.Contains(paths, "/items/<img src=x onerror=window.__pwned=1>") {
		t.Errorf("the path with markup is not shown as text: %q", paths)
	}
	waitFor(t, ctx, "live updates", `document.querySelector('#live').dataset.state === 'on'`)

	// Filter to 422 with the status button.
	step(t, ctx, "filter to 422", chromedp.Click(chromedp.CSS(`.chip[data-code="422"]`)))
	waitFor(t, ctx, "only 422s", `(() => {
		const rows = [...document.querySelectorAll('#list tbody .c-status b')].map((e) => e.textContent);
		return rows.length === 3 && rows.every((c) => c === '422');
	})()`)
	if loc := eval[string](t, ctx, `location.search`); loc != "?code=422" {
		t.Errorf("address after filtering: %q", loc)
	}

	// Open the price capture from the keyboard: it is the third row.
	step(t, ctx, "keyboard",
		chromedp.Focus(chromedp.CSS(`#list tbody tr:first-child`)),
		chromedp.KeyEvent("jj"),
		chromedp.KeyEvent(kb.Enter))
	waitFor(t, ctx, "the field table", `!!document.querySelector('#detail .validation td.field')`)
	field := eval[string](t, ctx, `document.querySelector('#detail .validation td.field').textContent`)
	if field != "body.price" {
		t.Errorf("validation field %q, want body.price", field)
	}
	if msg := eval[string](t, ctx, `document.querySelector('#detail .validation tbody td:nth-child(2)').textContent`); !strings.Contains(msg, "greater than 0") {
		t.Errorf("validation message %q", msg)
	}
	if loc := eval[string](t, ctx, `location.search`); loc != "?code=422&capture="+price {
		t.Errorf("address with the capture open: %q, want capture %s", loc, price)
	}
	markers := eval[[]string](t, ctx, `[...document.querySelectorAll('#detail mark.redacted')].map((e) => e.textContent)`)
	if !slices.Contains(markers, "removed: password") {
		t.Errorf("redaction markers %q lack removed: password", markers)
	}
	if got := eval[string](t, ctx, `document.activeElement.id`); got != "detail-title" {
		t.Errorf("focus after opening: #%s, want the capture's title", got)
	}
	screenshot(t, ctx, "page-422.png")
	checkActions(t, ctx, price)

	// A new 422 arrives without a reload; a 500 stays out of the view.
	do(t, "GET", s.URL+"/boom", nil, nil)
	do(t, "GET", s.URL+"/items/not-a-number", nil, nil)
	waitFor(t, ctx, "the live row", `[...document.querySelectorAll('#list tbody .c-path')].some((e) => e.textContent === '/items/not-a-number')`)
	if n := eval[int](t, ctx, `document.querySelectorAll('#list tbody tr').length`); n != 4 {
		t.Errorf("%d rows after live updates, want 4 (the 500 filtered out)", n)
	}

	// Escape closes the capture and returns to the list.
	step(t, ctx, "escape", chromedp.KeyEvent(kb.Escape))
	waitFor(t, ctx, "the capture to close", `document.querySelector('#detail').hidden && location.search === '?code=422'`)

	// A deep link opens filtered.
	step(t, ctx, "deep link", chromedp.Navigate(s.AdminURL+"/?route=/items&code=422"))
	waitFor(t, ctx, "the filtered list", `(() => {
		const rows = [...document.querySelectorAll('#list tbody tr')];
		return rows.length === 2 && rows.every((r) => r.querySelector('.c-route').textContent === '/items');
	})()`)
	if v := eval[string](t, ctx, `document.querySelector('#f-route').value + ' ' + document.querySelector('.chip[aria-pressed=true]').dataset.code`); v != "/items 422" {
		t.Errorf("filters shown: %q", v)
	}

	// The 401 shows which header was removed.
	step(t, ctx, "open the 401", chromedp.Navigate(s.AdminURL+"/?capture="+unauthorized))
	waitFor(t, ctx, "the 401", `!!document.querySelector('#detail .d-body')`)
	markers = eval[[]string](t, ctx, `[...document.querySelectorAll('#detail mark.redacted')].map((e) => e.textContent)`)
	if !slices.Contains(markers, "removed: Authorization") {
		t.Errorf("redaction markers %q lack removed: Authorization", markers)
	}

	// Captured markup is shown, as text, and never runs.
	for _, id := range []string{markup, only422[0].ID} {
		step(t, ctx, "open the capture with markup", chromedp.Navigate(s.AdminURL+"/?capture="+id))
		waitFor(t, ctx, "the capture", `!!document.querySelector('#detail .d-body')`)
		time.Sleep(300 * time.Millisecond) // time for an onerror or onload to fire
		checkNothingRan(t, ctx)
	}
	step(t, ctx, "open the capture with markup", chromedp.Navigate(s.AdminURL+"/?capture="+markup))
	waitFor(t, ctx, "the capture", `!!document.querySelector('#detail .d-body')`)
	text := eval[string](t, ctx, `document.querySelector('#detail').textContent`)
	for _, p := range []string{xss[0], `<img src=x onerror=\"window.__pwned=1\">`, xss[1]} {
		if !strings.Contains(text, p) {
			t.Errorf("payload %s is not shown as text", p)
		}
	}
	checkNothingRan(t, ctx)
	screenshot(t, ctx, "page-markup.png")
}

// checkActions uses the open capture's buttons: copy as curl (to the
// clipboard, or into a dialog where the clipboard is refused), the replay
// command, and the HAR download.
func checkActions(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	step(t, ctx, "copy as curl", chromedp.Click(chromedp.CSS(`#detail .actions button.primary`)))
	waitFor(t, ctx, "the curl command", `document.querySelector('#toast').textContent === 'Copied the curl command.' || document.querySelector('#text-dialog').open`)
	if eval[bool](t, ctx, `document.querySelector('#text-dialog').open`) {
		if text := eval[string](t, ctx, `document.querySelector('#text-body').value`); !strings.HasPrefix(text, "# faultline capture "+id) || !strings.Contains(text, "curl ") {
			t.Errorf("curl command:\n%s", text)
		}
		step(t, ctx, "close the dialog", chromedp.Click(chromedp.CSS(`#text-dialog [data-close]`)))
	} else {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		text, err := chromedp.Run(rctx, chromedp.Evaluate[string](`navigator.clipboard.readText().catch(() => '')`, chromedp.EvalAwaitPromise))
		cancel()
		if err != nil || (text != "" && !strings.HasPrefix(text, "# faultline capture "+id)) {
			t.Errorf("clipboard: %v\n%s", err, text)
		}
	}

	step(t, ctx, "replay command", chromedp.Click(chromedp.CSS(`#detail button[aria-controls=replay-panel]`)))
	replay := eval[string](t, ctx, `document.querySelector('#replay-panel pre').textContent`)
	for _, want := range []string{"faultline captures replay " + id, "--to 'http://localhost:8000'", "--set-field 'password=REPLACE_ME'"} {
		if !strings.Contains(replay, want) {
			t.Errorf("replay command lacks %q:\n%s", want, replay)
		}
	}

	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir,
	}); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "download HAR", chromedp.Click(chromedp.CSS(`#detail .actions button:nth-child(2)`)))
	file := filepath.Join(dir, "faultline-"+id+".har")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(file)
		var har struct{ Log struct{ Version string } }
		if err == nil && json.Unmarshal(b, &har) == nil {
			if har.Log.Version != "1.2" {
				t.Errorf("HAR version %q", har.Log.Version)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HAR downloaded to %s: %v", file, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrowserToken checks the page against an admin API with a token: it
// asks once, keeps the token in session storage only, sends it as a bearer
// header to the API and the live stream, and never puts it in a URL.
//
// It serves the page in-process: the page's own files go through without
// the token (page.Public), everything else through the admin API's check.
func TestBrowserToken(t *testing.T) {
	const token = "tok-7c1f0e-page-test"
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	put := func(status int, path string) {
		at := time.Now()
		c := &capture.Capture{ID: capture.NewID(at), Time: at, Route: "/items", DurationMS: 3.2, TraceID: traceID,
			Request:  capture.Request{Method: "POST", URL: path, Headers: []capture.Field{{Name: "Authorization", Value: capture.Placeholder}}},
			Response: capture.Response{Status: status, Body: capture.Body{Text: `{"detail":"Not authenticated"}`}},
			Redacted: []capture.Redaction{{Where: capture.WhereRequestHeader, Name: "Authorization"}}}
		if _, err := st.Put(context.Background(), []*capture.Capture{c}); err != nil {
			t.Fatal(err)
		}
	}
	put(401, "/items/first")

	pageHandler := capturepage.Handler(st, capturepage.Options{
		PollInterval: 100 * time.Millisecond,
		TraceURL:     "http://jaeger.example:16686/trace/{trace_id}?from=faultline",
	})
	api := admin.New(st, admin.Options{Token: token, Page: pageHandler})
	var mu sync.Mutex
	var seen []string // every request: URL, and whether it had the token
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s auth=%v", r.URL.String(), r.Header.Get("Authorization") == "Bearer "+token))
		mu.Unlock()
		if capturepage.Public(r) {
			pageHandler.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ctx := newBrowser(t)

	step(t, ctx, "open the page", chromedp.Navigate(srv.URL+"/?code=4xx"))
	step(t, ctx, "the token dialog", chromedp.WaitVisible(chromedp.ID("token-input")))
	step(t, ctx, "enter the token", chromedp.SendKeys(chromedp.ID("token-input"), token+"\n"))
	waitFor(t, ctx, "the list", `document.querySelectorAll('#list tbody tr').length === 1`)
	waitFor(t, ctx, "live updates", `document.querySelector('#live').dataset.state === 'on'`)
	put(401, "/items/second")
	waitFor(t, ctx, "the live row", `document.querySelectorAll('#list tbody tr').length === 2`)

	if got := eval[string](t, ctx, `sessionStorage.getItem('faultline.adminToken')`); got != token {
		t.Errorf("session storage holds %q", got)
	}
	if n := eval[int](t, ctx, `localStorage.length`); n != 0 {
		t.Errorf("local storage has %d items", n)
	}

	// The trace id links to the trace.
	step(t, ctx, "open a capture", chromedp.Click(chromedp.CSS(`#list tbody tr:first-child`)))
	waitFor(t, ctx, "the capture", `!!document.querySelector('#detail .d-body')`)
	if href := eval[string](t, ctx, `document.querySelector('#detail .meta a').href`); href != "http://jaeger.example:16686/trace/"+traceID+"?from=faultline" {
		t.Errorf("trace link %q", href)
	}

	// A reload in the same tab asks no more.
	step(t, ctx, "reload", chromedp.Navigate(srv.URL+"/"))
	waitFor(t, ctx, "the list again", `document.querySelectorAll('#list tbody tr').length === 2`)
	if open := eval[bool](t, ctx, `document.querySelector('#token-dialog').open`); open {
		t.Error("the token was asked for again")
	}
	checkNothingRan(t, ctx)

	mu.Lock()
	defer mu.Unlock()
	var apiCalls, streams int
	for _, r := range seen {
		if strings.Contains(r, token) {
			t.Errorf("the token is in a URL: %s", r)
		}
		if strings.HasPrefix(r, "/api/") && strings.HasSuffix(r, "auth=true") {
			apiCalls++
		}
		if strings.HasPrefix(r, "/events") && strings.HasSuffix(r, "auth=true") {
			streams++
		}
	}
	if apiCalls == 0 || streams == 0 {
		t.Errorf("token sent on %d API calls and %d streams:\n%s", apiCalls, streams, strings.Join(seen, "\n"))
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
