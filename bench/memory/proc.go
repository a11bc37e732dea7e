package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/bench/internal/procgroup"
)

// proc is a server the report started, in its own process group (so that a
// Ctrl-C meant for the report does not reach it first), output to logPath.
type proc struct {
	name    string
	argv    []string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error
}

func startProc(name string, argv, env []string, logPath string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = filepath.Dir(logPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	p := &proc{name: name, argv: argv, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) { procgroup.Stop(p.pid(), p.done, grace) }

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *proc) logTail() string {
	lines := strings.Split(strings.TrimSpace(p.log()), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], "\n")
}

// waitLine polls the process's output until match returns a non-empty
// string for one of its lines, and returns it.
func (p *proc) waitLine(ctx context.Context, timeout time.Duration, match func(line string) string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		for _, line := range strings.Split(p.log(), "\n") {
			if s := match(line); s != "" {
				return s, nil
			}
		}
		select {
		case <-p.done:
			return "", fmt.Errorf("%s exited during start-up (%v): %s", p.name, p.waitErr, p.logTail())
		case <-ctx.Done():
			return "", fmt.Errorf("%s not ready within %s: %s", p.name, timeout, p.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// faultlineAddrs are the addresses faultline logs once it serves.
type faultlineAddrs struct {
	Msg     string `json:"msg"`
	Listen  string `json:"listen"`
	Metrics string `json:"metrics"`
	Admin   string `json:"admin"`
}

// servingLine matches faultline's JSON "faultline serving" log line.
func servingLine(line string) (faultlineAddrs, bool) {
	var a faultlineAddrs
	if !strings.Contains(line, "faultline serving") || json.Unmarshal([]byte(line), &a) != nil {
		return a, false
	}
	return a, a.Msg == "faultline serving" && a.Listen != "" && a.Metrics != ""
}

// memStatus is what /proc/PID/status says about a process's memory, in KiB.
type memStatus struct {
	VmRSS, VmHWM, RssAnon, RssFile int64
	Threads                        int64
}

func readStatus(pid int) (memStatus, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return memStatus{}, err
	}
	return parseStatus(string(b))
}

// parseStatus reads the fields of memStatus from /proc/PID/status.
func parseStatus(s string) (memStatus, error) {
	var m memStatus
	fields := map[string]*int64{"VmRSS": &m.VmRSS, "VmHWM": &m.VmHWM, "RssAnon": &m.RssAnon, "RssFile": &m.RssFile, "Threads": &m.Threads}
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		dst := fields[k]
		if !ok || dst == nil {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("status: %s: %w", k, err)
		}
		*dst = n
	}
	if m.VmRSS == 0 || m.VmHWM == 0 {
		return m, errors.New("status: no VmRSS or VmHWM (process gone?)")
	}
	return m, nil
}

// countFDs returns how many file descriptors pid has open: its sockets,
// mostly (client connections, upstream connections, listeners).
func countFDs(pid int) int {
	es, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0
	}
	return len(es)
}

// cleanEnv drops FAULTLINE_* and OTEL_* settings inherited from the shell,
// so faultline runs with exactly the configuration its command line states.
func cleanEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "FAULTLINE_") && !strings.HasPrefix(kv, "OTEL_") {
			out = append(out, kv)
		}
	}
	return out
}
