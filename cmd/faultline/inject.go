package main

import (
	"context"
	"errors"
)

// injectCommand is built by its own issue; until then it says so.
func injectCommand(ctx context.Context, args []string, stdio Stdio) error {
	return errors.New("inject: not built yet")
}
