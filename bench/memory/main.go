// Command memory reports faultline's resident memory in three states, in
// front of bench/upstream on loopback: idle, holding 1,000 keep-alive client
// connections (and while all of them send a request at once), and with
// 10,000 captures stored. See bench/README.md, section Memory.
//
//	go run ./bench/memory [--connections 1000] [--captures 10000] [--json out.json]
//
// It builds bench/upstream and ./cmd/faultline into a temp dir, reads VmRSS
// and VmHWM from /proc/PID/status (Linux only), and prints a Markdown table
// on stdout, progress on stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/bench/internal/cli"
	"github.com/faultline-dev/faultline/bench/internal/gobuild"
)

// goalMiB is the memory goal of the issue: every state at most 64 MiB.
const goalMiB = 64

func main() { cli.Main("memory", run) }

type options struct {
	connections  int
	captures     int
	idle         time.Duration
	jsonFile     string
	faultlineBin string
	keepTmp      bool
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("memory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.connections, "connections", 1000, "keep-alive client connections of state 2")
	fs.IntVar(&o.captures, "captures", 10000, "captures stored in state 3 (faultline keeps 10000 by default)")
	fs.DurationVar(&o.idle, "idle", 2*time.Second, "idle time before the idle measurement")
	fs.StringVar(&o.jsonFile, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.faultlineBin, "faultline-bin", "", "use this faultline binary instead of building ./cmd/faultline")
	fs.BoolVar(&o.keepTmp, "keep-tmp", false, "keep the temp dir (binaries, logs, capture stores)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.connections < 1 || o.captures < 1 {
		return o, errors.New("--connections and --captures must be positive")
	}
	return o, nil
}

// row is one measured state.
type row struct {
	State string `json:"state"`
	// From /proc/PID/status, in KiB. For the peak state, VmRSS is the
	// highest value sampled during the bursts.
	VmRSSKiB   int64 `json:"vmrss_kib"`
	VmHWMKiB   int64 `json:"vmhwm_kib"`
	RssAnonKiB int64 `json:"rss_anon_kib"`
	RssFileKiB int64 `json:"rss_file_kib"`
	Threads    int64 `json:"threads"`
	// FDs is the number of open file descriptors; for the peak state, the
	// most sampled during the bursts.
	FDs int `json:"open_fds"`
	// From faultline's /metrics, read right after /proc.
	HeapInuseBytes  float64 `json:"go_heap_inuse_bytes"`
	StackInuseBytes float64 `json:"go_stack_inuse_bytes"`
	GoSysBytes      float64 `json:"go_sys_bytes"`
	// HeapIdleBytes minus HeapReleasedBytes is free Go heap the runtime
	// still holds resident (returned to the OS later by the scavenger).
	HeapIdleBytes     float64 `json:"go_heap_idle_bytes"`
	HeapReleasedBytes float64 `json:"go_heap_released_bytes"`
	Goroutines        float64 `json:"go_goroutines"`
	WithinGoal        bool    `json:"within_goal"`
}

type result struct {
	Command          string            `json:"command"`
	FaultlineArgs    map[string]string `json:"faultline_args"`
	GoVersion        string            `json:"go_version"`
	FaultlineVersion string            `json:"faultline_version"`
	CPUs             int               `json:"cpus"`
	Kernel           string            `json:"kernel"`
	Rows             []row             `json:"rows"`
	Notes            []string          `json:"notes"`
}

// env is one run: its temp dir, binaries and servers.
type env struct {
	opts     options
	log      io.Writer
	tmp      string
	bin      map[string]string
	upstream string // host:port
	procs    []*proc
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "memory: "+format+"\n", args...)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if runtime.GOOS != "linux" {
		return errors.New("needs Linux: it reads /proc/PID/status")
	}
	e := &env{opts: opts, log: stderr, bin: map[string]string{}}
	defer e.cleanup()
	if err := e.prepare(ctx); err != nil {
		return err
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	res := result{
		Command:       strings.TrimSpace("go run ./bench/memory " + strings.Join(args, " ")),
		FaultlineArgs: map[string]string{},
		GoVersion:     runtime.Version(),
		CPUs:          runtime.NumCPU(),
		Kernel:        strings.TrimSpace(string(kernel)),
	}
	if out, err := exec.CommandContext(ctx, e.bin["faultline"], "version").CombinedOutput(); err == nil {
		res.FaultlineVersion, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}

	// States 1 and 2 share one faultline: connections come after idle.
	a, addrs, err := e.startFaultline(ctx, "faultline-a")
	if err != nil {
		return err
	}
	res.FaultlineArgs["idle, connections"] = shellJoin(a.Argv)
	rows, notes, err := e.idleAndConnections(ctx, a, addrs)
	res.Rows, res.Notes = append(res.Rows, rows...), append(res.Notes, notes...)
	if err != nil {
		return err
	}
	a.Stop(5 * time.Second)

	// State 3 gets a fresh faultline, so that its VmHWM is its own, with a
	// rate limit high enough to store every failing request.
	b, addrs, err := e.startFaultline(ctx, "faultline-b", "--capture-rate", "1000000")
	if err != nil {
		return err
	}
	res.FaultlineArgs["captures"] = shellJoin(b.Argv)
	r, notes, err := e.captures(ctx, b, addrs)
	res.Notes = append(res.Notes, notes...)
	if err != nil {
		return err
	}
	res.Rows = append(res.Rows, r)

	writeMarkdown(stdout, res)
	if opts.jsonFile != "" {
		out, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(opts.jsonFile, append(out, '\n'), 0o644); err != nil {
			return err
		}
		e.logf("wrote %s", opts.jsonFile)
	}
	return nil
}

// prepare builds the binaries and starts the upstream.
func (e *env) prepare(ctx context.Context) error {
	tmp, err := os.MkdirTemp("", "faultline-memory-")
	if err != nil {
		return err
	}
	e.tmp = tmp
	if e.opts.keepTmp {
		e.logf("temp dir (kept): %s", tmp)
	}
	root, err := gobuild.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	e.bin["upstream"] = filepath.Join(tmp, "bin", "upstream")
	e.logf("building bench/upstream")
	if err := gobuild.Build(ctx, root, e.bin["upstream"], "./bench/upstream"); err != nil {
		return err
	}
	if p := e.opts.faultlineBin; p != "" {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("--faultline-bin: %w", err)
		}
		e.bin["faultline"] = p
	} else {
		e.bin["faultline"] = filepath.Join(tmp, "bin", "faultline")
		e.logf("building ./cmd/faultline")
		if err := gobuild.Build(ctx, root, e.bin["faultline"], "./cmd/faultline"); err != nil {
			return err
		}
	}
	up, err := startProc("upstream", []string{e.bin["upstream"], "--listen", "127.0.0.1:0"}, os.Environ(), filepath.Join(tmp, "upstream.log"))
	if err != nil {
		return err
	}
	e.procs = append(e.procs, up)
	e.upstream, err = up.waitLine(ctx, 20*time.Second, func(line string) string {
		s, _ := strings.CutPrefix(strings.TrimSpace(line), "upstream listening on ")
		if s == strings.TrimSpace(line) { // no prefix
			return ""
		}
		return s
	})
	if err != nil {
		return err
	}
	e.logf("upstream on %s", e.upstream)
	return nil
}

