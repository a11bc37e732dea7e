// Package e2e runs the faultline binary in front of a real FastAPI app,
// started exactly as in production:
//
//	gunicorn -w 2 -k uvicorn.workers.UvicornWorker main:app
//
// with Debian's python3-fastapi, python3-uvicorn and gunicorn. The tests
// need those installed (the README's test command installs them); with
// -short they are skipped.
package e2e

import (
	"flag"
	"fmt"
	"github.com/faultline-dev/faultline/internal/testkit"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "faultline-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "faultline")
	build := exec.Command("go", "build", "-o", binary, "../cmd/faultline")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build faultline:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test (needs gunicorn and FastAPI)")
	}
	if _, err := exec.LookPath("gunicorn"); err != nil {
		t.Fatal("gunicorn is not installed: run the README's test command, which installs python3-fastapi python3-uvicorn gunicorn")
	}
}

// app is a running gunicorn.
type app struct {
	Addr string
	URL  string
	cmd  *exec.Cmd
	log  *syncBuffer
}

// startApp runs the FastAPI test app under gunicorn on addr ("" picks one)
// and waits until it answers.
func startApp(t *testing.T, addr string) *app {
	t.Helper()
	needE2E(t)
	if addr == "" {
		addr = testkit.FreeAddr(t)
	}
	a := &app{Addr: addr, URL: "http://" + addr, log: &syncBuffer{}}
	a.cmd = exec.Command("gunicorn", "-w", "2", "-k", "uvicorn.workers.UvicornWorker",
		"-b", addr, "--graceful-timeout", "5", "main:app")
	a.cmd.Dir = "../testdata/fastapi"
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(a.URL + "/openapi.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return a
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gunicorn did not answer on %s:\n%s", addr, a.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *app) stop() {
	if a.cmd.Process == nil || a.cmd.ProcessState != nil {
		return
	}
	syscall.Kill(-a.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// sidecar is a running faultline binary.
type sidecar struct {
	URL, MetricsURL, AdminURL string
	cmd                       *exec.Cmd
	Stdout, Stderr            *syncBuffer
	exited                    chan struct{}
}

// startSidecar runs `faultline run` with args (ports picked by the kernel
// unless given) and waits for its "faultline serving" line.
func startSidecar(t *testing.T, args ...string) *sidecar {
	t.Helper()
	return startSidecarEnv(t, nil, args...)
}

// startSidecarEnv is startSidecar with extra environment variables.
func startSidecarEnv(t *testing.T, env []string, args ...string) *sidecar {
	t.Helper()
	needE2E(t)
	base := []string{"run", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--data-dir", t.TempDir()}
	s := &sidecar{Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(binary, append(base, args...)...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = s.Stdout, s.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("sidecar stderr:\n%s", s.Stderr.String())
		}
	})
	deadline := time.After(15 * time.Second)
	for {
		if l, ok := testkit.ServingLine(s.Stderr.String()); ok {
			s.URL, s.MetricsURL = "http://"+l.Listen, "http://"+l.Metrics
			if l.Admin != "" {
				s.AdminURL = "http://" + l.Admin
			}
			return s
		}
		select {
		case <-s.exited:
			t.Fatalf("sidecar exited: %v\n%s", s.cmd.ProcessState, s.Stderr.String())
		case <-deadline:
			t.Fatalf("sidecar did not start:\n%s", s.Stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *sidecar) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("sidecar did not stop on SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("sidecar exited %d:\n%s", code, s.Stderr.String())
	}
}

// waitReady polls /readyz until it answers want.
func (s *sidecar) waitReady(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.MetricsURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never answered %d", want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitRoutes waits until the sidecar has learned the app's routes: a
// request for a templated path is labelled with its template.
func (s *sidecar) waitRoutes(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		do(t, "GET", s.URL+"/items/1", nil, nil)
		if scrape(t, s.MetricsURL)[`faultline_http_requests_total{code="200",method="GET",route="/items/{item_id}"}`] > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("routes were not learned from /openapi.json")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// do sends a request and returns status and body.
func do(t *testing.T, method, url string, body io.Reader, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// samples are a scrape of /metrics (see testkit.Samples).
type samples = testkit.Samples

// scrape reads /metrics in the text format.
func scrape(t *testing.T, metricsURL string) samples {
	t.Helper()
	s, err := testkit.Scrape(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// delta returns after-before for every series that changed.
func delta(before, after samples) samples {
	d := samples{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// syncBuffer is a buffer a process writes while the test reads it.
type syncBuffer = testkit.Buffer

// peakRSS returns the process's peak resident set size in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
