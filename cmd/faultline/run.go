package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"

	"github.com/faultline-dev/faultline/sidecar/config"
	"github.com/faultline-dev/faultline/sidecar/server"
)

func runCommand(ctx context.Context, args []string, stdio Stdio) error {
	cfg, err := config.Load(args, os.Getenv, stdio.Out)
	if err != nil {
		return asUsage(err)
	}
	sc, err := server.Start(cfg, server.Deps{AccessLog: stdio.Out, Logger: newLogger(stdio.Err, cfg.LogLevel)})
	if err != nil {
		return asUsage(err)
	}
	return sc.Run(ctx)
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
