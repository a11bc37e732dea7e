// Command upstream is the application stand-in for the load comparison in
// bench/load and the memory report in bench/memory: a small, fast net/http
// server on loopback that answers every path with the same ~100-byte JSON
// body, and /openapi.json with a few route templates so that faultline
// learns them as it would from a FastAPI app.
//
// It prints "upstream listening on ADDR" on stdout once it accepts
// connections, and stops on SIGINT or SIGTERM. POST /v1/traces (and
// /v1/metrics, /v1/logs) answer like an OTLP/HTTP collector that drops
// everything, for faultline variants that export spans.
//
// /status/CODE, and any path under it (/status/422/items/7), answers with
// status CODE (200 to 599) and the same JSON body, whatever the method, so
// that faultline sees failing responses to capture; 204 and 304 come without
// a body. A CODE that is not a number from 200 to 599 answers 400.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// body is the answer to every ordinary request: about 100 bytes, like a small
// FastAPI model serialized to JSON.
var body = []byte(`{"item_id":42,"name":"widget","price":9.99,"tags":["bench","load"],"in_stock":true,"owner":"faultline"}`)

// openAPI declares the route templates the benchmark paths fall under.
var openAPI = []byte(`{
  "openapi": "3.1.0",
  "info": {"title": "bench upstream", "version": "1.0.0"},
  "paths": {
    "/items/{item_id}": {"get": {"responses": {"200": {"description": "an item"}}}},
    "/users/{user_id}/orders": {"get": {"responses": {"200": {"description": "orders"}}}},
    "/health": {"get": {"responses": {"200": {"description": "ok"}}}}
  }
}
`)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	flag.Parse()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(serve),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
	}
	fmt.Printf("upstream listening on %s\n", ln.Addr())

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

var (
	bodyLen    = strconv.Itoa(len(body))
	openAPILen = strconv.Itoa(len(openAPI))
)

func serve(w http.ResponseWriter, r *http.Request) {
	b, n := body, bodyLen
	switch r.URL.Path {
	case "/openapi.json":
		b, n = openAPI, openAPILen
	case "/v1/traces", "/v1/metrics", "/v1/logs":
		if r.Method == http.MethodPost {
			// An OTLP/HTTP sink, so that a tracing variant of faultline can
			// export to {upstream} without a collector: an empty protobuf
			// body is a valid, fully successful Export response.
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.Header().Set("Content-Length", "0")
			return
		}
	}
	status := http.StatusOK
	if rest, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
		code, _, _ := strings.Cut(rest, "/")
		status, ok = parseStatus(code)
		if !ok {
			http.Error(w, "status: want /status/CODE with CODE from 200 to 599", http.StatusBadRequest)
			return
		}
	}
	// Setting the header map directly avoids canonicalising the keys on every
	// request; the upstream must stay cheap next to the proxies it is measured with.
	h := w.Header()
	if status == http.StatusNoContent || status == http.StatusNotModified {
		w.WriteHeader(status) // no body allowed
		return
	}
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{n}
	if status != http.StatusOK {
		w.WriteHeader(status)
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(b)
}

// parseStatus reads the CODE of /status/CODE: three digits from 200 to 599.
func parseStatus(s string) (int, bool) {
	if len(s) != 3 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 200 || n > 599 {
		return 0, false
	}
	return n, true
}
