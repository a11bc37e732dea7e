// Command faultline is an observability sidecar for HTTP services: a reverse
// proxy that records metrics, spans and captures of failing requests, and a
// generator of the dashboards and alerts that read them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling: a second
	// SIGTERM or Ctrl-C ends a drain that takes too long.
	go func() { <-ctx.Done(); stop() }()
	os.Exit(Main(ctx, os.Args[1:], Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}
