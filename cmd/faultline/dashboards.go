package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/faultline-dev/faultline/dashboards"
)

// dashboardsCommand writes the Grafana dashboards: faultline dashboards
// --out DIR [--format json|configmap|provisioning] [options].
func dashboardsCommand(ctx context.Context, args []string, stdio Stdio) error {
	fs := newFlagSet("dashboards", stdio)
	out := fs.String("out", "", "directory to write the dashboards to (created if missing; required)")
	format := fs.String("format", string(dashboards.FormatJSON),
		"json: one Grafana JSON file per dashboard; configmap: Kubernetes ConfigMaps for Grafana's dashboard sidecar; "+
			"provisioning: a provisioning provider and its JSON files")
	var o dashboards.Options
	fs.StringVar(&o.DatasourceUID, "datasource-uid", "", "uid of the Prometheus data source to preselect (default: Grafana's default)")
	fs.StringVar(&o.DatasourceName, "datasource-name", "", "name of the Prometheus data source to preselect")
	fs.StringVar(&o.TitlePrefix, "title-prefix", "", "text put before every dashboard title, e.g. prod")
	tags := fs.String("tags", "", "comma-separated tags to add to the tag faultline")
	fs.StringVar(&o.CaptureURL, "capture-url", dashboards.DefaultCaptureURL,
		"base URL of the sidecar's capture page, as on-call reaches it (port-forward, ingress)")
	fs.StringVar(&o.TraceDatasourceUID, "trace-datasource-uid", "",
		"uid of a Tempo data source: failing routes link to their traces (exemplar links are set on the Prometheus data source)")
	fs.DurationVar(&o.LatencyThreshold, "slo-latency-threshold", dashboards.DefaultLatencyThreshold,
		"latency threshold of the SLO file given to faultline alerts, a bucket bound of the duration histogram "+
			"(the objectives themselves are read from the alerts' recording rules)")
	namespace := fs.String("namespace", "", "namespace of the ConfigMaps (configmap format; default: kubectl's)")
	folder := fs.String("folder", dashboards.DefaultFolder, "Grafana folder of the dashboards (configmap and provisioning formats)")
	provisioningPath := fs.String("provisioning-path", dashboards.DefaultProvisioningPath,
		"where Grafana reads the JSON files (provisioning format)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("dashboards: unexpected argument %q (flags only)", fs.Arg(0))
	}
	if *out == "" {
		return usagef("--out: required: the directory to write the dashboards to")
	}
	f, err := dashboards.ParseFormat(*format)
	if err != nil {
		return usagef("--format: %v", err)
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["namespace"] && f != dashboards.FormatConfigMap {
		return usagef("--namespace: only used with --format configmap")
	}
	if set["provisioning-path"] && f != dashboards.FormatProvisioning {
		return usagef("--provisioning-path: only used with --format provisioning")
	}
	if set["folder"] && f == dashboards.FormatJSON {
		return usagef("--folder: only used with --format configmap or provisioning")
	}
	if !filepath.IsAbs(*provisioningPath) {
		return usagef("--provisioning-path: %q is not an absolute path", *provisioningPath)
	}
	if *tags != "" {
		for _, t := range strings.Split(*tags, ",") {
			o.Tags = append(o.Tags, strings.TrimSpace(t))
		}
	}

	boards, err := dashboards.Build(o)
	if oe := (*dashboards.OptionError)(nil); errors.As(err, &oe) {
		return usagef("--%s: %v", oe.Option, oe.Err)
	} else if err != nil {
		return err
	}
	files, err := dashboards.Render(boards, dashboards.Output{
		Format:           f,
		Namespace:        *namespace,
		Folder:           *folder,
		ProvisioningPath: *provisioningPath,
	})
	if err != nil {
		return err
	}
	if err := dashboards.WriteFiles(*out, files); err != nil {
		return err
	}
	for _, file := range files {
		fmt.Fprintln(stdio.Out, filepath.Join(*out, filepath.FromSlash(file.Path)))
	}
	return nil
}
