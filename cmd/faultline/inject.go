package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/faultline-dev/faultline/inject"
	"github.com/faultline-dev/faultline/sidecar/buildinfo"
)

// injectCommand adds the sidecar to Kubernetes manifests, or takes it out
// with --uninject: faultline inject [-f FILE|DIR|-]... [flags].
func injectCommand(ctx context.Context, args []string, stdio Stdio) error {
	fs := newFlagSet("inject", stdio)
	var files stringList
	fs.Var(&files, "f", "manifests: a file, a directory (its *.yaml, *.yml and *.json files) or - for standard input; repeatable (default -)")
	fs.Var(&files, "filename", "same as -f")
	uninject := fs.Bool("uninject", false, "take the sidecar out and restore the Services' targetPorts instead")
	version := buildinfo.Get().Version
	o := inject.Options{Version: version}
	fs.IntVar(&o.AppPort, "app-port", inject.DefaultAppPort, "port the app listens on in the pod (the sidecar's upstream is 127.0.0.1:PORT)")
	fs.IntVar(&o.ListenPort, "listen-port", inject.DefaultListenPort, "port the sidecar accepts the app's traffic on (Services are re-pointed at it)")
	fs.IntVar(&o.MetricsPort, "metrics-port", inject.DefaultMetricsPort, "port of the sidecar's /metrics, /healthz and /readyz")
	fs.StringVar(&o.MetricsPortName, "metrics-port-name", inject.DefaultMetricsPortName, "name of the metrics container port, which a PodMonitor selects")
	fs.StringVar(&o.Image, "image", inject.DefaultImage(version), "the sidecar's image")
	native := fs.Bool("native", false, "add a native sidecar: an init container with restartPolicy Always, Kubernetes 1.29 or later (the default)")
	fs.BoolVar(&o.Classic, "classic", false, "add the sidecar as an ordinary container, for Kubernetes before 1.29 (not for Jobs)")
	drainDelay := fs.Duration("drain-delay", inject.DefaultDrainDelay, "the sidecar's --drain-delay: on SIGTERM it keeps accepting requests this long, while endpoints update")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", inject.DefaultDrainTimeout, "the sidecar's --drain-timeout: then requests in flight get this long to finish")
	repoint := fs.Bool("repoint-services", true, "point the input's Services that reach the app's port at the sidecar (--repoint-services=false leaves them)")
	fs.BoolVar(&o.PrometheusAnnotations, "prometheus-annotations", false, "add prometheus.io/scrape, port and path pod annotations (not needed with a PodMonitor)")
	def := inject.DefaultResources()
	resources := []struct {
		flag  string
		limit bool
		name  corev1.ResourceName
		value *string
	}{
		{flag: "cpu-request", name: corev1.ResourceCPU},
		{flag: "memory-request", name: corev1.ResourceMemory},
		{flag: "cpu-limit", limit: true, name: corev1.ResourceCPU},
		{flag: "memory-limit", limit: true, name: corev1.ResourceMemory},
	}
	for i, r := range resources {
		list := def.Requests
		if r.limit {
			list = def.Limits
		}
		d := ""
		if q, ok := list[r.name]; ok {
			d = q.String()
		}
		resources[i].value = fs.String(r.flag, d, "the sidecar's "+strings.Replace(r.flag, "-", " ", 1)+"; empty for none")
	}
	var env envList
	fs.Var(&env, "env", "NAME=VALUE to add to the sidecar's environment, e.g. OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 or FAULTLINE_CAPTURE=5xx; repeatable")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdio.Out, injectHelp)
		}
		return err
	}
	if fs.NArg() > 0 {
		return usagef("inject: unexpected argument %q (manifests are read with -f FILE)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *native && o.Classic {
		return usagef("--classic: cannot be used with --native")
	}
	if *uninject {
		for _, f := range []string{"app-port", "listen-port", "metrics-port", "metrics-port-name", "image", "native", "classic", "drain-delay",
			"drain-timeout", "repoint-services", "prometheus-annotations", "cpu-request", "memory-request", "cpu-limit", "memory-limit", "env"} {
			if set[f] {
				return usagef("--%s: not used with --uninject, which takes out whatever was injected", f)
			}
		}
	}
	switch {
	case *drainDelay < 0:
		return usagef("--drain-delay: %v is negative", *drainDelay)
	case *drainDelay == 0:
		o.DrainDelay = -1 // none
	default:
		o.DrainDelay = *drainDelay
	}
	if o.DrainTimeout <= 0 {
		return usagef("--drain-timeout: %v is not a positive duration (like 20s)", o.DrainTimeout)
	}
	o.KeepServices = !*repoint
	res := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, r := range resources {
		if *r.value == "" {
			continue
		}
		q, err := resource.ParseQuantity(*r.value)
		if err != nil || q.Sign() <= 0 {
			return usagef("--%s: %q is not a positive quantity (like 100m, 0.5 or 64Mi)", r.flag, *r.value)
		}
		if r.limit {
			res.Limits[r.name] = q
		} else {
			res.Requests[r.name] = q
		}
	}
	o.Resources = &res
	o.Env = env

	inputs, err := readManifests(files, stdio.In)
	if err != nil {
		return err
	}
	var result *inject.Result
	if *uninject {
		result, err = inject.Uninject(inputs)
	} else {
		result, err = inject.Inject(inputs, o)
	}
	var oe *inject.OptionError
	var de *inject.DocumentError
	if errors.As(err, &oe) || errors.As(err, &de) {
		return usagef("%v", err)
	} else if err != nil {
		return err
	}
	for _, w := range result.Warnings {
		fmt.Fprintf(stdio.Err, "faultline: warning: %s\n", w)
	}
	for _, c := range result.Changes {
		fmt.Fprintf(stdio.Err, "faultline: %s\n", c)
	}
	if len(result.Output) == 0 {
		fmt.Fprintln(stdio.Err, "faultline: warning: the input holds no Kubernetes objects")
	}
	_, err = stdio.Out.Write(result.Output)
	return err
}

