package inject

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// selected is an injected pod as a Service sees it: its namespace, its
// labels and its ports before injection.
type selected struct {
	ref       string // deployment/web
	namespace string
	labels    map[string]string
	spec      *corev1.PodSpec
}

// selects reports whether the Service's selector matches the pod.
func selects(svc *corev1.Service, p selected) bool {
	if len(svc.Spec.Selector) == 0 || svc.Namespace != p.namespace {
		return false
	}
	for k, v := range svc.Spec.Selector {
		if got, ok := p.labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// isTCP reports whether a Service port carries TCP, the sidecar's protocol.
func isTCP(sp corev1.ServicePort) bool {
	return sp.Protocol == "" || sp.Protocol == corev1.ProtocolTCP
}

// restoreService puts back the targetPorts recorded in
// AnnotationOriginalTargetPort and removes it. It reports what it did.
func restoreService(svc *corev1.Service) ([]string, error) {
	value, ok := svc.Annotations[AnnotationOriginalTargetPort]
	if !ok {
		return nil, nil
	}
	targets, err := parseOriginalTargetPorts(value)
	if err != nil {
		return nil, err
	}
	var done []string
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		target, ok := targets[sp.Port]
		if !ok || !isTCP(*sp) {
			continue
		}
		sp.TargetPort = target
		done = append(done, fmt.Sprintf("port %d: targetPort %s restored", sp.Port, describeTarget(sp.TargetPort)))
	}
	delete(svc.Annotations, AnnotationOriginalTargetPort)
	if len(svc.Annotations) == 0 {
		svc.Annotations = nil
	}
	return done, nil
}

// parseOriginalTargetPorts reads AnnotationOriginalTargetPort: PORT=TARGET
// pairs separated by commas.
func parseOriginalTargetPorts(value string) (map[int32]intstr.IntOrString, error) {
	targets := map[int32]intstr.IntOrString{}
	if strings.TrimSpace(value) == "" {
		return targets, nil
	}
	for _, pair := range strings.Split(value, ",") {
		port, target, ok := strings.Cut(strings.TrimSpace(pair), "=")
		n, err := strconv.ParseInt(port, 10, 32)
		if !ok || err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("annotation %s: %q is not a list of PORT=TARGET", AnnotationOriginalTargetPort, value)
		}
		targets[int32(n)] = intstr.Parse(target)
		if target == "" {
			targets[int32(n)] = intstr.IntOrString{}
		}
	}
	return targets, nil
}

// describeTarget names a targetPort: 8000, http, or "(unset)".
func describeTarget(t intstr.IntOrString) string {
	if isUnset(t) {
		return "(unset)"
	}
	return t.String()
}

func isUnset(t intstr.IntOrString) bool {
	return t == intstr.IntOrString{} || t == intstr.FromString("")
}

// repointService points the Service's ports that reach the app at the
// sidecar and records their targets in AnnotationOriginalTargetPort. pods
// are the injected pods the Service selects.
func repointService(svc *corev1.Service, pods []selected, r *resolved) []string {
	var record, done []string
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		if !isTCP(*sp) || targetPortNumber(*sp, pods) != r.AppPort {
			continue
		}
		original := ""
		if !isUnset(sp.TargetPort) {
			original = sp.TargetPort.String()
		}
		record = append(record, fmt.Sprintf("%d=%s", sp.Port, original))
		done = append(done, fmt.Sprintf("port %d now targets the sidecar's port %d (targetPort was %s)", sp.Port, r.ListenPort, describeTarget(sp.TargetPort)))
		sp.TargetPort = intstr.FromInt32(int32(r.ListenPort))
	}
	if len(record) > 0 {
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		svc.Annotations[AnnotationOriginalTargetPort] = strings.Join(record, ",")
	}
	return done
}

// targetPortNumber returns the container port a Service port reaches in
// the pods: its targetPort, its port if that is unset, or the number of
// the container port that a named targetPort names. It returns 0 if a
// name is not found.
func targetPortNumber(sp corev1.ServicePort, pods []selected) int {
	t := sp.TargetPort
	switch {
	case isUnset(t):
		return int(sp.Port)
	case t.Type == intstr.Int:
		return int(t.IntVal)
	}
	for _, p := range pods {
		for _, c := range allContainers(p.spec) {
			for _, cp := range c.Ports {
				proto := cp.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				if cp.Name == t.StrVal && proto == corev1.ProtocolTCP {
					return int(cp.ContainerPort)
				}
			}
		}
	}
	return 0
}
