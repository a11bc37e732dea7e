package inject

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Prometheus annotations added with Options.PrometheusAnnotations.
const (
	annotationScrape = "prometheus.io/scrape"
	annotationPort   = "prometheus.io/port"
	annotationPath   = "prometheus.io/path"
)

// defaultGracePeriod is the pod's terminationGracePeriodSeconds when unset.
const defaultGracePeriod = 30 * time.Second

// pod is the part of a workload that inject changes: the pod template's
// metadata and spec, or a Pod's own.
type pod struct {
	meta *metav1.ObjectMeta
	spec *corev1.PodSpec
}

// isInjected reports whether the pod carries the sidecar.
func (p pod) isInjected() bool { return p.meta.Annotations[AnnotationInjected] == "true" }

// remove takes out everything that inject added. It is a no-op on a pod
// that is not injected.
func (p pod) remove() {
	if !p.isInjected() {
		return
	}
	notSidecar := func(c corev1.Container) bool { return c.Name != ContainerName }
	p.spec.InitContainers = filter(p.spec.InitContainers, notSidecar)
	p.spec.Containers = filter(p.spec.Containers, notSidecar)
	p.spec.Volumes = filter(p.spec.Volumes, func(v corev1.Volume) bool { return v.Name != VolumeName })
	a := p.meta.Annotations
	for _, k := range strings.Split(a[AnnotationAdded], ",") {
		delete(a, strings.TrimSpace(k))
	}
	delete(a, AnnotationAdded)
	delete(a, AnnotationInjected)
	delete(a, AnnotationVersion)
	if len(a) == 0 {
		p.meta.Annotations = nil
	}
}

// filter returns the items of s that keep, or nil if none.
func filter[T any](s []T, keep func(T) bool) []T {
	var out []T
	for _, x := range s {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

// workload is what the sidecar needs to know of the object around a pod.
type workload struct {
	kind workloadKind
	name string
}

// add adds the sidecar to a pod that does not carry it, and returns
// warnings about the pod. Errors name what is wrong with the pod.
func (p pod) add(r *resolved, w workload) (warnings []string, err error) {
	if len(p.spec.Containers) == 0 {
		return nil, errNoContainers
	}
	if r.Classic && w.kind.runsToCompletion {
		return nil, fmt.Errorf("--classic: a classic sidecar never exits, so the pod would never complete; " +
			"use the default native sidecar (Kubernetes 1.29 or later)")
	}
	if p.meta.Annotations[AnnotationInjected] != "" {
		return nil, fmt.Errorf("annotation %s: %q is not \"true\"", AnnotationInjected, p.meta.Annotations[AnnotationInjected])
	}
	if err := p.checkConflicts(r); err != nil {
		return nil, err
	}
	warnings = append(warnings, p.checkPorts(r)...)
	warnings = append(warnings, p.checkShutdown(r)...)

	c := r.container(p, w)
	if r.Classic {
		p.spec.Containers = append(p.spec.Containers, c)
	} else {
		p.spec.InitContainers = append(p.spec.InitContainers, c)
	}
	size := resource.MustParse(DataSizeLimit)
	p.spec.Volumes = append(p.spec.Volumes, corev1.Volume{
		Name:         VolumeName,
		VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &size}},
	})
	if p.meta.Annotations == nil {
		p.meta.Annotations = map[string]string{}
	}
	a := p.meta.Annotations
	a[AnnotationInjected] = "true"
	a[AnnotationVersion] = r.Version
	if r.PrometheusAnnotations {
		a[annotationScrape] = "true"
		a[annotationPort] = strconv.Itoa(r.MetricsPort)
		a[annotationPath] = "/metrics"
		a[AnnotationAdded] = strings.Join([]string{annotationPath, annotationPort, annotationScrape}, ",")
	}
	return warnings, nil
}

