package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Stdio carries the streams of one invocation, so that tests run commands
// in-process and read what they print.
type Stdio struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// command is one subcommand. run returns a *usageError for bad input (exit 2)
// and any other error for a failure at run time (exit 1).
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdio Stdio) error
}

func commands() []command {
	return []command{
		{"run", "run the sidecar in front of an app", runCommand},
		{"demo", "run a sample app with the sidecar in front of it and light traffic", demoCommand},
		{"dashboards", "write the Grafana dashboards", dashboardsCommand},
		{"alerts", "write the Prometheus alerting and recording rules, and runbooks", alertsCommand},
		{"captures", "list, show and export captured failing requests", capturesCommand},
		{"inject", "add the sidecar to Kubernetes manifests", injectCommand},
		{"version", "print the version", versionCommand},
	}
}

// usageError is bad input: an unknown flag, a malformed value. It is printed
// as one line and the process exits with code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a *usageError. The message should name the setting.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// Main runs the command line args and returns the process exit code.
func Main(ctx context.Context, args []string, stdio Stdio) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stdio.Out)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdio)
		return exitCode(err, stdio.Err)
	}
	fmt.Fprintf(stdio.Err, "faultline: unknown command %q (try 'faultline help')\n", args[0])
	return 2
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "faultline: %s\n", oneLine(ue.msg))
		return 2
	}
	fmt.Fprintf(stderr, "faultline: %s\n", oneLine(err.Error()))
	return 1
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "faultline: an observability sidecar for HTTP services")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: faultline COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'faultline COMMAND -h' for the flags of a command.")
}

// newFlagSet returns a flag set that reports errors to the caller instead of
// printing them, so that parseFlags can turn them into one line.
func newFlagSet(name string, stdio Stdio) *flag.FlagSet {
	fs := flag.NewFlagSet("faultline "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	// The flag package calls Usage on every parse error; parseFlags prints
	// the defaults itself, and only for -h.
	fs.Usage = func() {}
	helpOut.Store(fs, stdio.Out)
	return fs
}

// helpOut remembers where each flag set prints its -h text.
var helpOut sync.Map // *flag.FlagSet → io.Writer

// parseFlags parses args into fs and turns a parse error into a *usageError.
// -h prints the flags and returns flag.ErrHelp (exit 0).
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil {
		return nil
	}
	if errors.Is(err, flag.ErrHelp) {
		w := io.Discard
		if v, ok := helpOut.Load(fs); ok {
			w = v.(io.Writer)
		}
		fmt.Fprintf(w, "Usage of %s:\n", fs.Name())
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		return err
	}
	return &usageError{msg: err.Error()}
}
