package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/faultline-dev/faultline/sidecar/netraw"
)

// Connection states, for Shutdown: only an idle connection (between
// requests) may be closed under a client.
const (
	stateNew int32 = iota
	stateActive
	stateIdle
	stateClosed
	stateHijacked
)

// newGrace is how long Shutdown leaves a new connection that has sent no
// request yet: its first request may be on the wire (net/http's rule).
const newGrace = 5 * time.Second

// watchAfter is how long a request may wait on its handler before the
// connection is watched for the client going away. Watching costs a
// goroutine; the requests that end sooner are most of them.
const watchAfter = 100 * time.Millisecond

// bufferSize is the size of each connection's read and write buffers.
const bufferSize = 4 << 10

var errTooManyFiles = syscall.EMFILE

// conn is one client connection and everything reused across its requests.
type conn struct {
	srv *Server
	nc  net.Conn
	// rw reads and writes nc (netraw's raw system calls for TCP); nc is
	// the connection itself, for deadlines, close and hijack.
	rw       net.Conn
	state    atomic.Int32
	accepted time.Time

	cr connReader
	br *bufio.Reader
	bw *bufio.Writer

	remoteAddr string
	ctx        context.Context
	cancel     context.CancelFunc

	// req is reset for each request. Its context is ctx: http.Request has
	// no setter for it but WithContext, which copies, so req is made once.
	req *http.Request
	url url.URL
	hdr http.Header
	w   response
	// body is the current request's body, nil without one.
	body *body
	// head holds the request head's bytes; hdr's keys and values and
	// req's strings point into it until the next request is read.
	head []byte
	// vals backs the header values: one element per field line.
	vals []string

	// watch starts the background read that notices a client going away.
	watch     *time.Timer
	wmu       sync.Mutex
	watchOn   bool // armed for the current request
	watching  bool // the background read is running
	watchDone chan struct{}
	// readDeadline and writeDeadline are the connection's deadlines as
	// this package last set them (zero: none), so that a keep-alive
	// connection moves them only when needed; setting one costs a timer
	// update in the runtime. Only the connection's goroutine (and the
	// handler, on it) touches them.
	readDeadline, writeDeadline time.Time

	// interrupt is the upstream connection of the request in progress,
	// whose deadline abort moves to the past (see Interrupt).
	interrupt net.Conn
}

// connCtx is a connection's context: it finds the connection for
// Interrupt without a context value allocated per request.
type connCtx struct {
	context.Context
	c *conn
}

type connKey struct{}

func (x *connCtx) Value(key any) any {
	if key == (connKey{}) {
		return x.c
	}
	return x.Context.Value(key)
}

// Interrupt arranges for nc's deadline to be moved to the past when the
// client of ctx's request goes away or the server closes, so that a read
// of an upstream blocked on nc returns at once; Interrupt(ctx, nil) ends
// the arrangement. It reports false, doing nothing, when ctx is not a
// request context of this package's server: use context.AfterFunc then.
// Unlike context.AfterFunc it costs no allocation.
func Interrupt(ctx context.Context, nc net.Conn) bool {
	c, ok := ctx.Value(connKey{}).(*conn)
	if !ok {
		return false
	}
	c.wmu.Lock()
	c.interrupt = nc
	gone := c.ctx.Err() != nil
	c.wmu.Unlock()
	if gone && nc != nil {
		nc.SetDeadline(aLongTimeAgo)
	}
	return true
}

// abort cancels the connection's context and interrupts the upstream
// read of its request.
func (c *conn) abort() {
	c.cancel()
	c.wmu.Lock()
	nc := c.interrupt
	c.wmu.Unlock()
	if nc != nil {
		nc.SetDeadline(aLongTimeAgo)
	}
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, accepted: time.Now(), remoteAddr: nc.RemoteAddr().String()}
	c.state.Store(stateNew)
	c.cr.c = c
	c.rw = netraw.Wrap(nc)
	c.br = bufio.NewReaderSize(&c.cr, bufferSize)
	c.bw = bufio.NewWriterSize(c.rw, bufferSize)
	ctx, cancel := context.WithCancel(s.ctx)
	c.ctx, c.cancel = &connCtx{ctx, c}, cancel
	c.req = new(http.Request).WithContext(c.ctx)
	c.hdr = make(http.Header, 16)
	c.w.c = c
	c.w.hdr = make(http.Header, 16)
	c.watchDone = make(chan struct{}, 1)
	return c
}

