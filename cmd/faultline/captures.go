package main

import (
	"context"
	"errors"
)

// capturesCommand is built by its own issue; until then it says so.
func capturesCommand(ctx context.Context, args []string, stdio Stdio) error {
	return errors.New("captures: not built yet")
}