// checkConflicts refuses a pod that already has what inject adds.
func (p pod) checkConflicts(r *resolved) error {
	for _, c := range allContainers(p.spec) {
		if c.Name == ContainerName {
			return fmt.Errorf("it already has a container named %q, and no %s annotation: remove it first", ContainerName, AnnotationInjected)
		}
		for _, port := range c.Ports {
			switch {
			case port.Name == ProxyPortName:
				return fmt.Errorf("container %q already has a port named %q", c.Name, ProxyPortName)
			case port.Name == r.MetricsPortName:
				return fmt.Errorf("container %q already has a port named %q: choose another --metrics-port-name", c.Name, r.MetricsPortName)
			case int(port.ContainerPort) == r.ListenPort:
				return fmt.Errorf("container %q already uses port %d: choose another --listen-port", c.Name, r.ListenPort)
			case int(port.ContainerPort) == r.MetricsPort:
				return fmt.Errorf("container %q already uses port %d: choose another --metrics-port", c.Name, r.MetricsPort)
			case int(port.ContainerPort) == AdminPort:
				return fmt.Errorf("container %q uses port %d, the sidecar's admin port", c.Name, AdminPort)
			}
		}
	}
	for _, v := range p.spec.Volumes {
		if v.Name == VolumeName {
			return fmt.Errorf("it already has a volume named %q", VolumeName)
		}
	}
	if r.PrometheusAnnotations {
		for _, k := range []string{annotationScrape, annotationPort, annotationPath} {
			if v, ok := p.meta.Annotations[k]; ok {
				return fmt.Errorf("--prometheus-annotations: the pod already has %s: %q; remove it, or scrape with a PodMonitor", k, v)
			}
		}
	}
	return nil
}

// checkPorts warns when the app's containers declare ports, none of which
// is --app-port: the sidecar would forward to nothing.
func (p pod) checkPorts(r *resolved) []string {
	var declared []string
	for _, c := range p.spec.Containers {
		for _, port := range c.Ports {
			if int(port.ContainerPort) == r.AppPort {
				return nil
			}
			declared = append(declared, strconv.Itoa(int(port.ContainerPort)))
		}
	}
	if len(declared) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("no container declares port %d (--app-port), the sidecar's upstream; declared: %s",
		r.AppPort, strings.Join(declared, ", "))}
}

// checkShutdown warns when the pod's shutdown would cut the sidecar's
// drain short, or (classic sidecar) stop the sidecar before the app.
func (p pod) checkShutdown(r *resolved) []string {
	var warnings []string
	grace := defaultGracePeriod
	if s := p.spec.TerminationGracePeriodSeconds; s != nil {
		grace = time.Duration(*s) * time.Second
	}
	if grace <= r.drainDelay+r.DrainTimeout {
		warnings = append(warnings, fmt.Sprintf(
			"terminationGracePeriodSeconds is %d, which does not exceed --drain-delay %v + --drain-timeout %v: "+
				"the kubelet may kill the sidecar before it drains; raise it above %d, or lower the drain settings",
			int(grace/time.Second), r.drainDelay, r.DrainTimeout, int((r.drainDelay+r.DrainTimeout)/time.Second)))
	}
	if r.Classic {
		for _, c := range p.spec.Containers {
			if d, ok := preStopSleep(c); ok && d > r.drainDelay {
				warnings = append(warnings, fmt.Sprintf(
					"container %q sleeps %v before it stops, longer than --drain-delay %v: the sidecar would stop accepting requests first; "+
						"set --drain-delay %v", c.Name, d, r.drainDelay, d))
			}
		}
	}
	return warnings
}

var sleepCommand = regexp.MustCompile(`^(?:\S*/)?sleep\s+([0-9]+(?:\.[0-9]+)?)s?$`)

// preStopSleep returns how long the container's preStop hook sleeps, if it
// is a sleep action or a plain sleep command.
func preStopSleep(c corev1.Container) (time.Duration, bool) {
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		return 0, false
	}
	h := c.Lifecycle.PreStop
	if h.Sleep != nil {
		return time.Duration(h.Sleep.Seconds) * time.Second, true
	}
	if h.Exec == nil || len(h.Exec.Command) == 0 {
		return 0, false
	}
	cmd := h.Exec.Command
	if len(cmd) == 3 && strings.HasSuffix(cmd[0], "sh") && cmd[1] == "-c" {
		cmd = []string{cmd[2]}
	}
	m := sleepCommand.FindStringSubmatch(strings.TrimSpace(strings.Join(cmd, " ")))
	if m == nil {
		return 0, false
	}
	secs, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)), true
}

// allContainers returns the pod's init and app containers.
func allContainers(spec *corev1.PodSpec) []corev1.Container {
	return slices.Concat(spec.InitContainers, spec.Containers)
}

