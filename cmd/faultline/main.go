// Command faultline is an observability sidecar for HTTP services: a reverse
// proxy that records metrics, spans and captures of failing requests, and a
// generator of the dashboards and alerts that read them.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling: a second
	// SIGTERM or Ctrl-C ends a drain that takes too long.
	go func() { <-ctx.Done(); stop() }()
	os.Exit(Main(ctx, os.Args[1:], Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}

// tuneGC sets garbage collector defaults that suit a sidecar, unless the
// environment sets GOGC or GOMEMLIMIT. A proxy's live heap is small and its
// garbage is per request: collecting at 4x the live heap instead of 2x
// halves the collector's share of CPU, and the soft memory limit keeps the
// peak bounded when a capture flood raises the live heap.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(96 << 20)
	}
}
