package inject

import (
	"bytes"
	"fmt"
	"github.com/faultline-dev/faultline/internal/golden"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// testVersion stands for the faultline version in every golden file.
const testVersion = "v1.2.3"

// fullOptions sets every option, so that a golden file shows each one.
var fullOptions = Options{
	AppPort:               9000,
	ListenPort:            8081,
	MetricsPort:           9100,
	MetricsPortName:       "fl-metrics",
	Image:                 "registry.example.com/faultline:v1.2.3",
	DrainDelay:            10 * time.Second,
	DrainTimeout:          15 * time.Second,
	PrometheusAnnotations: true,
	Resources: &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("128Mi")},
	},
	Env: []corev1.EnvVar{
		{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://otel-collector.monitoring:4318"},
		{Name: "OTEL_SERVICE_NAME", Value: "shop-web"},
		{Name: "FAULTLINE_CAPTURE", Value: "5xx"},
	},
}

// goldenCases: testdata/in/NAME.yaml, injected (or uninjected) with opts,
// gives testdata/out/NAME.yaml, and the changes and warnings in
// testdata/out/NAME.txt.
var goldenCases = []struct {
	name, in string // in defaults to name
	opts     Options
	uninject bool
}{
	{name: "deployment"},
	{name: "statefulset"},
	{name: "daemonset"},
	{name: "replicaset"},
	{name: "job"},
	{name: "cronjob"},
	{name: "pod"},
	{name: "multi-document"},
	{name: "list"},
	{name: "named-target-port"},
	{name: "unknown-kinds"},
	{name: "comments"},
	{name: "json"},
	{name: "classic", opts: Options{Classic: true}},
	{name: "injected"},
	{name: "uninject", in: "injected", uninject: true},
	{name: "options", opts: fullOptions},
	{name: "keep-services", in: "named-target-port", opts: Options{KeepServices: true}},
	{name: "no-drain-delay", in: "pod", opts: Options{DrainDelay: -1}},
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			if in == "" {
				in = c.name
			}
			res := runFile(t, filepath.Join("testdata", "in", in+".yaml"), c.opts, c.uninject)
			golden.Assert(t, filepath.Join("testdata", "out", c.name+".yaml"), res.Output)
			var notes bytes.Buffer
			for _, s := range res.Changes {
				fmt.Fprintf(&notes, "change: %s\n", s)
			}
			for _, s := range res.Warnings {
				fmt.Fprintf(&notes, "warning: %s\n", s)
			}
			golden.Assert(t, filepath.Join("testdata", "out", c.name+".txt"), notes.Bytes())
			checkStrict(t, res.Output, inputDocs(t, filepath.Join("testdata", "in", in+".yaml")))
		})
	}
}

// runFile injects (or uninjects) the file with opts at testVersion.
func runFile(t *testing.T, path string, opts Options, uninject bool) *Result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in := []Input{{Name: filepath.Base(path), Data: data}}
	opts.Version = testVersion
	var res *Result
	if uninject {
		res, err = Uninject(in)
	} else {
		res, err = Inject(in, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func inputDocs(t *testing.T, path string) [][]byte {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return splitDocuments(data)
}
