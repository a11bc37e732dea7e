package inject

import (
	"bytes"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Result is the output of Inject or Uninject.
type Result struct {
	// Output holds the documents of the inputs, in order, separated by
	// "---" lines.
	Output []byte
	// Changes says what changed, one line per change, such as
	// `app.yaml: document 1 (Deployment web): sidecar added (native)`.
	Changes []string
	// Warnings are about the inputs: a shutdown that would cut the
	// sidecar's drain short, a port that does not match, a kind that is
	// passed through although it has pods.
	Warnings []string
}

// Inject adds the sidecar to the workloads of inputs (Deployment,
// StatefulSet, DaemonSet, ReplicaSet, Job and CronJob, Pod, and those in a
// v1 List) and re-points the Services that select them. Workloads that
// already carry the sidecar are injected afresh, so that injecting twice
// gives what injecting once does. See the package documentation for what
// is kept of the input.
//
// Invalid options return an *OptionError; a document that cannot be
// handled returns a *DocumentError.
func Inject(inputs []Input, opts Options) (*Result, error) {
	r, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	return run(inputs, &r)
}

// Uninject removes what Inject added: the sidecar, its volume and
// annotations, and the Services' targetPorts are restored.
func Uninject(inputs []Input) (*Result, error) {
	return run(inputs, nil)
}

// run injects with r, or uninjects if r is nil.
func run(inputs []Input, r *resolved) (*Result, error) {
	var docs []*document
	for _, in := range inputs {
		d, err := parseDocuments(in)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	var objs []*object
	for _, d := range docs {
		objs = append(objs, d.objects()...)
	}

	var pods []selected
	for _, o := range objs {
		kind, ok := workloadKinds[o.kind]
		if !ok {
			continue
		}
		if o.apiVersion != kind.apiVersion {
			o.warnings = append(o.warnings, fmt.Sprintf("%s %s is not supported (%s is): passed through unchanged", o.apiVersion, o.kind, kind.apiVersion))
			continue
		}
		p, err := o.injectWorkload(kind, r)
		if err != nil {
			return nil, err
		}
		if p != nil {
			pods = append(pods, *p)
		}
	}
	for _, o := range objs {
		if o.apiVersion == "v1" && o.kind == "Service" {
			if err := o.updateService(pods, r); err != nil {
				return nil, err
			}
		}
	}

	res := &Result{}
	var buf bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			buf.WriteString("---\n")
		}
		if err := d.render(&buf); err != nil {
			return nil, err
		}
	}
	res.Output = buf.Bytes()
	for _, o := range objs {
		for _, c := range o.changes {
			res.Changes = append(res.Changes, o.loc+": "+c)
		}
		for _, w := range o.warnings {
			res.Warnings = append(res.Warnings, o.loc+": "+w)
		}
	}
	return res, nil
}

// injectWorkload removes the sidecar from the workload if it has one, then
// adds it unless uninjecting. It returns the pod as Services see it, if
// injected.
func (o *object) injectWorkload(kind workloadKind, r *resolved) (*selected, error) {
	obj := kind.newObject()
	if err := o.decodeStrict(obj); err != nil {
		return nil, err
	}
	before, err := typedForm(obj)
	if err != nil {
		return nil, err
	}
	meta, spec := kind.template(obj)
	p := pod{meta, spec}
	was := p.isInjected()
	p.remove()
	if r == nil {
		if was {
			o.changes = append(o.changes, "sidecar removed")
		}
		return nil, o.setOutput(before, obj)
	}

	warnings, err := p.add(r, workload{kind: kind, name: obj.GetName()})
	if err != nil {
		return nil, &DocumentError{o.loc, err}
	}
	o.warnings = append(o.warnings, warnings...)
	if err := o.setOutput(before, obj); err != nil {
		return nil, err
	}
	mode := "native"
	if r.Classic {
		mode = "classic"
	}
	switch {
	case !was:
		o.changes = append(o.changes, "sidecar added ("+mode+")")
	case o.out != nil:
		o.changes = append(o.changes, "sidecar updated ("+mode+")")
	}

	// Services resolve named ports against the pod as it was.
	uninjected := spec.DeepCopy()
	uninjected.InitContainers = filter(uninjected.InitContainers, func(c corev1.Container) bool { return c.Name != ContainerName })
	uninjected.Containers = filter(uninjected.Containers, func(c corev1.Container) bool { return c.Name != ContainerName })
	return &selected{
		ref:       o.ref(),
		namespace: obj.GetNamespace(),
		labels:    meta.Labels,
		spec:      uninjected,
	}, nil
}

// updateService restores the Service's targetPorts and, when injecting,
// re-points them at the sidecar of the pods it selects. When injecting, a
// Service that selects no injected pod of the input is left as is.
func (o *object) updateService(pods []selected, r *resolved) error {
	var sel []selected
	if r != nil {
		var lenient corev1.Service
		if err := json.Unmarshal(o.json, &lenient); err != nil {
			return nil // not ours to judge: it selects nothing we know of
		}
		for _, p := range pods {
			if selects(&lenient, p) {
				sel = append(sel, p)
			}
		}
		if len(sel) == 0 {
			return nil
		}
	} else if _, ok := annotations(o.user)[AnnotationOriginalTargetPort]; !ok {
		return nil
	}

	svc := &corev1.Service{}
	if err := o.decodeStrict(svc); err != nil {
		return err
	}
	before, err := typedForm(svc)
	if err != nil {
		return err
	}
	restored, err := restoreService(svc)
	if err != nil {
		return &DocumentError{o.loc, err}
	}
	done := restored
	if r != nil && !r.KeepServices {
		done = repointService(svc, sel, r)
		if len(done) > 0 && svc.Spec.ClusterIP == corev1.ClusterIPNone {
			o.warnings = append(o.warnings, fmt.Sprintf("it is headless (clusterIP: None): clients that find the pods by DNS "+
				"connect to the port they choose, and bypass the sidecar on port %d", r.AppPort))
		}
		if len(done) == 0 {
			o.warnings = append(o.warnings, fmt.Sprintf("it selects %s, but none of its ports reaches port %d (--app-port); left as is", sel[0].ref, r.AppPort))
			done = restored
		}
	}
	if err := o.setOutput(before, svc); err != nil {
		return err
	}
	if o.out != nil {
		o.changes = append(o.changes, done...)
	}
	return nil
}

// annotations returns the annotations of an object as written.
func annotations(obj map[string]any) map[string]any {
	meta, _ := obj["metadata"].(map[string]any)
	a, _ := meta["annotations"].(map[string]any)
	return a
}

// typedForm returns the JSON form of a typed object (see generic). An
// unset targetPort of a Service is left out, as the user writes it, rather
// than encoded as 0.
func typedForm(obj any) (map[string]any, error) {
	m, err := generic(obj)
	if err != nil {
		return nil, err
	}
	if _, ok := obj.(*corev1.Service); ok {
		spec, _ := m["spec"].(map[string]any)
		ports, _ := spec["ports"].([]any)
		for _, p := range ports {
			if pm, ok := p.(map[string]any); ok && pm["targetPort"] == json.Number("0") {
				delete(pm, "targetPort")
			}
		}
	}
	return m, nil
}

// setOutput sets o.out to the object as written, changed from before to
// obj, or to nil if that changes nothing.
func (o *object) setOutput(before map[string]any, obj any) error {
	after, err := typedForm(obj)
	if err != nil {
		return err
	}
	out := patch(o.user, before, after).(map[string]any)
	o.out = nil
	if !jsonEqual(out, o.user) {
		o.out = out
	}
	return nil
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
