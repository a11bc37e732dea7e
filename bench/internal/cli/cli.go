// Package cli is the main of the benchmark commands: run under a context
// that Ctrl-C and SIGTERM cancel, and one exit code per outcome.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// UsageError is bad command-line input: exit code 2.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// Main runs run with the arguments and standard streams, then exits: 0 on
// success, 2 for -h and a UsageError, 130 when interrupted (the command
// has stopped its servers and removed its files by then), 1 otherwise.
// Errors are printed as one line prefixed with name.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	stop()
	var ue UsageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case interrupted:
		fmt.Fprintln(os.Stderr, name+": interrupted; servers stopped, temp files removed")
		os.Exit(130)
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
