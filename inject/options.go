package inject

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults of Options.
const (
	DefaultAppPort         = 8000
	DefaultListenPort      = 8080
	DefaultMetricsPort     = 9464
	DefaultMetricsPortName = "metrics"
	DefaultDrainDelay      = 5 * time.Second
	// DefaultDrainTimeout leaves DefaultDrainDelay + DefaultDrainTimeout
	// under the 30s that Kubernetes gives a pod by default
	// (terminationGracePeriodSeconds), so that the kubelet does not kill
	// the sidecar in the middle of its drain.
	DefaultDrainTimeout = 20 * time.Second
	// DefaultImageRepository is the image of DefaultImage, without a tag.
	DefaultImageRepository = "ghcr.io/faultline-dev/faultline"
)

// Names of what inject adds to a pod.
const (
	// ContainerName is the sidecar's container name.
	ContainerName = "faultline"
	// ProxyPortName is the name of the container port clients connect to.
	ProxyPortName = "faultline-http"
	// VolumeName is the emptyDir mounted at DataDir.
	VolumeName = "faultline-data"
	// DataDir is the sidecar's --data-dir: the capture store.
	DataDir = "/var/lib/faultline"
	// DataSizeLimit bounds the emptyDir: four times the sidecar's default
	// --capture-max-bytes (256MiB), so the store never reaches it, while a
	// runaway store cannot fill the node's disk.
	DataSizeLimit = "1Gi"
	// AdminPort is the port of the sidecar's --admin-listen default
	// (127.0.0.1:9901): the app must not use it.
	AdminPort = 9901
	// RunAsUser is the sidecar's user and group: distroless' nonroot.
	RunAsUser = 65532
)

// Annotations that inject writes.
const (
	// AnnotationInjected marks a pod template that carries the sidecar.
	AnnotationInjected = "faultline.dev/injected"
	// AnnotationVersion is the version of faultline that injected it.
	AnnotationVersion = "faultline.dev/version"
	// AnnotationAdded lists, comma-separated, the annotations other than
	// faultline.dev/* that inject added to the pod template (the
	// prometheus.io/* ones), so that uninject removes exactly those.
	AnnotationAdded = "faultline.dev/added-annotations"
	// AnnotationOriginalTargetPort on a Service lists the ports that
	// inject re-pointed at the sidecar, as PORT=TARGET pairs separated by
	// commas, TARGET being the original targetPort (a number or a port
	// name; empty if the port had none).
	AnnotationOriginalTargetPort = "faultline.dev/original-target-port"
)

// Options configure Inject. The zero value injects a native sidecar with
// the defaults above, the image DefaultImage(""), and re-points Services.
type Options struct {
	// AppPort is the port the app listens on in the pod; the sidecar
	// forwards to 127.0.0.1:AppPort. Zero means DefaultAppPort.
	AppPort int
	// ListenPort is where the sidecar accepts the app's traffic. Zero
	// means DefaultListenPort.
	ListenPort int
	// MetricsPort serves /metrics, /healthz and /readyz. Zero means
	// DefaultMetricsPort.
	MetricsPort int
	// MetricsPortName names the metrics container port (a PodMonitor
	// selects it by name). Empty means DefaultMetricsPortName.
	MetricsPortName string
	// Image is the sidecar's image. Empty means DefaultImage(Version).
	Image string
	// Classic adds the sidecar to the pod's containers instead of as a
	// native sidecar (an init container with restartPolicy Always, which
	// needs Kubernetes 1.29 or later).
	Classic bool
	// DrainDelay is the sidecar's --drain-delay. Zero means
	// DefaultDrainDelay; a negative value means no delay.
	DrainDelay time.Duration
	// DrainTimeout is the sidecar's --drain-timeout. Zero means
	// DefaultDrainTimeout.
	DrainTimeout time.Duration
	// KeepServices leaves Services as they are. By default a Service in
	// the input that selects an injected pod and targets the app's port
	// is re-pointed at ListenPort.
	KeepServices bool
	// PrometheusAnnotations adds prometheus.io/scrape, port and path to
	// the pod template, for scrape configs that read them. A PodMonitor
	// needs none.
	PrometheusAnnotations bool
	// Resources of the sidecar. Nil means DefaultResources().
	Resources *corev1.ResourceRequirements
	// Env is added to the sidecar's environment, after (and replacing)
	// the variables inject sets: OTEL_EXPORTER_OTLP_ENDPOINT, or any
	// FAULTLINE_<SETTING> of `faultline run`.
	Env []corev1.EnvVar
	// Version is recorded in AnnotationVersion. Empty means "devel".
	Version string
}

