package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/bench/internal/procgroup"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. It is
// 100 on every Linux architecture Go supports; reading it properly needs cgo.
const clockTicks = 100

// server is one process started by the harness (see procgroup).
type server struct{ *procgroup.Proc }

// startServer starts argv with env as its whole environment, output to logPath.
func startServer(name string, argv, env []string, logPath string) (*server, error) {
	p, err := procgroup.Start(name, argv, env, logPath)
	if err != nil {
		return nil, err
	}
	return &server{p}, nil
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
		if exited, err := s.Exited(); exited {
			return fmt.Errorf("%s exited during start-up (%v): %s", s.Name, err, s.LogTail(5))
		}
		if !sawText {
			sawText = strings.Contains(s.Log(), readyText)
		}
		if sawText && probe(ctx, client, url) == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if !sawText {
				return fmt.Errorf("%s did not log %q within %s: %s", s.Name, readyText, timeout, s.LogTail(5))
			}
			return fmt.Errorf("%s did not answer 200 at %s within %s: %s", s.Name, url, timeout, s.LogTail(5))
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