// container returns the sidecar for the pod.
func (r *resolved) container(p pod, w workload) corev1.Container {
	c := corev1.Container{
		Name:  ContainerName,
		Image: r.Image,
		Args: []string{
			"run",
			"--listen=:" + strconv.Itoa(r.ListenPort),
			"--upstream=http://127.0.0.1:" + strconv.Itoa(r.AppPort),
			"--metrics-listen=:" + strconv.Itoa(r.MetricsPort),
			"--data-dir=" + DataDir,
			"--drain-delay=" + r.drainDelay.String(),
			"--drain-timeout=" + r.DrainTimeout.String(),
		},
		Ports: []corev1.ContainerPort{
			{Name: ProxyPortName, ContainerPort: int32(r.ListenPort), Protocol: corev1.ProtocolTCP},
			{Name: r.MetricsPortName, ContainerPort: int32(r.MetricsPort), Protocol: corev1.ProtocolTCP},
		},
		Env:          r.env(p, w),
		Resources:    *r.Resources.DeepCopy(),
		VolumeMounts: []corev1.VolumeMount{{Name: VolumeName, MountPath: DataDir}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:     httpGet("/readyz", r.MetricsPort),
			PeriodSeconds:    5,
			TimeoutSeconds:   2,
			FailureThreshold: 2,
		},
		LivenessProbe: &corev1.Probe{
			ProbeHandler:     httpGet("/healthz", r.MetricsPort),
			PeriodSeconds:    10,
			TimeoutSeconds:   2,
			FailureThreshold: 3,
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr(true),
			RunAsUser:                ptr(int64(RunAsUser)),
			RunAsGroup:               ptr(int64(RunAsUser)),
			ReadOnlyRootFilesystem:   ptr(true),
			AllowPrivilegeEscalation: ptr(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	if !r.Classic {
		c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
	}
	return c
}

func httpGet(path string, port int) corev1.ProbeHandler {
	return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(int32(port))}}
}

func ptr[T any](v T) *T { return &v }

// Environment variables of the sidecar that the downward API fills in.
var downward = []struct{ env, field, attribute string }{
	{"K8S_POD_NAME", "metadata.name", "k8s.pod.name"},
	{"K8S_POD_UID", "metadata.uid", "k8s.pod.uid"},
	{"K8S_NAMESPACE_NAME", "metadata.namespace", "k8s.namespace.name"},
	{"K8S_NODE_NAME", "spec.nodeName", "k8s.node.name"},
}

// env returns the sidecar's environment: the pod's identity from the
// downward API, OpenTelemetry's service name and resource attributes, and
// Options.Env.
func (r *resolved) env(p pod, w workload) []corev1.EnvVar {
	var env []corev1.EnvVar
	var attrs []string
	for _, d := range downward {
		env = append(env, corev1.EnvVar{Name: d.env, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: d.field},
		}})
		attrs = append(attrs, d.attribute+"=$("+d.env+")")
	}
	attrs = append(attrs, "k8s.container.name="+ContainerName)
	if w.kind.ownerAttribute != "" && w.name != "" {
		attrs = append(attrs, w.kind.ownerAttribute+"="+w.name)
	}
	labels := p.meta.Labels
	if v := labels["app.kubernetes.io/version"]; v != "" {
		attrs = append(attrs, "service.version="+v)
	}
	if name := serviceName(labels, w.name); name != "" {
		env = append(env, corev1.EnvVar{Name: "OTEL_SERVICE_NAME", Value: name})
	}
	env = append(env,
		corev1.EnvVar{Name: "OTEL_RESOURCE_ATTRIBUTES", Value: strings.Join(attrs, ",")},
		// The root filesystem is read-only: temporary files go to the
		// data volume.
		corev1.EnvVar{Name: "TMPDIR", Value: DataDir},
	)
	for _, e := range r.Env {
		if i := slices.IndexFunc(env, func(x corev1.EnvVar) bool { return x.Name == e.Name }); i >= 0 {
			env[i] = e
		} else {
			env = append(env, e)
		}
	}
	return env
}

// serviceName is the OpenTelemetry service name of the pod's app: its
// name label, or the workload's name.
func serviceName(labels map[string]string, workloadName string) string {
	for _, k := range []string{"app.kubernetes.io/name", "app", "k8s-app"} {
		if v := labels[k]; v != "" {
			return v
		}
	}
	return workloadName
}
