package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline-dev/faultline/bench/internal/gobuild"
)

// bench holds one comparison run: the servers it started and what it measured.
type bench struct {
	opts options
	log  io.Writer

	started  time.Time
	env      benchEnv
	upstream *server
	targets  []*target
	results  map[string]*targetResult
	versions map[string]string
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", args...)
}

// toolSpec says where a tool is usually installed and how it prints its version.
var toolSpec = map[string]struct {
	fallback    string
	versionArgs []string
}{
	"wrk":     {"/usr/bin/wrk", []string{"-v"}},
	"nginx":   {"/usr/sbin/nginx", []string{"-v"}},
	"haproxy": {"/usr/sbin/haproxy", []string{"-v"}},
	"caddy":   {"/usr/bin/caddy", []string{"version"}},
}

// findTool returns the path of tool: the one given by flag, else from $PATH,
// else its usual Debian location.
func findTool(tool, given string) (string, error) {
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", fmt.Errorf("--%s: %w", tool, err)
		}
		return given, nil
	}
	if p, err := exec.LookPath(tool); err == nil {
		return p, nil
	}
	fb := toolSpec[tool].fallback
	if _, err := os.Stat(fb); err == nil {
		return fb, nil
	}
	return "", fmt.Errorf("%s not found in $PATH nor at %s", tool, fb)
}

// toolVersion returns the first line a tool prints about its version,
// trimmed of copyright and URLs, and naming the tool.
func toolVersion(ctx context.Context, name, path string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, args...).CombinedOutput() // wrk -v exits 1
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	line = strings.TrimPrefix(line, "nginx version: ")
	for _, sep := range []string{" [", " - "} { // wrk's "[epoll] Copyright", HAProxy's URL
		if i := strings.Index(line, sep); i > 0 {
			line = line[:i]
		}
	}
	if line != "" && !strings.Contains(strings.ToLower(line), name) {
		line = name + " " + strings.Fields(line)[0] // caddy prints "v2.6.2 h1:..."
	}
	return line
}

