package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/faultline-dev/faultline/alerts"
)

// alertFlags names the flag behind each alerts.Options field, so that a bad
// value is reported under the name the user typed.
var alertFlags = map[string]string{
	"SLO":                  "--slo",
	"Selector":             "--selector",
	"RunbookURLTemplate":   "--runbook-url-template",
	"DashboardURLTemplate": "--dashboard-url-template",
}

// alertsCommand writes the Prometheus rules, and optionally a runbook per
// alert. The work is in package alerts; this maps flags to alerts.Options.
func alertsCommand(ctx context.Context, args []string, stdio Stdio) error {
	fs := newFlagSet("alerts", stdio)
	out := fs.String("out", "", "write the rules to this file, into this directory (as "+alerts.FormatRules.FileName()+"), or - for standard output (required)")
	format := fs.String("format", string(alerts.FormatRules), "rules (a Prometheus rule file) or prometheusrule (a prometheus-operator PrometheusRule resource)")
	sloFile := fs.String("slo", "", "SLO file (YAML; see --slo-example); default 99.9% of requests without 5xx and 99% within 500ms, over 30 days")
	sloExample := fs.Bool("slo-example", false, "print a commented SLO file and exit")
	runbooks := fs.String("runbooks", "", "also write one Markdown runbook per alert into this directory")
	runbookURL := fs.String("runbook-url-template", alerts.DefaultRunbookURLTemplate, "runbook_url of every alert; "+alerts.AlertPlaceholder+" becomes the alert name")
	dashboardURL := fs.String("dashboard-url-template", alerts.DefaultDashboardURLTemplate, "URL of a Grafana dashboard; "+alerts.UIDPlaceholder+" becomes its UID, and dashboard_url adds the route variable")
	selector := fs.String("selector", "", `label matchers added to every query, e.g. '{job="shop"}'; default every target`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("alerts: unexpected argument %q (flags only; try 'faultline alerts -h')", fs.Arg(0))
	}
	if *sloExample {
		_, err := stdio.Out.Write(alerts.ExampleSLO)
		return err
	}
	if *out == "" {
		return usagef("--out: required: a file, a directory, or - for standard output")
	}
	f := alerts.Format(*format)
	if !slices.Contains(alerts.Formats, f) {
		return usagef("--format: %q is not rules or prometheusrule", *format)
	}

	opts := alerts.Options{
		Selector:             *selector,
		RunbookURLTemplate:   *runbookURL,
		DashboardURLTemplate: *dashboardURL,
	}
	if *sloFile != "" {
		data, err := os.ReadFile(*sloFile)
		if err != nil {
			return usagef("--slo: %v", err)
		}
		slo, err := alerts.ParseSLO(data)
		if err != nil {
			return usagef("--slo %s: %v", *sloFile, err)
		}
		opts.SLO = slo
	}
	g, err := alerts.Generate(opts)
	if err != nil {
		var oe *alerts.OptionError
		if errors.As(err, &oe) {
			if oe.Field == "SLO" {
				return usagef("--slo %s: %v", *sloFile, oe.Err)
			}
			return usagef("%s: %v", alertFlags[oe.Field], oe.Err)
		}
		return err
	}
	data, err := alerts.Encode(g, f)
	if err != nil {
		return err
	}

	// With the rules on standard output, the report goes to standard error.
	report := stdio.Out
	if *out == "-" {
		report = stdio.Err
	}
	path, err := alerts.WriteOutput(*out, f.FileName(), data, stdio.Out)
	if err != nil {
		return usagef("--out: %v", err)
	}
	recording, alerting := g.Counts()
	fmt.Fprintf(report, "wrote %d recording and %d alerting rules to %s\n", recording, alerting, path)

	if *runbooks != "" {
		rbs, err := alerts.Runbooks(opts)
		if err != nil {
			return err
		}
		paths, err := alerts.WriteRunbooks(*runbooks, rbs)
		if err != nil {
			return usagef("--runbooks: %v", err)
		}
		fmt.Fprintf(report, "wrote %d runbooks to %s\n", len(paths), *runbooks)
	}
	return ctx.Err()
}
