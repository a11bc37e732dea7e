package h1

import (
	"errors"
	"io"
	"net/http/httputil"
	"sync"
)

// maxDrain is the most unread request body the server reads after the
// handler to keep the connection; past it, the connection closes (as
// net/http).
const maxDrain = 256 << 10

var errBodyClosed = errors.New("http: invalid Read on closed Body")

// body is a request body: Content-Length or chunked framing over the
// connection's reader. A request with a body gets a body of its own, never
// reused: a transport may still read or close it from its goroutine after
// the handler returned, and must then only meet a closed body.
type body struct {
	mu             sync.Mutex
	c              *conn
	remaining      int64     // bytes left under Content-Length; -1 for chunked
	chunked        io.Reader // chunk decoder, nil under Content-Length
	expectContinue bool
	eof, closed    bool
	err            error
}

func newBody(c *conn, n int64) *body {
	b := &body{c: c, remaining: n}
	if n < 0 {
		b.chunked = httputil.NewChunkedReader(c.br)
	}
	return b
}

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errBodyClosed
	}
	return b.readLocked(p)
}

func (b *body) readLocked(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.eof {
		return 0, io.EOF
	}
	if b.expectContinue {
		b.expectContinue = false
		b.c.w.writeContinue()
	}
	if b.remaining == 0 && b.chunked == nil {
		b.eof = true
		return 0, io.EOF
	}
	var n int
	var err error
	if b.chunked != nil {
		n, err = b.chunked.Read(p)
		if err == io.EOF {
			err = b.readTrailer()
		}
	} else {
		n, err = ReadLength(b.c.br, p, &b.remaining)
	}
	if err == io.EOF {
		b.eof = true
		if !b.closed {
			// The body is read while the handler runs: from here the
			// connection is only read for the next request, so it can be
			// watched for the client leaving.
			b.c.armWatch()
		}
	} else if err != nil {
		b.err = err
	}
	return n, err
}

// readTrailer reads the trailer section after the last chunk into the
// request's declared trailers (undeclared ones are dropped, as net/http).
func (b *body) readTrailer() error {
	t, err := ReadTrailer(b.c.br, 64<<10)
	if err != nil {
		return err
	}
	r := b.c.req
	for k, vv := range t {
		if _, declared := r.Trailer[k]; declared {
			// The values view a buffer of their own: they may be kept.
			r.Trailer[k] = vv
		}
	}
	return io.EOF
}

func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// drain reads what the handler left of the body, within maxDrain, and
// reports whether the connection can read its next request. The body is
// closed by then.
func (b *body) drain() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eof {
		return true
	}
	if b.err != nil || b.expectContinue || (b.chunked == nil && b.remaining > maxDrain) {
		// A client waiting for 100 Continue sends no body: the connection
		// cannot be reused without it, nor after a broken body.
		return false
	}
	var buf [512]byte
	for read := 0; read <= maxDrain; {
		n, err := b.readLocked(buf[:])
		read += n
		if err == io.EOF {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// ReadLength reads from r into p a body of which *left bytes remain
// (Content-Length framing), counting them down: io.EOF with the last
// byte, io.ErrUnexpectedEOF when r ends before. The engine reads upstream
// response bodies with it too.
func ReadLength(r io.Reader, p []byte, left *int64) (int, error) {
	if *left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > *left {
		p = p[:*left]
	}
	n, err := r.Read(p)
	*left -= int64(n)
	if *left == 0 {
		err = io.EOF
	} else if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
