package main

import (
	"context"
	"errors"
)

func runCommand(ctx context.Context, args []string, stdio Stdio) error {
	return errors.New("run: not built yet")
}

func demoCommand(ctx context.Context, args []string, stdio Stdio) error {
	return errors.New("demo: not built yet")
}
