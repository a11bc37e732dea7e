package main

import (
	"context"
	"errors"
)

// alertsCommand is built by its own issue; until then it says so.
func alertsCommand(ctx context.Context, args []string, stdio Stdio) error {
	return errors.New("alerts: not built yet")
}
