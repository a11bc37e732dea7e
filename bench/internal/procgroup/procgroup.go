// Package procgroup stops the benchmark's servers, each started as the
// leader of its own process group (nginx and haproxy fork workers).
package procgroup

import (
	"syscall"
	"time"
)

// Stop sends SIGTERM to the process group led by pid, then SIGKILL after
// grace, and returns once done (closed when the leader was reaped) is.
// Workers may outlive their leader for a moment; a group with no member
// left just answers ESRCH.
func Stop(pid int, done <-chan struct{}, grace time.Duration) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-done
}