// connReader reads the connection, first handing out a byte the
// background read took.
type connReader struct {
	c          *conn
	pending    byte
	hasPending bool
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.hasPending && len(p) > 0 {
		p[0], r.hasPending = r.pending, false
		return 1, nil
	}
	return r.c.rw.Read(p)
}

func (c *conn) serve() {
	defer c.finish()
	for {
		if !c.waitRequest() {
			return
		}
		err := c.readRequest()
		if err != nil {
			c.reject(err)
			return
		}
		if !c.handle() {
			return
		}
	}
}

// finish closes the connection (unless a handler took it over) and
// releases what it holds.
func (c *conn) finish() {
	if c.watch != nil {
		c.watch.Stop()
	}
	c.cancel()
	if c.state.Swap(stateClosed) != stateHijacked {
		c.bw.Flush()
		c.nc.Close()
	}
	c.srv.forget(c)
}

// waitRequest waits for the next request's first byte under the idle
// timeout and reports whether to read it.
func (c *conn) waitRequest() bool {
	if c.br.Buffered() > 0 {
		// Pipelined: the next request is here already.
		c.headDeadline()
		return true
	}
	first := c.state.Load() == stateNew
	if !first && !c.state.CompareAndSwap(stateActive, stateIdle) {
		return false
	}
	if c.srv.shutdown.Load() && !first {
		return false
	}
	// A new connection gets ReadHeaderTimeout for its first request, as
	// in net/http: a client that connects and says nothing is cut off as
	// soon as one that trickles its head. Between requests the idle
	// deadline is moved on only once less than half of it is left, so an
	// idle connection is closed after between IdleTimeout/2 and
	// IdleTimeout of silence.
	idle := c.srv.IdleTimeout
	if idle <= 0 || first {
		idle = c.srv.ReadHeaderTimeout
	}
	now := time.Now()
	switch left := c.readDeadline.Sub(now); {
	case idle <= 0:
		c.setReadDeadline(time.Time{})
	case first || left < idle/2 || left > idle:
		// Also when the deadline in place is a longer one (the head's).
		c.setReadDeadline(now.Add(idle))
	}
	_, err := c.br.Peek(1)
	if !c.state.CompareAndSwap(stateIdle, stateActive) && !c.state.CompareAndSwap(stateNew, stateActive) {
		return false
	}
	if err != nil {
		return false
	}
	c.headDeadline()
	return true
}

// headDeadline bounds the reading of a head that has begun to arrive by
// ReadHeaderTimeout. A head that is whole in the buffer already (most
// are: one read brings it) needs no more reads, and no deadline moved.
func (c *conn) headDeadline() {
	buf, _ := c.br.Peek(c.br.Buffered())
	if bytes.Contains(buf, crlfcrlf) || bytes.Contains(buf, lflf) {
		return
	}
	if d := c.srv.ReadHeaderTimeout; d > 0 {
		c.setReadDeadline(time.Now().Add(d))
	}
}

var crlfcrlf, lflf = []byte("\r\n\r\n"), []byte("\n\n")

// setReadDeadline sets the connection's read deadline unless it is set
// to t already.
func (c *conn) setReadDeadline(t time.Time) {
	if t.Equal(c.readDeadline) {
		return
	}
	c.readDeadline = t
	c.nc.SetReadDeadline(t)
}