// prepare finds the tools, builds the Go servers, starts the upstream and
// every target. A target that cannot start is marked skipped; only a missing
// wrk or upstream stops the run.
func (b *bench) prepare(ctx context.Context) error {
	b.started = time.Now()
	b.results = map[string]*targetResult{}
	b.versions = map[string]string{"go": runtime.Version()}
	targets, err := selectTargets(b.opts.targets, b.opts.variants, b.opts.tls)
	if err != nil {
		return err
	}
	b.targets = targets

	tmp, err := os.MkdirTemp("", "faultline-bench-")
	if err != nil {
		return err
	}
	// nginx drops to an unprivileged user for its workers; let it reach its dir.
	_ = os.Chmod(tmp, 0o755)
	b.env = benchEnv{tmp: tmp, path: b.opts.path, tools: map[string]string{}, missing: map[string]string{}}
	if b.opts.keepTmp {
		b.logf("temp dir (kept): %s", tmp)
	}

	wrk, err := findTool("wrk", b.opts.tools["wrk"])
	if err != nil {
		return fmt.Errorf("cannot measure anything: %w", err)
	}
	b.env.tools["wrk"] = wrk
	b.versions["wrk"] = toolVersion(ctx, "wrk", wrk, "-v")
	kinds := map[string]bool{}
	for _, t := range targets {
		kinds[t.kind] = true
	}
	for _, tool := range []string{"nginx", "haproxy", "caddy"} {
		if !kinds[tool] {
			continue
		}
		p, err := findTool(tool, b.opts.tools[tool])
		if err != nil {
			b.env.missing[tool] = err.Error()
			continue
		}
		b.env.tools[tool] = p
		b.versions[tool] = toolVersion(ctx, tool, p, toolSpec[tool].versionArgs...)
	}

	root, err := gobuild.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	bin := filepath.Join(tmp, "bin")
	b.logf("building bench/upstream")
	if err := gobuild.Build(ctx, root, filepath.Join(bin, "upstream"), "./bench/upstream"); err != nil {
		return err
	}
	if kinds["httputil"] {
		b.logf("building bench/httputilproxy")
		if err := gobuild.Build(ctx, root, filepath.Join(bin, "httputilproxy"), "./bench/httputilproxy"); err != nil {
			b.env.missing["httputil"] = err.Error()
		}
		b.env.tools["httputil"] = filepath.Join(bin, "httputilproxy")
	}
	if kinds["faultline"] {
		if p := b.opts.faultlineBin; p != "" {
			if _, err := os.Stat(p); err != nil {
				b.env.missing["faultline"] = "--faultline-bin: " + err.Error()
			}
			b.env.tools["faultline"] = p
		} else {
			b.logf("building ./cmd/faultline")
			p := filepath.Join(bin, "faultline")
			if err := gobuild.Build(ctx, root, p, "./cmd/faultline"); err != nil {
				b.env.missing["faultline"] = err.Error()
			}
			b.env.tools["faultline"] = p
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.opts.tls {
		if b.env.tlsCert, b.env.tlsKey, err = writeSelfSigned(tmp); err != nil {
			return fmt.Errorf("certificate for --tls: %w", err)
		}
	}

	port, err := freePort()
	if err != nil {
		return fmt.Errorf("free port: %w", err)
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	b.upstream, err = startServer("upstream", []string{filepath.Join(bin, "upstream"), "--listen", listen}, os.Environ(), filepath.Join(tmp, "upstream.log"))
	if err != nil {
		return err
	}
	b.env.upstreamURL = "http://" + listen
	if err := b.upstream.waitReady(ctx, b.env.upstreamURL+b.opts.path, "listening on", 20*time.Second); err != nil {
		return err
	}
	b.logf("upstream on %s", b.env.upstreamURL)

	for _, t := range targets {
		b.results[t.name] = &targetResult{name: t.name, kind: t.kind}
		if err := startTarget(ctx, t, &b.env); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t.skip = err.Error()
			b.results[t.name].skipped = t.skip
			b.logf("%s: skipped: %s", t.name, t.skip)
			continue
		}
		b.logf("%s on %s", t.name, t.url)
	}
	n := len(b.active())
	if n == 0 {
		return errors.New("no target could be started")
	}
	per := b.opts.warmup + b.opts.duration + b.opts.latencyDuration + time.Second
	b.logf("%d targets × %d rounds, about %s", n, b.opts.rounds, (time.Duration(n*b.opts.rounds) * per).Round(time.Second))
	return nil
}

// active returns the targets still being measured, in the configured order.
func (b *bench) active() []*target {
	var ts []*target
	for _, t := range b.targets {
		if t.skip == "" {
			ts = append(ts, t)
		}
	}
	return ts
}

// runRounds measures every active target once per round; each round starts
// one target later than the previous one.
func (b *bench) runRounds(ctx context.Context) {
	for r := range b.opts.rounds {
		for _, t := range rotate(b.active(), r) {
			if t.skip != "" {
				continue
			}
			s, err := b.measure(ctx, t, r+1)
			if ctx.Err() != nil {
				return
			}
			res := b.results[t.name]
			if err != nil {
				var exited bool
				var xerr error
				if t.srv != nil { // nil for direct
					exited, xerr = t.srv.Exited()
				}
				if exited {
					t.skip = fmt.Sprintf("exited in round %d (%v): %s", r+1, xerr, t.srv.LogTail(5))
					res.skipped = t.skip
				} else {
					res.notes = append(res.notes, fmt.Sprintf("round %d not measured: %v", r+1, err))
				}
				b.logf("round %d/%d %s: %v", r+1, b.opts.rounds, t.name, err)
				continue
			}
			res.samples = append(res.samples, s)
			b.logf("round %d/%d %-10s %9s req/s  p50/p99 @%d %s / %s  p50/p99 @1 %s / %s",
				r+1, b.opts.rounds, t.name, fmtCount(&s.Throughput.RequestsPerSec), b.opts.connections,
				fmtLatency(&s.Throughput.P50us), fmtLatency(&s.Throughput.P99us),
				fmtLatency(&s.Latency.P50us), fmtLatency(&s.Latency.P99us))
		}
	}
}

// measure runs the warm-up, the throughput run (with the proxy's CPU time
// read before and after) and the one-connection latency run for one target.
func (b *bench) measure(ctx context.Context, t *target, round int) (sample, error) {
	s := sample{Round: round}
	url := t.url + b.opts.path
	load := wrkRun{bin: b.env.tools["wrk"], url: url, threads: b.opts.threads, connections: b.opts.connections}
	if b.opts.warmup > 0 {
		w := load
		w.duration = b.opts.warmup
		if _, err := w.run(ctx); err != nil {
			return s, fmt.Errorf("warm-up: %w", err)
		}
	}
	var before groupUsage
	var err error
	if t.srv != nil {
		if before, err = readGroupUsage(t.srv.Pid()); err != nil {
			return s, fmt.Errorf("cpu before: %w", err)
		}
	}
	load.duration = b.opts.duration
	if s.Throughput, err = load.run(ctx); err != nil {
		return s, fmt.Errorf("throughput: %w", err)
	}
	if t.srv != nil {
		after, err := readGroupUsage(t.srv.Pid())
		if err != nil {
			return s, fmt.Errorf("cpu after: %w", err)
		}
		cpu := after.cpuSeconds - before.cpuSeconds
		s.CPUSeconds, s.PeakRSSKiB = &cpu, &after.hwmKiB
	}
	lat := wrkRun{bin: b.env.tools["wrk"], url: url, threads: 1, connections: 1, duration: b.opts.latencyDuration}
	if s.Latency, err = lat.run(ctx); err != nil {
		return s, fmt.Errorf("latency: %w", err)
	}
	return s, nil
}

// report gathers the summaries in target order.
func (b *bench) report() report {
	var rs []targetResult
	for _, t := range b.targets {
		rs = append(rs, *b.results[t.name])
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return report{
		Run: runInfo{
			Started:            b.started.UTC().Format(time.RFC3339),
			Rounds:             b.opts.rounds,
			Connections:        b.opts.connections,
			Threads:            b.opts.threads,
			DurationSec:        int(b.opts.duration / time.Second),
			LatencyDurationSec: int(b.opts.latencyDuration / time.Second),
			WarmupSec:          int(b.opts.warmup / time.Second),
			Path:               b.opts.path,
			CPUs:               runtime.NumCPU(),
			Kernel:             strings.TrimSpace(string(kernel)),
			GoVersion:          runtime.Version(),
			Tools:              b.versions,
		},
		Targets: summarize(rs),
	}
}

// cleanup stops every server (process groups, in parallel) and removes the
// temp dir. It is safe to call after a failed or interrupted prepare.
func (b *bench) cleanup() {
	var wg sync.WaitGroup
	stop := func(s *server) {
		if s == nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Stop(3 * time.Second)
		}()
	}
	for _, t := range b.targets {
		stop(t.srv)
	}
	stop(b.upstream)
	wg.Wait()
	if b.env.tmp != "" && !b.opts.keepTmp {
		_ = os.RemoveAll(b.env.tmp)
	}
}
