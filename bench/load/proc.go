package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/bench/internal/procgroup"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. It is
// 100 on every Linux architecture Go supports; reading it properly needs cgo.
const clockTicks = 100

// server is one process started by the harness, in its own process group so
// that it and any workers it forks (nginx) are measured and stopped together,
// and so that a Ctrl-C meant for the harness does not reach it first.
type server struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid once done is closed
}

// startServer starts argv with env as its whole environment, output to logPath.
func startServer(name string, argv, env []string, logPath string) (*server, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = filepath.Dir(logPath)
	// Pdeathsig is a best effort for a harness killed with SIGKILL: it reaches
	// the direct child only, the normal path is stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		f.Close()
		close(s.done)
	}()
	return s, nil
}

// pgid is the server's process group id, the same as its leader's pid.
func (s *server) pgid() int { return s.cmd.Process.Pid }

// exited reports whether the server's main process has ended.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop ends the whole process group: SIGTERM, then SIGKILL after grace.
func (s *server) stop(grace time.Duration) { procgroup.Stop(s.pgid(), s.done, grace) }

// logTail returns the last lines of the server's output, for error messages.
func (s *server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	return lastLines(string(b), 5)
}

// waitReady waits until readyText (if any) appears in the server's output and
// then until url answers 200, for at most timeout.
func (s *server) waitReady(ctx context.Context, url, readyText string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The TLS twins serve a self-signed certificate.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	sawText := readyText == ""
	for {
		if s.exited() {
			return fmt.Errorf("%s exited during start-up (%v): %s", s.name, s.waitErr, s.logTail())
		}
		if !sawText {
			b, _ := os.ReadFile(s.logPath)
			sawText = bytes.Contains(b, []byte(readyText))
		}
		if sawText && probe(ctx, client, url) == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if !sawText {
				return fmt.Errorf("%s did not log %q within %s: %s", s.name, readyText, timeout, s.logTail())
			}
			return fmt.Errorf("%s did not answer 200 at %s within %s: %s", s.name, url, timeout, s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// probe sends one GET to url and wants 200.
func probe(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago. Another
// process could take it before the server binds it; the server then fails to
// start and its target is skipped with the bind error.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// groupUsage is the resource use of every live process in a process group.
type groupUsage struct {
	procs      int
	cpuSeconds float64 // utime+stime, all threads
	hwmKiB     int64   // sum of VmHWM, each process's peak resident set
}

// readGroupUsage sums /proc/<pid>/stat and /proc/<pid>/status over the live
// processes whose process group is pgid. A process that exited earlier takes
// its CPU time with it; the servers here keep their workers for the whole run.
func readGroupUsage(pgid int) (groupUsage, error) {
	var u groupUsage
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return u, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		st, err := parseStat(string(stat))
		if err != nil || st.pgrp != pgid {
			continue
		}
		u.procs++
		u.cpuSeconds += float64(st.utime+st.stime) / clockTicks
		if status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
			u.hwmKiB += parseHWM(string(status))
		}
	}
	if u.procs == 0 {
		return u, errors.New("no live process in the group")
	}
	return u, nil
}

// procStat holds the fields of /proc/<pid>/stat the harness uses.
type procStat struct {
	pgrp         int
	utime, stime int64 // clock ticks
}

// parseStat parses /proc/<pid>/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted from the last ')'.
func parseStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("stat: no command name")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); pgrp is field 5, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, errors.New("stat: too few fields")
	}
	var st procStat
	var err1, err2, err3 error
	st.pgrp, err1 = strconv.Atoi(f[2])
	st.utime, err2 = strconv.ParseInt(f[11], 10, 64)
	st.stime, err3 = strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return procStat{}, fmt.Errorf("stat: %w", err)
	}
	return st, nil
}

// parseHWM returns VmHWM in KiB from /proc/<pid>/status, 0 when absent
// (kernel threads, zombies).
func parseHWM(s string) int64 {
	for _, line := range strings.Split(s, "\n") {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		return n
	}
	return 0
}
