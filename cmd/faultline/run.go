package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline-dev/faultline/sidecar/accesslog"
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
	// The sidecar's own log must not block requests that log (502s, 504s)
	// when nobody reads stderr: it goes through a bounded backlog too.
	errOut := accesslog.NewBacklog(stdio.Err, droppedLogNote)
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = errOut.Flush(fctx)
	}()
	log := newLogger(errOut, cfg.LogLevel)
	reg := prometheus.NewRegistry()
	onDropped, err := metrics.SpansDropped(reg, otelsetup.DropQueueFull, otelsetup.DropExportFailed)
	if err != nil {
		return err
	}
	exp, shutdownTracing, err := otelsetup.FromEnv(ctx, os.Getenv, otelsetup.Options{
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
	if exp != nil {
		// Only a non-nil exporter may go into the interface: a nil
		// *Exporter in it would not be a nil interface.
		deps.Tracing = exp
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

// droppedLogNote is the log line that reports lines the backlog dropped.
func droppedLogNote(b []byte, n int) []byte {
	b = append(b, `{"time":"`...)
	b = time.Now().UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"WARN","msg":"log lines dropped: stderr was not read","dropped":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, "}\n"...)
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