// startFaultline starts faultline in front of the upstream, every listener
// on a free loopback port, and waits until it logs its addresses.
func (e *env) startFaultline(ctx context.Context, name string, extra ...string) (*proc, faultlineAddrs, error) {
	dir := filepath.Join(e.tmp, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, faultlineAddrs{}, err
	}
	argv := append([]string{e.bin["faultline"], "run",
		"--upstream", "http://" + e.upstream,
		"--listen", "127.0.0.1:0",
		"--metrics-listen", "127.0.0.1:0",
		"--admin-listen", "127.0.0.1:0",
		"--access-log", "off",
		"--data-dir", filepath.Join(dir, "data"),
	}, extra...)
	p, err := startProc(name, argv, cleanEnv(os.Environ()), filepath.Join(dir, "output.log"))
	if err != nil {
		return nil, faultlineAddrs{}, err
	}
	e.procs = append(e.procs, p)
	var addrs faultlineAddrs
	_, err = p.waitLine(ctx, 20*time.Second, func(line string) string {
		if a, ok := servingLine(line); ok {
			addrs = a
			return a.Listen
		}
		return ""
	})
	if err != nil {
		return nil, addrs, err
	}
	e.logf("%s (pid %d) on %s, metrics %s, admin %s", name, p.Pid(), addrs.Listen, addrs.Metrics, addrs.Admin)
	return p, addrs, nil
}

