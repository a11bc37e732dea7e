package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/bench/internal/cli"
)

// options are the command-line settings; see usage.
type options struct {
	rounds          int
	duration        time.Duration
	latencyDuration time.Duration
	warmup          time.Duration
	connections     int
	threads         int
	targets         []string // empty: all
	variants        []variant
	path            string
	jsonFile        string
	faultlineBin    string
	keepTmp         bool
	tls             bool
	tools           map[string]string // tool name -> path given by flag, "" to look it up
}

// usageError is bad command-line input (exit code 2).
type usageError = cli.UsageError

// variantsFlag collects repeated --faultline-variant values.
type variantsFlag struct{ vs *[]variant }

func (f variantsFlag) String() string { return "" }
func (f variantsFlag) Set(s string) error {
	v, err := parseVariant(s)
	if err != nil {
		return err
	}
	*f.vs = append(*f.vs, v)
	return nil
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	o := options{tools: map[string]string{}}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.rounds, "rounds", 3, "interleaved rounds; each target is measured once per round and medians are reported")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "throughput run per target and round (whole seconds)")
	fs.DurationVar(&o.latencyDuration, "latency-duration", 5*time.Second, "one-connection latency run per target and round (whole seconds)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each target's runs in each round (whole seconds; 0 for none)")
	fs.IntVar(&o.connections, "connections", 64, "connections of the throughput run")
	fs.IntVar(&o.threads, "threads", 2, "wrk threads of the throughput run")
	targets := fs.String("targets", "", "comma-separated targets to measure, in this order (default: "+strings.Join(builtinTargets, ",")+"); variants are added unless named here")
	fs.Var(variantsFlag{&o.variants}, "faultline-variant", "extra faultline target, name='[ENV=VAL ...] [faultline run flags ...]' (repeatable; {upstream} is replaced by the upstream URL)")
	fs.StringVar(&o.path, "path", "/items/42", "request path (the upstream's openapi.json declares /items/{item_id})")
	fs.StringVar(&o.jsonFile, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.faultlineBin, "faultline-bin", "", "use this faultline binary instead of building ./cmd/faultline")
	fs.BoolVar(&o.keepTmp, "keep-tmp", false, "keep the temp dir (configs, server logs) and print its path")
	fs.BoolVar(&o.tls, "tls", false, "also measure nginx and faultline (and variants) terminating HTTPS, as targets NAME-tls beside NAME, with one self-signed ECDSA P-256 certificate")
	for _, t := range []string{"wrk", "nginx", "haproxy", "caddy"} {
		fs.Func(t, "path of "+t+" (default: from $PATH, then /usr/sbin or /usr/bin)", func(s string) error {
			o.tools[t] = s
			return nil
		})
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./bench/load [flags]\n\nRuns each target in front of the same upstream on loopback and prints a Markdown table.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return o, err
		}
		return o, usageError{Msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return o, usageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *targets != "" {
		for _, t := range strings.Split(*targets, ",") {
			if t = strings.TrimSpace(t); t != "" {
				o.targets = append(o.targets, t)
			}
		}
	}
	switch {
	case o.rounds < 1:
		return o, usageError{Msg: "--rounds: must be at least 1"}
	case o.duration < time.Second:
		return o, usageError{Msg: "--duration: must be at least 1s (wrk counts whole seconds)"}
	case o.latencyDuration < time.Second:
		return o, usageError{Msg: "--latency-duration: must be at least 1s (wrk counts whole seconds)"}
	case o.warmup < 0:
		return o, usageError{Msg: "--warmup: must not be negative"}
	case o.connections < 1:
		return o, usageError{Msg: "--connections: must be at least 1"}
	case o.threads < 1:
		return o, usageError{Msg: "--threads: must be at least 1"}
	case !strings.HasPrefix(o.path, "/"):
		return o, usageError{Msg: fmt.Sprintf("--path: %q does not start with /", o.path)}
	}
	// wrk takes whole seconds; round here so the report states what ran.
	o.duration = o.duration.Round(time.Second)
	o.latencyDuration = o.latencyDuration.Round(time.Second)
	o.warmup = o.warmup.Round(time.Second)
	if _, err := selectTargets(o.targets, o.variants, o.tls); err != nil {
		return o, usageError{Msg: err.Error()}
	}
	return o, nil
}