// DefaultResources returns the sidecar's default requests and limits. There
// is no CPU limit by default: a throttled proxy adds latency to every
// request of the app.
func DefaultResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("100m"),
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("256Mi"),
		},
	}
}

// releaseTag matches versions that are published as image tags;
// pseudoVersion matches the versions Go gives untagged commits.
var (
	releaseTag    = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`)
	pseudoVersion = regexp.MustCompile(`[0-9]{14}-[0-9a-f]{12}$`)
)

// DefaultImage returns the sidecar image for a faultline version: the
// release's tag, or "latest" for development builds.
func DefaultImage(version string) string {
	tag := "latest"
	if releaseTag.MatchString(version) && !pseudoVersion.MatchString(version) {
		tag = version
	}
	return DefaultImageRepository + ":" + tag
}

// OptionError reports an invalid option. Option is the flag name of
// `faultline inject` without dashes, such as "app-port".
type OptionError struct {
	Option string
	Err    error
}

func (e *OptionError) Error() string { return "--" + e.Option + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

func optionErrorf(option, format string, args ...any) error {
	return &OptionError{Option: option, Err: fmt.Errorf(format, args...)}
}

// resolved is Options with the defaults applied.
type resolved struct {
	Options
	drainDelay time.Duration // >= 0
}

// Validate reports the first invalid option as an *OptionError.
func (o Options) Validate() error {
	_, err := o.resolve()
	return err
}

func (o Options) resolve() (resolved, error) {
	r := resolved{Options: o}
	setDefault(&r.AppPort, DefaultAppPort)
	setDefault(&r.ListenPort, DefaultListenPort)
	setDefault(&r.MetricsPort, DefaultMetricsPort)
	setDefault(&r.MetricsPortName, DefaultMetricsPortName)
	setDefault(&r.Version, "devel")
	setDefault(&r.Image, DefaultImage(r.Version))
	setDefault(&r.DrainTimeout, DefaultDrainTimeout)
	switch {
	case o.DrainDelay == 0:
		r.drainDelay = DefaultDrainDelay
	case o.DrainDelay > 0:
		r.drainDelay = o.DrainDelay
	}
	if r.Resources == nil {
		res := DefaultResources()
		r.Resources = &res
	}

	ports := []struct {
		option string
		port   int
	}{{"app-port", r.AppPort}, {"listen-port", r.ListenPort}, {"metrics-port", r.MetricsPort}}
	for i, p := range ports {
		if p.port < 1 || p.port > 65535 {
			return r, optionErrorf(p.option, "%d is not a port (1-65535)", p.port)
		}
		if p.port == AdminPort {
			return r, optionErrorf(p.option, "%d is the sidecar's admin port (127.0.0.1:%d)", p.port, AdminPort)
		}
		for _, q := range ports[:i] {
			if p.port == q.port {
				return r, optionErrorf(p.option, "%d is also --%s", p.port, q.option)
			}
		}
	}
	if errs := validation.IsValidPortName(r.MetricsPortName); len(errs) > 0 {
		return r, optionErrorf("metrics-port-name", "%q is not a port name: %s", r.MetricsPortName, errs[0])
	}
	if r.MetricsPortName == ProxyPortName {
		return r, optionErrorf("metrics-port-name", "%q is the proxy port's name", r.MetricsPortName)
	}
	if strings.TrimSpace(r.Image) != r.Image || strings.ContainsAny(r.Image, " \t\n") {
		return r, optionErrorf("image", "%q is not an image reference", r.Image)
	}
	if r.DrainTimeout < 0 {
		return r, optionErrorf("drain-timeout", "%v is negative", r.DrainTimeout)
	}
	for _, e := range r.Env {
		if errs := validation.IsEnvVarName(e.Name); len(errs) > 0 {
			return r, optionErrorf("env", "%q is not an environment variable name: %s", e.Name, errs[0])
		}
	}
	for name, q := range r.Resources.Requests {
		if l, ok := r.Resources.Limits[name]; ok && q.Cmp(l) > 0 {
			return r, optionErrorf(string(name)+"-request", "%s is above the limit %s", q.String(), l.String())
		}
	}
	return r, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// errNoContainers is the error of a workload without containers.
var errNoContainers = errors.New("the pod has no containers")
