package reliability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/internal/testkit"
	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

// appLike is a fake upstream that answers like the FastAPI app, quickly:
// /ok is 200, /boom 500, /items a 422 with a pydantic detail.
func appLike(c net.Conn, br *bufio.Reader, req *http.Request) bool {
	io.Copy(io.Discard, req.Body)
	status, body := 200, `{"ok":true}`
	switch {
	case strings.HasPrefix(req.URL.Path, "/boom"):
		status, body = 500, "Internal Server Error"
	case strings.HasPrefix(req.URL.Path, "/items"):
		status, body = 422, `{"detail":[{"loc":["body","price"],"msg":"field required","type":"value_error.missing"}]}`
	}
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", status, http.StatusText(status), len(body), body)
	return status < 500
}

// listCaptures reads the admin API's list.
func listCaptures(t *testing.T, adminURL string) []capture.Summary {
	t.Helper()
	resp, err := noKeepAlive.Get(adminURL + "/api/captures?limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l struct{ Captures []capture.Summary }
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l.Captures
}

func waitCaptured(t *testing.T, adminURL, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, c := range listCaptures(t, adminURL) {
			if c.Path == path {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no capture of %s", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mustPass sends the three kinds of requests and checks each answer is
// exactly what the upstream sent.
func mustPass(t *testing.T, c *http.Client, base, suffix string) {
	t.Helper()
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/ok" + suffix, 200, `{"ok":true}`},
		{"/boom" + suffix, 500, "Internal Server Error"},
		{"/items" + suffix, 422, `{"detail":[{"loc":["body","price"],"msg":"field required","type":"value_error.missing"}]}`},
	} {
		code, body, err := get(c, base+tc.path)
		if err != nil || code != tc.code || body != tc.body {
			t.Fatalf("%s: %d %q %v, want %d %q", tc.path, code, body, err, tc.code, tc.body)
		}
	}
}

// goodStore makes a valid store with a few captures at path.
func goodStore(t *testing.T, path string) {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var cs []*capture.Capture
	for i := range 200 {
		c := &capture.Capture{Route: "/boom", Request: capture.Request{Method: "GET", URL: fmt.Sprintf("/boom/%d", i)}, Response: capture.Response{Status: 500}}
		c.Request.Body.Text = strings.Repeat("body ", 200)
		cs = append(cs, c)
	}
	if _, err := st.Put(context.Background(), cs); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestStoreCorruptAtStart: a store file damaged while the sidecar was
// down does not stop it: the file is moved aside with a warning, a new
// store starts, requests pass and failing ones are captured.
func TestStoreCorruptAtStart(t *testing.T) {
	up := startUpstream(t, appLike)
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, db string)
		movedTo bool // expect a .corrupt-* file
	}{
		{"random bytes", func(t *testing.T, db string) {
			b := make([]byte, 64<<10)
			for i := range b {
				b[i] = byte(rand.Uint32())
			}
			os.WriteFile(db, b, 0o600)
		}, true},
		{"text file", func(t *testing.T, db string) {
			os.WriteFile(db, []byte("this is not a database\n"), 0o600)
		}, true},
		{"truncated", func(t *testing.T, db string) {
			goodStore(t, db)
			fi, _ := os.Stat(db)
			os.Truncate(db, fi.Size()/2)
		}, true},
		{"pages overwritten", func(t *testing.T, db string) {
			goodStore(t, db)
			f, err := os.OpenFile(db, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Keep the header (page 1), trash the b-tree pages.
			junk := bytes.Repeat([]byte{0xA5}, 8192)
			fi, _ := f.Stat()
			for off := int64(4096); off < fi.Size(); off += 3 * 4096 {
				f.WriteAt(junk, off)
			}
		}, true},
		{"empty file", func(t *testing.T, db string) {
			os.WriteFile(db, nil, 0o600)
		}, false},
		{"garbage WAL", func(t *testing.T, db string) {
			goodStore(t, db)
			os.WriteFile(db+"-wal", bytes.Repeat([]byte("not a wal "), 1000), 0o600)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "captures.db")
			tc.damage(t, db)
			s := startSidecar(t, "--upstream", up.URL, "--data-dir", dir, "--routes", routesFile(t, "/boom/{n}", "/ok/{n}", "/items/{n}"))
			c := client(5 * time.Second)
			defer c.CloseIdleConnections()
			mustPass(t, c, s.URL, "/1")
			waitCaptured(t, s.AdminURL, "/boom/1")
			aside, _ := filepath.Glob(db + ".corrupt-*")
			moved := slices.ContainsFunc(aside, func(p string) bool { return !strings.HasSuffix(p, "-wal") })
			if moved != tc.movedTo {
				t.Errorf("moved aside: %v (%v), want %v", moved, aside, tc.movedTo)
			}
			if moved && !strings.Contains(s.Log.String(), "capture store was corrupt") {
				t.Error("no warning that the store was moved aside")
			}
		})
	}
}

// mountTmpfs mounts a tmpfs of size on a new directory and returns it.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	needRoot(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func remount(t *testing.T, dir, mode string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+mode, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v %s", mode, dir, err, out)
	}
}

