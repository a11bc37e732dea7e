// Package procgroup runs the benchmark's servers, each started as the
// leader of its own process group: nginx and haproxy fork workers, which
// are measured and stopped with their leader, and a Ctrl-C meant for the
// benchmark does not reach them first.
package procgroup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Proc is a server started by Start.
type Proc struct {
	Name    string
	Argv    []string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid once done is closed
}

// Start starts argv with env as its whole environment, in logPath's
// directory, its output to logPath.
func Start(name string, argv, env []string, logPath string) (*Proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", name, err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = filepath.Dir(logPath)
	// Pdeathsig is a best effort for a benchmark killed with SIGKILL: it
	// reaches the direct child only, the normal path is Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: start: %w", name, err)
	}
	p := &Proc{Name: name, Argv: argv, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the leader's pid, which is also the process group's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the leader has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the leader has exited, and with what.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// Log is the output so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// LogTail is the last n non-empty lines of the output, for error
// messages.
func (p *Proc) LogTail(n int) string { return LastLines(p.Log(), n) }

// LastLines returns the last n non-empty lines of s, joined by " | ".
func LastLines(s string, n int) string {
	var lines []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// Stop sends SIGTERM to the process group, then SIGKILL after grace, and
// returns once the leader was reaped. Workers may outlive their leader
// for a moment; a group with no member left just answers ESRCH.
func (p *Proc) Stop(grace time.Duration) {
	_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.done
}