// warmUp sends a few ordinary requests on one connection and scrapes
// /metrics once, as Prometheus would.
func warmUp(ctx context.Context, addrs faultlineAddrs) error {
	c, err := dial(ctx, addrs.Listen)
	if err != nil {
		return err
	}
	defer c.close()
	req := getRequest(addrs.Listen, "/items/42")
	for range 20 {
		if code, err := c.do(req); err != nil || code != http.StatusOK {
			return fmt.Errorf("warm-up: status %d, %v", code, err)
		}
	}
	_, err = scrape(ctx, "http://"+addrs.Metrics+"/metrics")
	return err
}

// measure reads /proc first, then /metrics (whose scrape allocates).
func measure(ctx context.Context, p *proc, addrs faultlineAddrs, state string) (row, error) {
	st, err := readStatus(p.Pid())
	if err != nil {
		return row{}, fmt.Errorf("%s: %w", state, err)
	}
	r := row{State: state, VmRSSKiB: st.VmRSS, VmHWMKiB: st.VmHWM, RssAnonKiB: st.RssAnon, RssFileKiB: st.RssFile, Threads: st.Threads, FDs: countFDs(p.Pid())}
	text, err := scrape(ctx, "http://"+addrs.Metrics+"/metrics")
	if err != nil {
		return r, fmt.Errorf("%s: %w", state, err)
	}
	r.HeapInuseBytes = metricSum(text, "go_memstats_heap_inuse_bytes")
	r.StackInuseBytes = metricSum(text, "go_memstats_stack_inuse_bytes")
	r.GoSysBytes = metricSum(text, "go_memstats_sys_bytes")
	r.HeapIdleBytes = metricSum(text, "go_memstats_heap_idle_bytes")
	r.HeapReleasedBytes = metricSum(text, "go_memstats_heap_released_bytes")
	r.Goroutines = metricSum(text, "go_goroutines")
	r.WithinGoal = r.VmRSSKiB <= goalMiB<<10
	return r, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// idleAndConnections measures states 1 and 2 on one faultline.
func (e *env) idleAndConnections(ctx context.Context, p *proc, addrs faultlineAddrs) ([]row, []string, error) {
	var rows []row
	var notes []string
	if err := warmUp(ctx, addrs); err != nil {
		return nil, nil, err
	}
	if err := sleep(ctx, e.opts.idle); err != nil {
		return nil, nil, err
	}
	r, err := measure(ctx, p, addrs, "idle")
	if err != nil {
		return nil, nil, err
	}
	rows = append(rows, r)
	e.logf("idle: VmRSS %s MiB", mib(r.VmRSSKiB))

	n := e.opts.connections
	req := getRequest(addrs.Listen, "/items/42")
	t0 := time.Now()
	conns, err := openConns(ctx, addrs.Listen, n, 50, req)
	if err != nil {
		return rows, notes, fmt.Errorf("opening %d connections: %w", n, err)
	}
	defer closeConns(conns)
	e.logf("%d connections open, one request each, in %s", n, time.Since(t0).Round(time.Millisecond))
	if err := sleep(ctx, time.Second); err != nil {
		return rows, notes, err
	}
	r, err = measure(ctx, p, addrs, fmt.Sprintf("%s keep-alive connections, idle", count(n)))
	if err != nil {
		return rows, notes, err
	}
	rows = append(rows, r)
	e.logf("%d connections: VmRSS %s MiB", n, mib(r.VmRSSKiB))

	// Sample VmRSS while every connection sends at once: the process's
	// peak is short, so VmHWM read afterwards is the reliable figure.
	var peak int64
	var peakFDs int
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			if st, err := readStatus(p.Pid()); err == nil {
				peak = max(peak, st.VmRSS)
			}
			if i%4 == 0 { // a directory of 1,000+ entries: less often
				peakFDs = max(peakFDs, countFDs(p.Pid()))
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	const bursts = 3
	var burstErr error
	for i := range bursts {
		t0 := time.Now()
		if burstErr = burst(conns, req); burstErr != nil {
			break
		}
		e.logf("burst %d/%d: %d requests at once in %s", i+1, bursts, n, time.Since(t0).Round(time.Millisecond))
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			burstErr = err
			break
		}
	}
	close(stop)
	wg.Wait()
	if burstErr != nil {
		return rows, notes, fmt.Errorf("burst: %w", burstErr)
	}
	r, err = measure(ctx, p, addrs, fmt.Sprintf("%s connections, all sending at once (peak)", count(n)))
	if err != nil {
		return rows, notes, err
	}
	r.VmRSSKiB = max(peak, r.VmRSSKiB)
	r.FDs = max(peakFDs, r.FDs)
	r.WithinGoal = r.VmRSSKiB <= goalMiB<<10
	rows = append(rows, r)
	notes = append(notes, fmt.Sprintf("peak: %d bursts of %d simultaneous GET /items/42, one per connection; VmRSS and open fds are the highest values sampled every ~1 ms during them (fds beyond the %s client connections are mostly upstream connections), the Go columns are read after the last burst", bursts, n, count(n)))
	e.logf("peak: VmRSS %s MiB, VmHWM %s MiB", mib(r.VmRSSKiB), mib(r.VmHWMKiB))
	return rows, notes, nil
}

// failingRequest is the i-th request of state 3: half are POSTs of a small
// JSON body answered 422, the rest 500s to GETs with a query and to POSTs,
// all on distinct paths.
func failingRequest(host string, i int) (req []byte, want int) {
	switch i % 4 {
	case 0, 1:
		body := fmt.Sprintf(`{"item_id":%d,"name":"widget-%d","price":-%d.5,"tags":["bench","memory"],"quantity":%d}`, i, i, i%100, i%7-3)
		return postRequest(host, fmt.Sprintf("/status/422/items/%d", i), body), 422
	case 2:
		return getRequest(host, fmt.Sprintf("/status/500/users/%d/orders?page=%d&sort=desc", i, i%50)), 500
	default:
		body := fmt.Sprintf(`{"order_id":%d,"user_id":%d,"lines":[{"item_id":%d,"count":%d}]}`, i, i%1000, i%97, i%5+1)
		return postRequest(host, fmt.Sprintf("/status/500/orders/%d/pay", i), body), 500
	}
}

// captureCounts are the capture counters faultline exposes.
type captureCounts struct {
	captured, evicted, dropped float64 // dropped: not stored (queue full, rate limited, store error)
	storeBytes                 float64
}

func readCaptureCounts(ctx context.Context, addrs faultlineAddrs) (captureCounts, error) {
	text, err := scrape(ctx, "http://"+addrs.Metrics+"/metrics")
	if err != nil {
		return captureCounts{}, err
	}
	c := captureCounts{
		captured:   metricSum(text, "faultline_captures_total"),
		evicted:    metricSum(text, "faultline_captures_dropped_total", `reason="evicted"`),
		storeBytes: metricSum(text, "faultline_capture_store_bytes"),
	}
	c.dropped = metricSum(text, "faultline_captures_dropped_total") - c.evicted
	return c, nil
}

// captures measures state 3: it sends failing requests until the store
// holds opts.captures captures, counted from faultline's metrics (stored
// minus evicted), then checks the count through the admin API after
// measuring.
func (e *env) captures(ctx context.Context, p *proc, addrs faultlineAddrs) (row, []string, error) {
	var notes []string
	if err := warmUp(ctx, addrs); err != nil {
		return row{}, nil, err
	}
	const workers = 8
	conns := make([]*conn, workers)
	for i := range conns {
		c, err := dial(ctx, addrs.Listen)
		if err != nil {
			return row{}, nil, err
		}
		conns[i] = c
	}
	defer closeConns(conns)

	target := e.opts.captures
	sent, next := 0, 0
	t0 := time.Now()
	deadline := t0.Add(90 * time.Second)
	var cc captureCounts
	for round := 1; ; round++ {
		stored := int(cc.captured - cc.evicted)
		if stored >= target {
			break
		}
		if time.Now().After(deadline) {
			return row{}, notes, fmt.Errorf("store holds %d captures after %s, want %d", stored, time.Since(t0).Round(time.Second), target)
		}
		need := target - stored
		if err := sendFailing(ctx, conns, addrs.Listen, next, need); err != nil {
			return row{}, notes, err
		}
		next += need
		sent += need
		// Wait until faultline has accounted for every failing response:
		// stored, or dropped and counted.
		for {
			var err error
			if cc, err = readCaptureCounts(ctx, addrs); err != nil {
				return row{}, notes, err
			}
			if int(cc.captured+cc.dropped) >= sent {
				break
			}
			if time.Now().After(deadline) {
				return row{}, notes, fmt.Errorf("faultline accounted for %d of %d failing responses", int(cc.captured+cc.dropped), sent)
			}
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				return row{}, notes, err
			}
		}
		e.logf("captures round %d: sent %d failing requests in all, %d stored, %d dropped, %d evicted",
			round, sent, int(cc.captured), int(cc.dropped), int(cc.evicted))
	}
	closeConns(conns)
	if err := sleep(ctx, time.Second); err != nil {
		return row{}, notes, err
	}
	r, err := measure(ctx, p, addrs, fmt.Sprintf("%s captures stored", count(target)))
	if err != nil {
		return row{}, notes, err
	}
	e.logf("captures: VmRSS %s MiB", mib(r.VmRSSKiB))
	listed, err := countCaptures(ctx, "http://"+addrs.Admin)
	if err != nil {
		return row{}, notes, fmt.Errorf("counting captures through the admin API: %w", err)
	}
	if listed != target {
		return row{}, notes, fmt.Errorf("the admin API lists %d captures, want %d", listed, target)
	}
	notes = append(notes, fmt.Sprintf("captures: %d failing requests (POST 422 with a JSON body, GET and POST 500) on %d keep-alive connections in %s; %d stored, %d dropped (queue full) and re-sent, %d evicted; the admin API lists %d; store on disk %s MiB",
		sent, workers, time.Since(t0).Round(100*time.Millisecond), int(cc.captured), int(cc.dropped), int(cc.evicted), listed, mib(int64(cc.storeBytes)>>10)))
	return r, notes, nil
}

