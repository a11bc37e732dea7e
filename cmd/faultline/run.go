package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline-dev/faultline/sidecar/buildinfo"
	"github.com/faultline-dev/faultline/sidecar/config"
	"github.com/faultline-dev/faultline/sidecar/metrics"
	"github.com/faultline-dev/faultline/sidecar/server"
	"github.com/faultline-dev/faultline/sidecar/tracing/otelsetup"
)

func runCommand(ctx context.Context, args []string, stdio Stdio) error {
	cfg, err := config.Load(args, os.Getenv, stdio.Out)
	if err != nil {
		return asUsage(err)
	}
	return serve(ctx, cfg, stdio, nil)
}

// serve starts the sidecar for cfg, with tracing from the OTEL_*
// environment, and runs it until ctx ends. started, if set, is called once
// the listeners are bound.
func serve(ctx context.Context, cfg *config.Config, stdio Stdio, started func(*server.Sidecar)) error {
	log := newLogger(stdio.Err, cfg.LogLevel)
	reg := prometheus.NewRegistry()
	onDropped, err := metrics.SpansDropped(reg, otelsetup.DropQueueFull, otelsetup.DropExportFailed)
	if err != nil {
		return err
	}
	tp, shutdownTracing, err := otelsetup.FromEnv(ctx, os.Getenv, otelsetup.Options{
		ServiceVersion: buildinfo.Get().Version, OnDropped: onDropped, Logger: log,
	})
	if err != nil {
		return asUsage(err)
	}
	prop, err := otelsetup.Propagator(os.Getenv)
	if err != nil {
		return asUsage(err)
	}
	deps := server.Deps{AccessLog: stdio.Out, Logger: log, Registry: reg, Propagator: prop}
	if tp != nil {
		// Only a non-nil provider may go into the interface: a nil
		// *TracerProvider in it would not be a nil interface.
		deps.TracerProvider = tp
		log.Info("tracing on")
	}
	sc, err := server.Start(cfg, deps)
	if err != nil {
		return asUsage(err)
	}
	if started != nil {
		started(sc)
	}
	runErr := sc.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdownTracing(sctx); err != nil {
		log.Warn("tracing shutdown", "err", err)
	}
	return runErr
}

// asUsage turns a configuration error into a usage error (exit 2).
func asUsage(err error) error {
	var ce *config.Error
	if errors.As(err, &ce) {
		return &usageError{msg: ce.Error()}
	}
	return err
}

// newLogger returns the sidecar's own log: JSON lines on w.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
