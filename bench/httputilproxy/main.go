// Command httputilproxy is the baseline Go proxy for the load comparison in
// bench/load: httputil.NewSingleHostReverseProxy with nothing added but an idle
// pool large enough to keep every upstream connection alive under load.
//
// It prints "httputilproxy listening on ADDR" on stdout once it accepts
// connections, and stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "httputilproxy:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	upstream := flag.String("upstream", "http://127.0.0.1:8000", "upstream base URL")
	idle := flag.Int("max-idle-per-host", 128, "idle keep-alive connections kept to the upstream")
	flag.Parse()

	u, err := url.Parse(*upstream)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--upstream: %q is not a URL", *upstream)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	// The default transport keeps only 2 idle connections per host, so at 64
	// client connections most upstream requests would dial anew; that measures
	// connection setup, not proxying.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = *idle
	tr.MaxIdleConnsPerHost = *idle
	rp.Transport = tr
	rp.ErrorLog = log.New(os.Stderr, "httputilproxy: ", 0)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	fmt.Printf("httputilproxy listening on %s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