// mountExt4 mounts a small ext4 image (a loop device) on a new directory:
// unlike a tmpfs, it can be turned read-only under open files, as the
// kernel does to a volume after an I/O error (errors=remount-ro).
func mountExt4(t *testing.T, size string) string {
	t.Helper()
	needRoot(t)
	img := filepath.Join(t.TempDir(), "volume.img")
	dir := t.TempDir()
	for _, args := range [][]string{{"truncate", "-s", size, img}, {"mkfs.ext4", "-q", "-F", img}, {"mount", "-o", "loop", img, dir}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Skipf("cannot mount an ext4 volume: %v: %v %s", args, err, out)
		}
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestStoreReadOnly: a store directory that is read-only at start-up is
// bad input (exit 2, one line naming --data-dir); a volume that turns
// read-only under a running sidecar (an ext4 abort, as after a disk
// error) costs captures only, counted, while requests pass unchanged;
// and once the volume is replaced, a new store starts and captures resume.
func TestStoreReadOnly(t *testing.T) {
	t.Run("at start-up", func(t *testing.T) {
		dir := mountTmpfs(t, "4m")
		remount(t, dir, "ro")
		bin := faultlineBinary(t)
		out, err := exec.Command(bin, "run", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
			"--admin-listen", "127.0.0.1:0", "--data-dir", dir).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("exit %v, want 2\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "faultline: --data-dir: ") || !strings.Contains(last, "read-only") {
			t.Errorf("last line %q does not name --data-dir and say read-only", last)
		}
	})
	t.Run("while running", func(t *testing.T) {
		dir := mountExt4(t, "16M")
		up := startUpstream(t, appLike)
		s := startSidecar(t, "--upstream", up.URL, "--data-dir", dir, "--capture-rate", "1000", "--routes", routesFile(t, "/boom/{n}", "/ok/{n}", "/items/{n}"))
		c := client(5 * time.Second)
		defer c.CloseIdleConnections()
		mustPass(t, c, s.URL, "/1")
		waitCaptured(t, s.AdminURL, "/boom/1")

		remount(t, dir, "abort")
		before := scrape(t, s.MetricsURL)
		for i := range 50 {
			mustPass(t, c, s.URL, fmt.Sprintf("/%d", 100+i))
		}
		after := waitMetric(t, s.MetricsURL, 10*time.Second, "store errors counted", func(m samples) bool {
			return m[`faultline_captures_dropped_total{reason="store_error"}`] > before[`faultline_captures_dropped_total{reason="store_error"}`]
		})
		t.Logf("read-only: %v captures dropped as store_error",
			after[`faultline_captures_dropped_total{reason="store_error"}`]-before[`faultline_captures_dropped_total{reason="store_error"}`])
		if n := strings.Count(s.Log.String(), "capture store failing"); n > 2 {
			t.Errorf("the store failure was logged %d times; want it rate-limited", n)
		}

		// The operator replaces the volume.
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Fatalf("umount: %v %s", err, out)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
			t.Fatalf("mount: %v %s", err, out)
		}
		deadline := time.Now().Add(15 * time.Second)
		for i := 0; ; i++ {
			path := fmt.Sprintf("/boom/%d", 1000+i)
			mustPass(t, c, s.URL, fmt.Sprintf("/%d", 1000+i))
			time.Sleep(300 * time.Millisecond)
			if slices.ContainsFunc(listCaptures(t, s.AdminURL), func(c capture.Summary) bool { return c.Path == path }) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no capture stored after the volume was replaced:\n%s", tail(s.Log.String(), 3000))
			}
		}
	})
}

