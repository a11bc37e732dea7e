//go:build linux

package netraw

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Conn is a TCP connection whose Read and Write use raw system calls. The
// other methods are the connection's own. It is safe for one reader and
// one writer at a time, like net.Conn.
type Conn struct {
	net.Conn
	rc syscall.RawConn

	// The state of the call in progress, read by the pre-bound
	// functions readFn and writeFn: closures made per call would be
	// allocated, since RawConn is an interface.
	rmu     sync.Mutex
	rp      []byte
	rn      int
	rerr    error
	readFn  func(uintptr) bool
	wmu     sync.Mutex
	wp      []byte
	wn      int
	werr    error
	writeFn func(uintptr) bool
}

// Wrap returns a Conn over nc when nc is a TCP connection, and nc itself
// otherwise (TLS, pipes in tests).
func Wrap(nc net.Conn) net.Conn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	c := &Conn{Conn: nc, rc: rc}
	c.readFn, c.writeFn = c.read, c.write
	return c
}

// Read reads as net.Conn does: io.EOF at the end, a *net.OpError for a
// failure, a timeout at the read deadline.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rp, c.rn, c.rerr = p, 0, nil
	err := c.rc.Read(c.readFn)
	n, rerr := c.rn, c.rerr
	c.rp, c.rerr = nil, nil
	if err != nil {
		return 0, renamed(err, "read")
	}
	return n, rerr
}

func (c *Conn) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.rp[0])), uintptr(len(c.rp)))
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return false // the poller waits for data, or the deadline
		case e != 0:
			c.rerr = c.opError("read", e)
		case n == 0:
			c.rerr = io.EOF
		default:
			c.rn = int(n)
		}
		return true
	}
}

// Write writes all of p, as net.Conn does, or fails with a *net.OpError
// or a timeout at the write deadline.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wp, c.wn, c.werr = p, 0, nil
	err := c.rc.Write(c.writeFn)
	n, werr := c.wn, c.werr
	c.wp, c.werr = nil, nil
	if err != nil {
		return n, renamed(err, "write")
	}
	return n, werr
}

// renamed gives the poller's errors (a deadline, a closed connection) the
// operation net.Conn's would have, "read" or "write" rather than
// "raw-read", so that logs read the same.
func renamed(err error, op string) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = op
	}
	return err
}

func (c *Conn) write(fd uintptr) bool {
	for c.wn < len(c.wp) {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&c.wp[c.wn])), uintptr(len(c.wp)-c.wn))
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return false // the poller waits for room, or the deadline
		case e != 0:
			c.werr = c.opError("write", e)
			return true
		}
		c.wn += int(n)
	}
	return true
}

func (c *Conn) opError(op string, e syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, e)}
}