// sendFailing sends n failing requests, numbered from first, spread over conns.
func sendFailing(ctx context.Context, conns []*conn, host string, first, n int) error {
	idx := make(chan int)
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for w, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				req, want := failingRequest(host, i)
				code, err := c.do(req)
				if err == nil && code != want {
					err = fmt.Errorf("request %d: status %d, want %d", i, code, want)
				}
				if err != nil {
					errs[w] = err
					for range idx { // let the feeder finish
					}
					return
				}
			}
		}()
	}
	for i := first; i < first+n && ctx.Err() == nil; i++ {
		idx <- i
	}
	close(idx)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func (e *env) cleanup() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		e.procs[i].Stop(5 * time.Second)
	}
	if e.tmp != "" && !e.opts.keepTmp {
		_ = os.RemoveAll(e.tmp)
	}
}

func mib(kib int64) string { return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64) }

func mibBytes(b float64) string { return strconv.FormatFloat(b/(1<<20), 'f', 1, 64) }

// count writes n with a comma every three digits: 1,000.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// shellJoin writes argv as a shell command line, with the binary's base name.
func shellJoin(argv []string) string {
	words := []string{filepath.Base(argv[0])}
	for _, a := range argv[1:] {
		if a == "" || strings.ContainsAny(a, " '\"\\$`") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

func writeMarkdown(w io.Writer, res result) {
	fmt.Fprintf(w, "## faultline memory\n\n")
	fmt.Fprintf(w, "- command: `%s`\n", res.Command)
	fmt.Fprintf(w, "- %s, %s, %s/%s, %d CPUs, Linux %s\n", orUnknown(res.FaultlineVersion), res.GoVersion, runtime.GOOS, runtime.GOARCH, res.CPUs, res.Kernel)
	for _, k := range []string{"idle, connections", "captures"} {
		if a := res.FaultlineArgs[k]; a != "" {
			fmt.Fprintf(w, "- %s: `%s`\n", k, a)
		}
	}
	fmt.Fprintf(w, "\n| state | VmRSS MiB | VmHWM MiB | goal ≤ %d MiB | RssAnon MiB | RssFile MiB | Go heap in use MiB | Go stacks MiB | goroutines | threads | open fds |\n", goalMiB)
	fmt.Fprintf(w, "|---|---:|---:|:---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range res.Rows {
		goal := "no"
		if r.WithinGoal {
			goal = "yes"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %d | %d |\n", r.State, mib(r.VmRSSKiB), mib(r.VmHWMKiB), goal,
			mib(r.RssAnonKiB), mib(r.RssFileKiB), mibBytes(r.HeapInuseBytes), mibBytes(r.StackInuseBytes), r.Goroutines, r.Threads, r.FDs)
	}
	fmt.Fprintf(w, "\nVmRSS, VmHWM (peak resident set since start), RssAnon and RssFile (mapped file pages: mostly the binary's code) come from /proc/PID/status, open fds from /proc/PID/fd; the goal column checks VmRSS. The Go columns come from faultline's /metrics (go_memstats_heap_inuse_bytes, go_memstats_stack_inuse_bytes, go_goroutines) right after.\n")
	for _, n := range res.Notes {
		fmt.Fprintf(w, "\n- %s", n)
	}
	fmt.Fprintln(w)
}

func orUnknown(s string) string {
	if s == "" {
		return "faultline (version unknown)"
	}
	return s
}