const injectHelp = `
faultline inject [-f FILE|DIR|-]... [flags] > injected.yaml
faultline inject --uninject [-f FILE|DIR|-]... > plain.yaml

Adds the faultline sidecar to the Deployments, StatefulSets, DaemonSets,
ReplicaSets, Jobs, CronJobs and Pods of the manifests (and those in a List),
re-points the Services that reach the app at it, and writes every document
to standard output; other documents pass through unchanged. Injecting again
updates the sidecar; --uninject takes it out. What changed, and warnings,
go to standard error.

  faultline inject -f k8s/ | kubectl apply -f -
  kubectl get deploy web -o yaml | faultline inject | kubectl apply -f -
`

// readManifests reads the files named by -f, in order: "-" is in, a
// directory its YAML and JSON files by name.
func readManifests(files []string, in io.Reader) ([]inject.Input, error) {
	if len(files) == 0 {
		files = []string{"-"}
	}
	var inputs []inject.Input
	stdin := false
	for _, f := range files {
		if f == "-" {
			if stdin {
				return nil, usagef("-f: - (standard input) is given twice")
			}
			stdin = true
			data, err := io.ReadAll(in)
			if err != nil {
				return nil, fmt.Errorf("inject: reading standard input: %w", err)
			}
			inputs = append(inputs, inject.Input{Name: "stdin", Data: data})
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			return nil, usagef("-f: %v", err)
		}
		paths := []string{f}
		if fi.IsDir() {
			entries, err := os.ReadDir(f)
			if err != nil {
				return nil, usagef("-f: %v", err)
			}
			paths = nil
			for _, e := range entries {
				if ext := filepath.Ext(e.Name()); !e.IsDir() && slices.Contains([]string{".yaml", ".yml", ".json"}, ext) {
					paths = append(paths, filepath.Join(f, e.Name()))
				}
			}
			if len(paths) == 0 {
				return nil, usagef("-f: %s holds no .yaml, .yml or .json file", f)
			}
		}
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, usagef("-f: %v", err)
			}
			inputs = append(inputs, inject.Input{Name: p, Data: data})
		}
	}
	return inputs, nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// envList is a repeatable NAME=VALUE flag.
type envList []corev1.EnvVar

func (l *envList) String() string { return "" }
func (l *envList) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q is not NAME=VALUE", s)
	}
	*l = append(*l, corev1.EnvVar{Name: name, Value: value})
	return nil
}
