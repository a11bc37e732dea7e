// Package netraw reads and writes TCP connections with raw system calls.
//
// A socket under Go's network poller is non-blocking: read and write
// return at once, with EAGAIN when there is nothing to do, and the poller
// parks the goroutine until there is. The net package still makes each
// of them a blocking system call for the scheduler (entersyscall and
// exitsyscall), and its monitor thread then takes the goroutine's
// processor away whenever a call is caught in the kernel across one of its
// 20 µs ticks, waking another thread to run it: for a proxy, whose work
// is little else than four socket calls per request, that bookkeeping and
// the thread switches it causes were a tenth of its CPU. Conn makes the
// same calls through syscall.RawConn, which waits on the poller as
// net.Conn does (deadlines included), with raw system calls that the
// scheduler does not see, which is safe because they never block. On
// other systems Wrap returns the connection as it is.
package netraw
