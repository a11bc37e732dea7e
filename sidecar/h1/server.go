// Package h1 is faultline's HTTP/1.1 server for the plain-HTTP listener: a
// net/http-compatible front end (it runs any http.Handler) that serves a
// keep-alive request without allocating.
//
// net/http's server allocates a request, a header map, a context, a
// response and their buffers for every request, and runs a background
// reader goroutine per request; on a 2-core sidecar that is most of the
// proxy's cost. Here each connection owns one http.Request, one header map
// for each direction and one byte arena for the head, reset and reused for
// every request it carries. Header keys and values are strings over the
// arena: valid until the handler returns, which is the contract of
// exchange.Exchange (observers copy what they keep).
//
// It follows RFC 9112 and net/http's choices where they matter to a proxy:
// the same 400/413/417/431/501/505 answers to malformed requests, one
// Content-Length or chunked framing (both: the connection closes after the
// answer), 100-continue on the first body read, Shutdown that lets
// in-flight requests finish, and a client that goes away while its request
// waits on the upstream cancels the request's context. TLS and HTTP/2 stay
// with net/http.
package h1

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves HTTP/1.x on plain TCP listeners. Its exported fields mean
// what they mean on http.Server; set them before Serve.
type Server struct {
	Handler           http.Handler
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// MaxHeaderBytes bounds a request head; zero means
	// http.DefaultMaxHeaderBytes (1 MiB).
	MaxHeaderBytes int
	// ErrorLog receives handler panics and accept errors; nil means the
	// log package's standard logger.
	ErrorLog *log.Logger

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*conn]struct{}
	shutdown  atomic.Bool
	// ctx is the parent of every connection's context; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

func (s *Server) init() {
	s.once.Do(func() {
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.listeners = make(map[*net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
	})
}

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return http.DefaultMaxHeaderBytes
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// Serve accepts connections on ln until Shutdown or Close, and returns
// http.ErrServerClosed then.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.shutdown.Load() {
		s.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	s.listeners[&ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, &ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shutdown.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of file descriptors, as net/http: back off and retry.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logf("h1: accept error: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := s.newConn(nc)
		if c == nil {
			continue
		}
		go c.serve()
	}
}

// Shutdown stops accepting, closes idle connections, lets active ones end
// their request (answered with Connection: close) and returns once all are
// gone, or ctx's error when it ends first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.shutdown.Store(true)
	s.mu.Lock()
	for ln := range s.listeners {
		(*ln).Close()
	}
	s.mu.Unlock()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for wait := 5 * time.Millisecond; ; {
		if s.closeIdle() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if wait < 500*time.Millisecond {
			wait *= 2
			tick.Reset(wait)
		}
	}
}

// closeIdle closes the idle connections and reports whether none is left.
func (s *Server) closeIdle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		// A new connection that has sent nothing for newGrace is idle too.
		if c.state.CompareAndSwap(stateIdle, stateClosed) ||
			time.Since(c.accepted) > newGrace && c.state.CompareAndSwap(stateNew, stateClosed) {
			c.nc.Close()
		}
	}
	return len(s.conns) == 0
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.init()
	s.shutdown.Store(true)
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		(*ln).Close()
	}
	for c := range s.conns {
		c.abort()
		c.nc.Close()
	}
	return nil
}

func (s *Server) newConn(nc net.Conn) *conn {
	c := newConn(s, nc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown.Load() {
		nc.Close()
		return nil
	}
	s.conns[c] = struct{}{}
	return c
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}
