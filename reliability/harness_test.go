// Package reliability proves that faultline is more reliable than the app
// behind it (issue 11): it injects faults on every side of the sidecar —
// the upstream, the clients, the load, the capture store, the OTLP
// collector, the drain — and checks that each ends with the right status,
// counted by source, without a leaked goroutine or a stuck connection.
//
// Two kinds of sidecar are used. Most fault tests run the sidecar in this
// process (server.Start, as `faultline run` does) in front of a scripted
// fake upstream, so that goleak can see every goroutine it starts. Tests
// that need the real thing (gunicorn workers killed or restarted, SIGTERM,
// RSS, file descriptors, OTLP from the environment) build and run the
// faultline binary, as the e2e package does, in front of gunicorn with
// uvicorn workers serving testdata/fastapi.
//
// With -short, the tests that need gunicorn and the long load tests are
// skipped; what is left runs in seconds.
package reliability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/faultline-dev/faultline/internal/testkit"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/sidecar/config"
	"github.com/faultline-dev/faultline/sidecar/server"
)

// runBugs runs the tests of known, reported bugs instead of skipping them:
// go test ./reliability -run X -bugs shows them fail, and pass once fixed.
var runBugs = flag.Bool("bugs", false, "run the tests of reported bugs instead of skipping them")

// bug skips t, which shows a reported bug, unless -bugs is set.
func bug(t *testing.T, msg string) {
	t.Helper()
	if !*runBugs {
		t.Skip("BUG: " + msg + " — see report")
	}
}

// wantFiles is the file descriptor limit the load tests need: 10 000
// client connections and the sidecar's 10 000 server ends, with room.
const wantFiles = 20480

var (
	buildOnce sync.Once
	binDir    string
	binary    string
	buildErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	raiseFileLimit()
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// raiseFileLimit raises RLIMIT_NOFILE to wantFiles (the hard limit too,
// which root may), so that this process and the binaries it starts can
// hold the load tests' connections.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	if lim.Cur >= wantFiles {
		return
	}
	if lim.Max < wantFiles {
		raised := syscall.Rlimit{Cur: wantFiles, Max: wantFiles}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			return
		}
	}
	lim.Cur = lim.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// fileLimit is the soft RLIMIT_NOFILE of this process.
func fileLimit() uint64 {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

// faultlineBinary builds cmd/faultline once for the whole run.
func faultlineBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "faultline-reliability")
		if buildErr != nil {
			return
		}
		binary = filepath.Join(binDir, "faultline")
		out, err := exec.Command("go", "build", "-o", binary, "../cmd/faultline").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build faultline: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// long skips t under -short.
func long(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip("long reliability test (" + what + "); runs without -short")
	}
}

func needGunicorn(t *testing.T) {
	t.Helper()
	long(t, "needs gunicorn and FastAPI")
	if _, err := exec.LookPath("gunicorn"); err != nil {
		t.Fatal("gunicorn is not installed: run ./scripts/test, which installs python3-fastapi python3-uvicorn gunicorn")
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount); CI runs as root")
	}
}

// ---------------------------------------------------------------------
// gunicorn

// app is a running gunicorn serving testdata/fastapi.
type app struct {
	Addr, URL string
	cmd       *exec.Cmd
	log       *syncBuffer
	exited    chan struct{}
}

// startApp runs the FastAPI test app as in production, on addr ("" picks
// one), and waits until it answers.
func startApp(t *testing.T, addr string, extra ...string) *app {
	t.Helper()
	needGunicorn(t)
	if addr == "" {
		addr = testkit.FreeAddr(t)
	}
	a := &app{Addr: addr, URL: "http://" + addr, log: &syncBuffer{}, exited: make(chan struct{})}
	args := append([]string{"-w", "2", "-k", "uvicorn.workers.UvicornWorker", "-b", addr, "--graceful-timeout", "5"}, extra...)
	a.cmd = exec.Command("gunicorn", append(args, "main:app")...)
	a.cmd.Dir = "../testdata/fastapi"
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(a.stop)
	a.waitUp(t, 30*time.Second)
	return a
}

