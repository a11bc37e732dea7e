package otelsetup_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"github.com/faultline-dev/faultline/sidecar/exchange"
	"github.com/faultline-dev/faultline/sidecar/proxy"
	"github.com/faultline-dev/faultline/sidecar/tracing"
	"github.com/faultline-dev/faultline/sidecar/tracing/otelsetup"
)

// The wiring in main: build the exporter from the environment, install the
// observer only when tracing is on, and shut the exporter down after the
// drain.
func Example() {
	ctx := context.Background()
	var dropped atomic.Uint64 // exported as faultline_spans_dropped_total
	exp, shutdown, err := otelsetup.FromEnv(ctx, os.Getenv, otelsetup.Options{
		ServiceVersion: "v1.2.3",
		OnDropped:      func(reason string, n int) { dropped.Add(uint64(n)) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err) // a *config.Error naming the variable: exit 2
		return
	}
	prop, err := otelsetup.Propagator(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer func() {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		shutdown(ctx)
	}()

	captured := func(status int) bool { return status == 401 || status == 422 || status >= 500 }
	upstream, _ := url.Parse("http://127.0.0.1:8000")
	opts := proxy.Options{Upstream: upstream, TraceIDHeader: tracing.TraceIDHeader}
	var observers exchange.Observers // capture, then tracing, then metrics and the access log
	if exp != nil {
		t := tracing.New(exp, prop, tracing.Options{Keep: captured, SlowThreshold: time.Second})
		observers = append(observers, t)
		opts.Decorate = t.Decorate
	}
	opts.Observer = observers
	_ = proxy.New(opts)
}