// handle runs the handler for the request read, completes the response
// and reports whether the connection can carry another request.
func (c *conn) handle() (keep bool) {
	w, r := &c.w, c.req
	w.reset(r)
	if c.body != nil {
		// A body may take as long as it takes (net/http's default, with
		// no ReadTimeout): the head's deadline must not cut an upload.
		c.setReadDeadline(time.Time{})
	}
	if r.ContentLength == 0 && r.TransferEncoding == nil {
		// No body to read: the connection is only read again for the next
		// request, so it can be watched for the client going away.
		c.armWatch()
	}
	aborted := c.runHandler(w, r)
	b := c.body
	c.body = nil
	if b != nil {
		// From here nobody else reads it (a transport's goroutine may
		// still try), nor arms the watch.
		b.Close()
	}
	c.stopWatch()
	if aborted || c.state.Load() == stateHijacked {
		return false
	}
	if !w.finish() {
		return false
	}
	if b != nil && !b.drain() {
		return false
	}
	if w.closeAfter || r.Close || c.ctx.Err() != nil {
		return false
	}
	c.resetRequest()
	return true
}

// runHandler calls the handler, turning a panic into a closed connection;
// it reports whether the handler panicked.
func (c *conn) runHandler(w *response, r *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			aborted = true
			if v == http.ErrAbortHandler {
				return
			}
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv.logf("h1: panic serving %s: %v\n%s", c.remoteAddr, v, buf)
		}
	}()
	c.srv.Handler.ServeHTTP(w, r)
	return false
}

// resetRequest forgets the request before its arena is reused: no map key
// may outlive the bytes it points to.
func (c *conn) resetRequest() {
	clear(c.hdr)
	clear(c.w.hdr)
	clear(c.vals)
	c.vals = c.vals[:0]
	if cap(c.head) > 64<<10 {
		// One huge head must not pin its memory for the connection's life.
		c.head = nil
		c.vals = nil
	}
}

// reject answers a request that could not be read, then the connection
// closes. A client that sent nothing, or went away, gets nothing.
func (c *conn) reject(err error) {
	var he *headError
	if !errors.As(err, &he) {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c.bw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n%d %s: %s",
		he.status, http.StatusText(he.status), he.status, http.StatusText(he.status), he.msg)
	c.bw.Flush()
	if tc, ok := c.nc.(*net.TCPConn); ok {
		// Let the answer reach the client before the close resets a
		// connection whose request bytes are still unread.
		tc.CloseWrite()
		c.nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		io.CopyN(io.Discard, c.nc, 256<<10)
	}
}

// armWatch schedules the background read for a request that lasts.
func (c *conn) armWatch() {
	if c.br.Buffered() > 0 {
		// Pipelined bytes are waiting: the client is there.
		return
	}
	c.wmu.Lock()
	c.watchOn = true
	c.wmu.Unlock()
	if c.watch == nil {
		c.watch = time.AfterFunc(watchAfter, c.backgroundRead)
	} else {
		c.watch.Reset(watchAfter)
	}
}

// backgroundRead reads one byte while the handler runs: an error or EOF
// means the client went away, and the request's context is cancelled; a
// byte (the next pipelined request) is kept for the next read.
func (c *conn) backgroundRead() {
	c.wmu.Lock()
	if !c.watchOn {
		c.wmu.Unlock()
		return
	}
	c.watching = true
	c.wmu.Unlock()
	c.nc.SetReadDeadline(time.Time{})
	var b [1]byte
	n, err := c.rw.Read(b[:])
	if n == 1 {
		c.cr.pending, c.cr.hasPending = b[0], true
	} else if err != nil && !isTimeout(err) {
		c.abort()
	}
	c.watchDone <- struct{}{}
}

// stopWatch ends the watch, interrupting a background read in progress.
// Once watchOn is false under wmu, a timer that fires late does nothing.
func (c *conn) stopWatch() {
	c.wmu.Lock()
	on, running := c.watchOn, c.watching
	c.watchOn, c.watching = false, false
	c.wmu.Unlock()
	switch {
	case running:
		c.setReadDeadline(aLongTimeAgo)
		<-c.watchDone
	case on:
		c.watch.Stop()
	}
}

var aLongTimeAgo = time.Unix(1, 0)

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
