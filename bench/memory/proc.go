package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/bench/internal/procgroup"
)

// proc is a server the report started (see procgroup).
type proc struct{ *procgroup.Proc }

func startProc(name string, argv, env []string, logPath string) (*proc, error) {
	p, err := procgroup.Start(name, argv, env, logPath)
	if err != nil {
		return nil, err
	}
	return &proc{p}, nil
}

// waitLine polls the process's output until match returns a non-empty
// string for one of its lines, and returns it.
func (p *proc) waitLine(ctx context.Context, timeout time.Duration, match func(line string) string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		for _, line := range strings.Split(p.Log(), "\n") {
			if s := match(line); s != "" {
				return s, nil
			}
		}
		select {
		case <-p.Done():
			_, err := p.Exited()
			return "", fmt.Errorf("%s exited during start-up (%v): %s", p.Name, err, p.LogTail(5))
		case <-ctx.Done():
			return "", fmt.Errorf("%s not ready within %s: %s", p.Name, timeout, p.LogTail(5))
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
