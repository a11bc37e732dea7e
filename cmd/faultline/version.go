package main

import (
	"context"
	"fmt"

	"github.com/faultline-dev/faultline/sidecar/buildinfo"
)

func versionCommand(ctx context.Context, args []string, stdio Stdio) error {
	fs := newFlagSet("version", stdio)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b := buildinfo.Get()
	fmt.Fprintf(stdio.Out, "faultline %s (commit %s, %s)\n", b.Version, b.Revision, b.GoVersion)
	return nil
}
