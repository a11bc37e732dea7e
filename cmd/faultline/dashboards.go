package main

import (
	"context"
	"errors"
)

// dashboardsCommand is built by its own issue; until then it says so.
func dashboardsCommand(ctx context.Context, args []string, stdio Stdio) error {
	return errors.New("dashboards: not built yet")
}