// TestStoreFullDiskAtStart: the sidecar restarts while the disk under an
// existing store is full. The app's traffic must not depend on the
// capture store: the sidecar starts, requests pass, captures are dropped
// and counted until there is room again, and then stored. (Before the fix
// in sidecar/capture/store, start-up failed with exit 2.)
func TestStoreFullDiskAtStart(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	goodStore(t, filepath.Join(dir, "captures.db"))
	filler := fill(t, dir)
	up := startUpstream(t, appLike)
	p := startBinary(t, nil, "--upstream", up.URL, "--data-dir", dir, "--capture-rate", "1000", "--routes", routesFile(t, "/boom/{n}", "/ok/{n}", "/items/{n}"))
	if !strings.Contains(p.Stderr.String(), "disk is full") {
		t.Error("no warning that the disk is full")
	}
	c := client(5 * time.Second)
	defer c.CloseIdleConnections()
	for i := range 20 {
		mustPass(t, c, p.URL, fmt.Sprintf("/%d", i))
	}
	waitMetric(t, p.MetricsURL, 10*time.Second, "store errors counted", func(m samples) bool {
		return m[`faultline_captures_dropped_total{reason="store_error"}`] > 0
	})
	// Room again: captures resume, the old ones are served.
	os.Remove(filler)
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		path := fmt.Sprintf("/boom/%d", 1000+i)
		mustPass(t, c, p.URL, fmt.Sprintf("/%d", 1000+i))
		time.Sleep(300 * time.Millisecond)
		caps := listCaptures(t, p.AdminURL)
		if slices.ContainsFunc(caps, func(c capture.Summary) bool { return c.Path == path }) {
			if len(caps) < 200 {
				t.Errorf("%d captures served; the 200 stored before the restart are lost", len(caps))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no capture stored once the disk had room:\n%s", tail(p.Stderr.String(), 3000))
		}
	}
}

// fill writes a file that takes all the free space of dir's filesystem,
// and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	for {
		if _, err := f.Write(buf[:512]); err != nil {
			break
		}
	}
	return p
}

// collectorDown is a TCP port with nothing listening.
func collectorDown(t *testing.T) string { return testkit.FreeAddr(t) }

// collectorBlackHole accepts connections and never reads or answers.
func collectorBlackHole(t *testing.T) string {
	addr, _ := testkit.BlackHole(t)
	return addr
}

