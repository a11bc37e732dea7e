// Command load compares faultline's throughput, latency and cost with nginx,
// HAProxy, Caddy and a plain httputil.ReverseProxy, all in front of the same
// upstream (bench/upstream) on loopback, measured with wrk in interleaved
// rounds in one run. See bench/README.md.
//
//	go run ./bench/load [--rounds 3] [--duration 10s] [--targets nginx,faultline] [--json out.json]
//
// The Markdown table goes to stdout, progress to stderr.
package main

import (
	"context"
	"io"

	"github.com/faultline-dev/faultline/bench/internal/cli"
)

func main() { cli.Main("bench", run) }

// run is the whole command; it returns once every server it started has been
// stopped and its temp dir removed (unless --keep-tmp).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	b := &bench{opts: opts, log: stderr}
	defer b.cleanup()
	if err := b.prepare(ctx); err != nil {
		return err
	}
	b.runRounds(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	rep := b.report()
	if err := writeMarkdown(stdout, rep); err != nil {
		return err
	}
	if opts.jsonFile != "" {
		if err := writeJSON(opts.jsonFile, rep); err != nil {
			return err
		}
		b.logf("wrote %s", opts.jsonFile)
	}
	return nil
}