func (a *app) waitUp(t *testing.T, d time.Duration) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	deadline := time.Now().Add(d)
	for {
		resp, err := c.Get(a.URL + "/openapi.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gunicorn did not answer on %s:\n%s", a.Addr, a.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends gunicorn gracefully (SIGTERM to its process group), then by force.
func (a *app) stop() {
	if a.cmd.Process == nil {
		return
	}
	select {
	case <-a.exited:
		return
	default:
	}
	syscall.Kill(-a.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		<-a.exited
	}
}

// workers returns the pids of gunicorn's worker processes.
func (a *app) workers(t *testing.T) []int {
	t.Helper()
	out, err := exec.Command("pgrep", "-P", fmt.Sprint(a.cmd.Process.Pid)).Output()
	if err != nil {
		t.Fatalf("pgrep workers of %d: %v", a.cmd.Process.Pid, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		var p int
		fmt.Sscan(f, &p)
		pids = append(pids, p)
	}
	return pids
}

// ---------------------------------------------------------------------
// the faultline binary

// proc is a running faultline binary.
type proc struct {
	URL, MetricsURL, AdminURL string
	Addr                      string
	cmd                       *exec.Cmd
	Stdout, Stderr            *syncBuffer
	exited                    chan struct{}
}

// startBinary runs `faultline run` with args (loopback ports picked by the
// kernel unless given) and env, and waits for its "faultline serving" line.
func startBinary(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startBinaryOut(t, nil, env, args...)
}

// startBinaryOut is startBinary with the sidecar's stdout (the access
// log) going to stdout; nil keeps it in p.Stdout.
func startBinaryOut(t *testing.T, stdout io.Writer, env []string, args ...string) *proc {
	t.Helper()
	bin := faultlineBinary(t)
	base := []string{"run", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--drain-timeout", "10s"}
	p := &proc{Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append(base, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.Stdout, p.Stderr
	if stdout != nil {
		p.cmd.Stdout = stdout
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("sidecar stderr:\n%s", tail(p.Stderr.String(), 4000))
		}
	})
	deadline := time.After(20 * time.Second)
	for {
		if l, ok := testkit.ServingLine(p.Stderr.String()); ok {
			p.Addr = l.Listen
			p.URL, p.MetricsURL = "http://"+l.Listen, "http://"+l.Metrics
			if l.Admin != "" {
				p.AdminURL = "http://" + l.Admin
			}
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("sidecar exited: %v\n%s", p.cmd.ProcessState, p.Stderr.String())
		case <-deadline:
			t.Fatalf("sidecar did not start:\n%s", p.Stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// signal sends sig to the sidecar.
func (p *proc) signal(sig os.Signal) { p.cmd.Process.Signal(sig) }

// wait waits up to d for the sidecar to exit and returns its exit code
// (-1 when a signal ended it).
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		t.Fatalf("sidecar still running %v later", d)
	}
	return p.cmd.ProcessState.ExitCode()
}

// status reads /proc/PID/status: VmRSS, VmHWM, Threads... in bytes or counts.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var n int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &n)
			if strings.HasSuffix(strings.TrimSpace(v), "kB") {
				n <<= 10
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// openFiles counts the sidecar's open file descriptors.
func openFiles(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// ---------------------------------------------------------------------
// the sidecar in this process

// sidecar is a sidecar running in this test process: server.Start and
// Run, exactly what `faultline run` does minus the OTLP set-up.
type sidecar struct {
	URL, MetricsURL, AdminURL string
	Addr                      string
	Log, Access               *syncBuffer
	cancel                    context.CancelFunc
	done                      chan error
	stopped                   bool
}

// startSidecar starts an in-process sidecar with the flags args. Its
// listeners are on loopback ports picked by the kernel, its store in a
// temporary directory, and its drain short.
func startSidecar(t *testing.T, args ...string) *sidecar {
	t.Helper()
	base := []string{"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--drain-timeout", "5s", "--log-level", "debug"}
	cfg, err := config.Load(append(base, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	s := &sidecar{Log: &syncBuffer{}, Access: &syncBuffer{}, done: make(chan error, 1)}
	sc, err := server.Start(cfg, server.Deps{
		AccessLog: s.Access,
		Logger:    slog.New(slog.NewJSONHandler(s.Log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry:  prometheus.NewRegistry(),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = sc.Addr()
	s.URL, s.MetricsURL = "http://"+sc.Addr(), "http://"+sc.MetricsAddr()
	if a := sc.AdminAddr(); a != "" {
		s.AdminURL = "http://" + a
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- sc.Run(ctx) }()
	// Run logs this line once it has started every goroutine it keeps, so
	// that a leak baseline taken after startSidecar holds them all.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.Log.String(), `"msg":"faultline serving"`) {
		if time.Now().After(deadline) {
			t.Fatalf("in-process sidecar did not start:\n%s", s.Log.String())
		}
		time.Sleep(time.Millisecond)
	}
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("sidecar log:\n%s", tail(s.Log.String(), 4000))
		}
	})
	return s
}

// stop drains the sidecar and waits for Run to return.
func (s *sidecar) stop(t *testing.T) error {
	t.Helper()
	if s.stopped {
		return nil
	}
	s.stopped = true
	s.cancel()
	select {
	case err := <-s.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("in-process sidecar did not stop")
		return nil
	}
}

// accessLines returns the access log lines, decoded.
func (s *sidecar) accessLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range s.Access.Lines() {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("access log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// waitAccess waits for an access log line for path and returns it.
func (s *sidecar) waitAccess(t *testing.T, path string, d time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, l := range s.accessLines(t) {
			if l["path"] == path {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line for %s within %v:\n%s", path, d, s.Access.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leakBaseline is the set of goroutines running once the sidecar is up:
// checkNoLeak passes when the goroutines are back to it.
func leakBaseline() goleak.Option { return goleak.IgnoreCurrent() }

// warmBaseline makes one request to url and drops c's idle connections,
// so that what a first request starts for good (pools, the health probe)
// is part of the leak baseline it then returns.
func warmBaseline(t *testing.T, c *http.Client, url string) goleak.Option {
	t.Helper()
	if code, _, err := get(c, url); err != nil || code != 200 {
		t.Fatalf("warm-up: %d %v", code, err)
	}
	c.CloseIdleConnections()
	return leakBaseline()
}

// checkNoLeak waits up to 10 s for every goroutine started since baseline
// to end, apart from the fake upstreams' (the test's own) and the
// sidecar's health probe, which runs on its own schedule.
func checkNoLeak(t *testing.T, baseline goleak.Option) {
	t.Helper()
	opts := []goleak.Option{baseline,
		goleak.IgnoreAnyFunction("github.com/faultline-dev/faultline/reliability.(*fakeUpstream).serve"),
		goleak.IgnoreAnyFunction("github.com/faultline-dev/faultline/reliability.(*fakeUpstream).serveConn"),
		goleak.IgnoreAnyFunction("github.com/faultline-dev/faultline/sidecar/health.(*Prober).probe"),
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := goleak.Find(opts...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("goroutines leaked:\n%v", err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------
// a scripted upstream

// fakeUpstream is an HTTP/1.1 upstream that misbehaves on purpose: it
// reads each request head and hands the connection to a script.
type fakeUpstream struct {
	ln   net.Listener
	Addr string
	URL  string
	// script answers one request. It returns false to end the connection
	// (the harness then closes it).
	script func(c net.Conn, br *bufio.Reader, req *http.Request) bool

	requests atomic.Int64
	mu       sync.Mutex
	conns    map[net.Conn]bool
	heads    []string // raw request heads, in order
	wg       sync.WaitGroup
	closed   atomic.Bool
}

// startUpstream starts a fake upstream running script for every request.
func startUpstream(t *testing.T, script func(c net.Conn, br *bufio.Reader, req *http.Request) bool) *fakeUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &fakeUpstream{ln: ln, Addr: ln.Addr().String(), URL: "http://" + ln.Addr().String(), script: script, conns: map[net.Conn]bool{}}
	u.wg.Add(1)
	go u.serve()
	t.Cleanup(u.Close)
	return u
}

func (u *fakeUpstream) serve() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.mu.Lock()
		if u.closed.Load() {
			u.mu.Unlock()
			c.Close()
			return
		}
		u.conns[c] = true
		u.wg.Add(1)
		u.mu.Unlock()
		go u.serveConn(c)
	}
}

func (u *fakeUpstream) serveConn(c net.Conn) {
	defer u.wg.Done()
	defer func() {
		c.Close()
		u.mu.Lock()
		delete(u.conns, c)
		u.mu.Unlock()
	}()
	rec := &recordingReader{r: c}
	br := bufio.NewReader(rec)
	for {
		rec.start()
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if req.Header.Get("User-Agent") == "faultline-readiness" {
			// The sidecar's readiness probe is not part of any test.
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			return
		}
		u.requests.Add(1)
		u.mu.Lock()
		u.heads = append(u.heads, rec.head())
		u.mu.Unlock()
		if !u.script(c, br, req) {
			return
		}
	}
}

// Close stops the upstream and closes its connections.
func (u *fakeUpstream) Close() {
	if u.closed.Swap(true) {
		return
	}
	u.ln.Close()
	u.mu.Lock()
	for c := range u.conns {
		c.Close()
	}
	u.mu.Unlock()
	u.wg.Wait()
}

// Heads returns the raw request heads received so far.
func (u *fakeUpstream) Heads() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.heads...)
}

// openConns is the number of connections the upstream holds.
func (u *fakeUpstream) openConns() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.conns)
}

// recordingReader keeps the bytes read since start, up to the end of the
// request head, so that tests can see exactly what the sidecar sent.
type recordingReader struct {
	r   io.Reader
	buf bytes.Buffer
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if r.buf.Len() < 64<<10 {
		r.buf.Write(p[:n])
	}
	return n, err
}

func (r *recordingReader) start() { r.buf.Reset() }

func (r *recordingReader) head() string {
	s := r.buf.String()
	if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
		return s[:i+4]
	}
	return s
}

// Scripts.

// answer writes a complete response with body.
func answer(status int, body string) func(net.Conn, *bufio.Reader, *http.Request) bool {
	return func(c net.Conn, br *bufio.Reader, req *http.Request) bool {
		io.Copy(io.Discard, req.Body)
		fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", status, http.StatusText(status), len(body), body)
		return true
	}
}

// reset closes c with an RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// ---------------------------------------------------------------------
// clients

// client returns an HTTP client of its own (so the test can close its
// idle connections before counting goroutines) with a timeout.
func client(timeout time.Duration) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: timeout}
}

// get sends a GET and returns status, body and error.
func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// rawExchange writes raw on a fresh connection to addr and returns all
// the bytes the sidecar answered until it closed the connection or d passed.
func rawExchange(t *testing.T, addr, raw string, d time.Duration) string {
	t.Helper()
	got, _ := rawExchangeClosed(t, addr, raw, d)
	return got
}

// rawExchangeClosed is rawExchange, and reports whether the sidecar closed
// the connection before d passed.
func rawExchangeClosed(t *testing.T, addr, raw string, d time.Duration) (string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	var b bytes.Buffer
	_, err = io.Copy(&b, c)
	var ne net.Error
	timedOut := errors.As(err, &ne) && ne.Timeout()
	return b.String(), !timedOut
}

// ---------------------------------------------------------------------
// metrics

// samples are a scrape of /metrics (see testkit.Samples).
type samples = testkit.Samples

func scrape(t testing.TB, metricsURL string) samples {
	t.Helper()
	s, err := testkit.Scrape(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// noKeepAlive is the client of probes: it leaves no idle connection (and
// no goroutine) behind.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// waitMetric polls until cond holds for the scraped samples.
func waitMetric(t *testing.T, metricsURL string, d time.Duration, what string, cond func(samples) bool) samples {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		s := scrape(t, metricsURL)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------
// small things

// syncBuffer is a buffer a process writes while the test reads it.
type syncBuffer = testkit.Buffer

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// routesFile writes a --routes file of templates and returns its path,
// which keeps in-process sidecars from asking fake upstreams for
// /openapi.json.
func routesFile(t *testing.T, templates ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "routes.txt")
	if err := os.WriteFile(p, []byte(strings.Join(templates, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