// TestOTLPCollectorFaults: with every span sampled and the collector down
// or black-holing, requests pass unchanged and fast, the lost spans are
// counted, and SIGTERM still exits promptly and cleanly.
func TestOTLPCollectorFaults(t *testing.T) {
	long(t, "four sidecars under load")
	up := startUpstream(t, appLike)
	for _, tc := range []struct {
		name     string
		protocol string
		addr     func(*testing.T) string
	}{
		{"down grpc", "grpc", collectorDown},
		{"down http", "http/protobuf", collectorDown},
		{"black hole grpc", "grpc", collectorBlackHole},
		{"black hole http", "http/protobuf", collectorBlackHole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{
				"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + tc.addr(t),
				"OTEL_EXPORTER_OTLP_PROTOCOL=" + tc.protocol,
				"OTEL_EXPORTER_OTLP_TIMEOUT=1000",
				"OTEL_TRACES_SAMPLER=always_on",
				"OTEL_BSP_SCHEDULE_DELAY=200",
				"OTEL_BSP_MAX_QUEUE_SIZE=256",
			}
			p := startBinary(t, env, "--upstream", up.URL, "--access-log", "off", "--routes", routesFile(t, "/boom/{n}", "/ok/{n}", "/items/{n}"))
			if !strings.Contains(p.Stderr.String(), "tracing on") {
				t.Fatalf("tracing is not on:\n%s", p.Stderr.String())
			}
			var lat []time.Duration
			var mu sync.Mutex
			var wg sync.WaitGroup
			deadline := time.Now().Add(2 * time.Second)
			for range 4 {
				wg.Go(func() {
					c := client(5 * time.Second)
					defer c.CloseIdleConnections()
					for i := 0; time.Now().Before(deadline); i++ {
						start := time.Now()
						mustPass(t, c, p.URL, fmt.Sprintf("/%d", i))
						mu.Lock()
						lat = append(lat, time.Since(start)/3)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			slices.Sort(lat)
			p99 := lat[len(lat)*99/100]
			t.Logf("%d requests, p50 %v, p99 %v", 3*len(lat), lat[len(lat)/2], p99)
			// A collector that blocked the request path would cost seconds.
			if p99 > 500*time.Millisecond {
				t.Errorf("p99 latency %v with the collector %s", p99, tc.name)
			}
			m := waitMetric(t, p.MetricsURL, 10*time.Second, "spans dropped", func(m samples) bool {
				return m.Sum("faultline_spans_dropped_total") > 0
			})
			t.Logf("spans dropped: export_failed %v, queue_full %v",
				m[`faultline_spans_dropped_total{reason="export_failed"}`], m[`faultline_spans_dropped_total{reason="queue_full"}`])
			at := time.Now()
			p.signal(syscall.SIGTERM)
			code := p.wait(t, 15*time.Second)
			took := time.Since(at)
			t.Logf("exited %v after SIGTERM", took.Round(time.Millisecond))
			if took > 8*time.Second {
				t.Errorf("SIGTERM took %v with the collector %s", took, tc.name)
			}
			if code != 0 {
				t.Errorf("exit code %d", code)
			}
		})
	}
}

// TestAccessLogStalled: the access log's reader (the container runtime's
// log pipe) stops reading, as when the runtime restarts or its disk is
// full. Requests must go on passing at full speed; lines that cannot be
// written are dropped, and the drop is reported once the pipe drains.
func TestAccessLogStalled(t *testing.T) {
	up := startUpstream(t, appLike)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := startBinaryOut(t, w, nil, "--upstream", up.URL, "--routes", routesFile(t, "/boom/{n}", "/ok/{n}", "/items/{n}"))
	w.Close() // the sidecar holds the only write end
	c := client(5 * time.Second)
	defer c.CloseIdleConnections()
	// A pipe holds 64 KiB, the sidecar's backlog 1 MiB: about 6 500 lines
	// of 170 bytes. Send more.
	const n = 10000
	start := time.Now()
	var slowest time.Duration
	for i := range n {
		t0 := time.Now()
		code, _, err := get(c, fmt.Sprintf("%s/ok/%d", p.URL, i))
		if err != nil || code != 200 {
			t.Fatalf("request %d with the access log stalled: %d %v", i, code, err)
		}
		slowest = max(slowest, time.Since(t0))
	}
	t.Logf("%d requests with the access log pipe full: %v, slowest %v", n, time.Since(start).Round(time.Millisecond), slowest.Round(time.Microsecond))
	// The reader comes back: the backlog, a note of the drop, and new
	// lines arrive.
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		got <- string(b)
	}()
	time.Sleep(200 * time.Millisecond)
	if code, _, err := get(c, p.URL+"/ok/final"); err != nil || code != 200 {
		t.Fatalf("after the reader came back: %d %v", code, err)
	}
	time.Sleep(200 * time.Millisecond)
	p.signal(syscall.SIGTERM)
	p.wait(t, 10*time.Second)
	out := <-got
	t.Logf("%d lines reached the log", strings.Count(out, "\n"))
	if !strings.Contains(out, `"msg":"access log lines dropped"`) {
		t.Error("no line reports the dropped lines")
	}
	if !strings.Contains(out, `"path":"/ok/final"`) {
		t.Error("the line of the request after the reader came back is missing")
	}
}

// TestSidecarLogStalled: the sidecar's own log (stderr) stops being read.
// Failing requests each log a warning; they must not block on it.
func TestSidecarLogStalled(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	bin := faultlineBinary(t)
	cmd := exec.Command(bin, "run", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--data-dir", t.TempDir(), "--upstream", "http://"+testkit.FreeAddr(t), "--access-log", "off", "--routes", routesFile(t, "/x"))
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// Read up to the serving line, then stop reading.
	br := bufio.NewReader(r)
	var l testkit.Serving
	for ok := false; !ok; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		l, ok = testkit.ServingLine(line)
	}
	c := client(3 * time.Second)
	defer c.CloseIdleConnections()
	for i := range 2000 {
		code, _, err := get(c, fmt.Sprintf("http://%s/x/%d", l.Listen, i))
		if err != nil || code != 502 {
			t.Fatalf("request %d with stderr not read: %d %v", i, code, err)
		}
	}
}
