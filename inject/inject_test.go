package inject

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/faultline-dev/faultline/internal/golden"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// typedObject decodes one document strictly into its k8s.io/api type. It
// returns nil for kinds that inject does not read.
func typedObject(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	var obj any
	switch {
	case tm.APIVersion == "v1" && tm.Kind == "Service":
		obj = &corev1.Service{}
	case tm.APIVersion == "v1" && tm.Kind == "List":
		var list metav1.List
		if err := yaml.UnmarshalStrict(doc, &list); err != nil {
			return nil, err
		}
		var items []any
		for i, it := range list.Items {
			o, err := typedObject(it.Raw)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i+1, err)
			}
			items = append(items, o)
		}
		return items, nil
	default:
		k, ok := workloadKinds[tm.Kind]
		if !ok || k.apiVersion != tm.APIVersion {
			return nil, nil
		}
		obj = k.newObject()
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// checkStrict checks that every document of out is one of the inputs as
// read, or decodes strictly into k8s.io/api types.
func checkStrict(t *testing.T, out []byte, in [][]byte) {
	t.Helper()
	for i, doc := range splitDocuments(out) {
		if slices.ContainsFunc(in, func(d []byte) bool { return bytes.Equal(bytes.TrimSpace(d), bytes.TrimSpace(doc)) }) {
			continue
		}
		if _, err := typedObject(doc); err != nil {
			t.Errorf("output document %d does not decode strictly: %v\n%s", i+1, err, doc)
		}
	}
}

// typedDocs decodes every document of a stream (nil for other kinds).
func typedDocs(t *testing.T, data []byte) []any {
	t.Helper()
	var objs []any
	for _, doc := range splitDocuments(data) {
		o, err := typedObject(doc)
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		objs = append(objs, o)
	}
	return objs
}

func readInputs(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "in", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatal("no inputs", err)
	}
	ins := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		ins[filepath.Base(p)] = data
	}
	return ins
}

// optionSets are the option sets the properties below are checked with.
var optionSets = map[string]Options{
	"default": {},
	"classic": {Classic: true},
	"options": fullOptions,
}

func injectOK(t *testing.T, name string, data []byte, opts Options) []byte {
	t.Helper()
	res, err := Inject([]Input{{Name: name, Data: data}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res.Output
}

// TestInjectTwice: injecting twice gives what injecting once does, byte
// for byte, and injecting with other options gives the objects that
// injecting the original with them does (a document that the second
// injection leaves as it was read is the same object, not the same text).
func TestInjectTwice(t *testing.T) {
	for name, data := range readInputs(t) {
		for setName, opts := range optionSets {
			t.Run(name+"/"+setName, func(t *testing.T) {
				if opts.Classic && (name == "job.yaml" || name == "cronjob.yaml") {
					t.Skip("--classic refuses Jobs")
				}
				once := injectOK(t, name, data, opts)
				twice := injectOK(t, name, once, opts)
				if !bytes.Equal(once, twice) {
					t.Errorf("injecting twice differs (-once +twice):\n%s", golden.Diff(string(once), string(twice)))
				}
				for otherName, other := range optionSets {
					if other.Classic && (name == "job.yaml" || name == "cronjob.yaml") {
						continue
					}
					direct := typedDocs(t, injectOK(t, name, data, other))
					over := typedDocs(t, injectOK(t, name, once, other))
					for i := range direct {
						if !equality.Semantic.DeepEqual(direct[i], over[i]) {
							d, _ := yaml.Marshal(direct[i])
							o, _ := yaml.Marshal(over[i])
							t.Errorf("document %d: injecting with %s over %s differs from injecting with %s (-direct +over):\n%s",
								i+1, otherName, setName, otherName, golden.Diff(string(d), string(o)))
						}
					}
				}
			})
		}
	}
}

// TestUninjectRoundTrips: uninjecting what inject wrote gives back the
// input's objects (semantically: equal once decoded), and the documents
// that inject did not change byte for byte.
func TestUninjectRoundTrips(t *testing.T) {
	for name, data := range readInputs(t) {
		for setName, opts := range optionSets {
			t.Run(name+"/"+setName, func(t *testing.T) {
				if opts.Classic && (name == "job.yaml" || name == "cronjob.yaml") {
					t.Skip("--classic refuses Jobs")
				}
				original := data
				if name == "injected.yaml" {
					res, err := Uninject([]Input{{Name: name, Data: data}})
					if err != nil {
						t.Fatal(err)
					}
					original = res.Output
				}
				injected := injectOK(t, name, original, opts)
				res, err := Uninject([]Input{{Name: name, Data: injected}})
				if err != nil {
					t.Fatal(err)
				}
				want, got := typedDocs(t, original), typedDocs(t, res.Output)
				if len(want) != len(got) {
					t.Fatalf("%d documents, want %d", len(got), len(want))
				}
				for i := range want {
					if !equality.Semantic.DeepEqual(want[i], got[i]) {
						w, _ := yaml.Marshal(want[i])
						g, _ := yaml.Marshal(got[i])
						t.Errorf("document %d differs after uninject (-input +uninjected):\n%s", i+1, golden.Diff(string(w), string(g)))
					}
				}
				inDocs, outDocs := splitDocuments(original), splitDocuments(res.Output)
				for i := range inDocs {
					if want[i] == nil && !bytes.Equal(inDocs[i], outDocs[i]) {
						t.Errorf("document %d, not a workload, changed:\n%s", i+1, golden.Diff(string(inDocs[i]), string(outDocs[i])))
					}
				}
			})
		}
	}
}

// TestUninjectUntouched: uninjecting what has no sidecar changes nothing.
func TestUninjectUntouched(t *testing.T) {
	for name, data := range readInputs(t) {
		if name == "injected.yaml" {
			continue
		}
		res, err := Uninject([]Input{{Name: name, Data: data}})
		if err != nil {
			t.Fatal(name, err)
		}
		if !bytes.Equal(normalizeStream(data), res.Output) || len(res.Changes) > 0 {
			t.Errorf("%s: uninject changed it: %q\n%s", name, res.Changes, golden.Diff(string(data), string(res.Output)))
		}
	}
}

// normalizeStream is a stream as inject writes it: documents separated by
// "---" lines, without empty documents.
func normalizeStream(data []byte) []byte {
	var b bytes.Buffer
	for i, d := range splitDocuments(data) {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(d)
		if !bytes.HasSuffix(d, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// TestSidecar checks the injected pod field by field, against the issue's
// requirements.
func TestSidecar(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "in", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, classic := range []bool{false, true} {
		t.Run(fmt.Sprintf("classic=%v", classic), func(t *testing.T) {
			out := injectOK(t, "deployment.yaml", data, Options{Classic: classic, Version: testVersion})
			var d appsv1.Deployment
			if err := yaml.UnmarshalStrict(out, &d); err != nil {
				t.Fatal(err)
			}
			spec := d.Spec.Template.Spec
			var c corev1.Container
			if classic {
				if len(spec.InitContainers) != 0 || len(spec.Containers) != 2 || spec.Containers[0].Name != "app" {
					t.Fatalf("classic: want the sidecar after the app in containers: %+v", spec)
				}
				c = spec.Containers[1]
				if c.RestartPolicy != nil {
					t.Error("classic sidecar has a restartPolicy")
				}
			} else {
				if len(spec.InitContainers) != 1 || len(spec.Containers) != 1 {
					t.Fatalf("native: want the sidecar in initContainers: %+v", spec)
				}
				c = spec.InitContainers[0]
				if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
					t.Error("native sidecar without restartPolicy: Always")
				}
			}
			if c.Name != "faultline" || c.Image != "ghcr.io/faultline-dev/faultline:v1.2.3" {
				t.Errorf("name %q image %q", c.Name, c.Image)
			}
			wantArgs := []string{"run", "--listen=:8080", "--upstream=http://127.0.0.1:8000", "--metrics-listen=:9464",
				"--data-dir=/var/lib/faultline", "--drain-delay=5s", "--drain-timeout=20s"}
			if !slices.Equal(c.Args, wantArgs) {
				t.Errorf("args %q\nwant %q", c.Args, wantArgs)
			}
			if len(c.Ports) != 2 || c.Ports[0].ContainerPort != 8080 || c.Ports[1].Name != "metrics" || c.Ports[1].ContainerPort != 9464 {
				t.Errorf("ports %+v", c.Ports)
			}
			if p := c.ReadinessProbe; p == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.IntValue() != 9464 {
				t.Errorf("readiness %+v", p)
			}
			if p := c.LivenessProbe; p == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.IntValue() != 9464 {
				t.Errorf("liveness %+v", p)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources %+v", c.Resources)
			}
			sc := c.SecurityContext
			if sc == nil || !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation ||
				!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("securityContext %+v", sc)
			}
			if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/var/lib/faultline" {
				t.Errorf("mounts %+v", c.VolumeMounts)
			}
			vi := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == c.VolumeMounts[0].Name })
			if vi < 0 || spec.Volumes[vi].EmptyDir == nil {
				t.Errorf("no emptyDir for the data dir: %+v", spec.Volumes)
			}
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				env[e.Name] = e
			}
			for name, field := range map[string]string{"K8S_POD_NAME": "metadata.name", "K8S_NAMESPACE_NAME": "metadata.namespace", "K8S_NODE_NAME": "spec.nodeName"} {
				if e := env[name]; e.ValueFrom == nil || e.ValueFrom.FieldRef.FieldPath != field {
					t.Errorf("%s: %+v", name, e)
				}
			}
			if env["OTEL_SERVICE_NAME"].Value != "web" {
				t.Errorf("OTEL_SERVICE_NAME %+v", env["OTEL_SERVICE_NAME"])
			}
			attrs := env["OTEL_RESOURCE_ATTRIBUTES"].Value
			for _, a := range []string{"k8s.pod.name=$(K8S_POD_NAME)", "k8s.namespace.name=$(K8S_NAMESPACE_NAME)", "k8s.node.name=$(K8S_NODE_NAME)",
				"k8s.deployment.name=web", "service.version=1.4.0"} {
				if !slices.Contains(strings.Split(attrs, ","), a) {
					t.Errorf("OTEL_RESOURCE_ATTRIBUTES %q lacks %q", attrs, a)
				}
			}
			a := d.Spec.Template.Annotations
			if a["faultline.dev/injected"] != "true" || a["faultline.dev/version"] != testVersion {
				t.Errorf("annotations %v", a)
			}
			if _, ok := a["prometheus.io/scrape"]; ok {
				t.Error("prometheus.io annotations without the option")
			}
		})
	}
}

func TestErrors(t *testing.T) {
	deployment, err := os.ReadFile(filepath.Join("testdata", "in", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
		opts Options
		want string
	}{
		{"not yaml", "apiVersion: v1\nkind: [Pod\n", Options{}, "in.yaml: document 1: not YAML: "},
		{"second document not yaml", "kind: ConfigMap\napiVersion: v1\n---\n\tkey: value\n", Options{}, "in.yaml: document 2: not YAML: "},
		{"not an object", "- a\n- b\n", Options{}, "in.yaml: document 1: not a Kubernetes object"},
		{"no kind", "apiVersion: v1\nmetadata: {name: x}\n", Options{}, "in.yaml: document 1: not a Kubernetes object: no kind"},
		{"no apiVersion", "kind: Pod\n", Options{}, "in.yaml: document 1: not a Kubernetes object: Pod has no apiVersion"},
		{"no containers", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: empty}\nspec:\n  template:\n    spec:\n      containers: []\n",
			Options{}, "in.yaml: document 1 (Deployment empty): the pod has no containers"},
		{"unknown field", strings.Replace(string(deployment), "image:", "imagePullPolicyy: Always\n        image:", 1),
			Options{}, `in.yaml: document 1 (Deployment web): unknown field "spec.template.spec.containers[0].imagePullPolicyy"`},
		{"duplicate field", strings.Replace(string(deployment), "replicas: 2", "replicas: 2\n  replicas: 3", 1),
			Options{}, `in.yaml: document 1 (Deployment web): yaml: unmarshal errors: line 10: key "replicas" already set in map`},
		{"wrong type", strings.Replace(string(deployment), "replicas: 2", "replicas: two", 1),
			Options{}, "in.yaml: document 1 (Deployment web): not a valid Deployment: "},
		{"list item", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n  spec: {}\n",
			Options{}, "in.yaml: document 1 (List), item 1 (Pod p): the pod has no containers"},
		{"app port out of range", string(deployment), Options{AppPort: 70000}, "--app-port: 70000 is not a port (1-65535)"},
		{"negative port", string(deployment), Options{ListenPort: -1}, "--listen-port: -1 is not a port"},
		{"same ports", string(deployment), Options{ListenPort: 8000}, "--listen-port: 8000 is also --app-port"},
		{"admin port", string(deployment), Options{MetricsPort: 9901}, "--metrics-port: 9901 is the sidecar's admin port"},
		{"bad port name", string(deployment), Options{MetricsPortName: "Metrics_Port"}, `--metrics-port-name: "Metrics_Port" is not a port name`},
		{"bad env", string(deployment), Options{Env: []corev1.EnvVar{{Name: "A=B"}}}, `--env: "A=B" is not an environment variable name`},
		{"port taken", strings.Replace(string(deployment), "containerPort: 8000", "containerPort: 8080", 1),
			Options{}, `in.yaml: document 1 (Deployment web): container "app" already uses port 8080: choose another --listen-port`},
		{"port name taken", strings.Replace(string(deployment), "name: http", "name: metrics", 1),
			Options{}, `container "app" already has a port named "metrics": choose another --metrics-port-name`},
		{"container named faultline", strings.Replace(string(deployment), "- name: app", "- name: faultline", 1),
			Options{}, `it already has a container named "faultline", and no faultline.dev/injected annotation`},
		{"classic job", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers: [{name: app, image: x}]\n",
			Options{Classic: true}, "in.yaml: document 1 (Job j): --classic: a classic sidecar never exits"},
		{"prometheus annotations taken", strings.Replace(string(deployment), "      labels:\n        app.kubernetes.io/name: web\n        app.kubernetes.io/version",
			"      annotations:\n        prometheus.io/scrape: \"true\"\n      labels:\n        app.kubernetes.io/name: web\n        app.kubernetes.io/version", 1),
			Options{PrometheusAnnotations: true}, `--prometheus-annotations: the pod already has prometheus.io/scrape: "true"`},
		{"bad original target port", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: shop\n  annotations: {faultline.dev/original-target-port: eighty}\nspec:\n  selector: {app.kubernetes.io/name: web}\n  ports: [{port: 80}]\n---\n" + string(deployment),
			Options{}, `annotation faultline.dev/original-target-port: "eighty" is not a list of PORT=TARGET`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Inject([]Input{{Name: "in.yaml", Data: []byte(tc.in)}}, tc.opts)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q\nwant one line containing %q", msg, tc.want)
			}
			var de *DocumentError
			var oe *OptionError
			if !errors.As(err, &de) && !errors.As(err, &oe) {
				t.Errorf("error %T is neither a *DocumentError nor an *OptionError", err)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	deployment, err := os.ReadFile(filepath.Join("testdata", "in", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
		opts Options
		want string // "" for none
	}{
		{"defaults fit the default grace period", string(deployment), Options{}, ""},
		{"drain longer than the default grace period", string(deployment), Options{DrainTimeout: 30 * time.Second},
			"in.yaml: document 1 (Deployment web): terminationGracePeriodSeconds is 30, which does not exceed --drain-delay 5s + --drain-timeout 30s"},
		{"short grace period", strings.Replace(string(deployment), "    spec:\n      containers:", "    spec:\n      terminationGracePeriodSeconds: 25\n      containers:", 1),
			Options{}, "terminationGracePeriodSeconds is 25, which does not exceed --drain-delay 5s + --drain-timeout 20s"},
		{"no delay", strings.Replace(string(deployment), "    spec:\n      containers:", "    spec:\n      terminationGracePeriodSeconds: 25\n      containers:", 1),
			Options{DrainDelay: -1}, ""},
		{"app port not declared", string(deployment), Options{AppPort: 9000}, "no container declares port 9000 (--app-port), the sidecar's upstream; declared: 8000"},
		{"old apiVersion", "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old}\n", Options{},
			"in.yaml: document 1 (Deployment old): extensions/v1beta1 Deployment is not supported (apps/v1 is): passed through unchanged"},
		{"app sleeps longer than the sidecar waits", strings.Replace(string(deployment), "        resources:", "        lifecycle:\n          preStop:\n            exec:\n              command: [/bin/sh, -c, sleep 8]\n        resources:", 1),
			Options{Classic: true}, `container "app" sleeps 8s before it stops, longer than --drain-delay 5s`},
		{"headless Service", string(deployment) + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  clusterIP: None\n  selector: {app.kubernetes.io/name: web}\n  ports: [{port: 8000}]\n",
			Options{}, "in.yaml: document 2 (Service web): it is headless (clusterIP: None)"},
		{"Service that misses the app", string(deployment) + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {app.kubernetes.io/name: web}\n  ports: [{port: 80, targetPort: 9000}]\n",
			Options{}, "in.yaml: document 2 (Service web): it selects deployment/web, but none of its ports reaches port 8000 (--app-port); left as is"},
		{"native: the app stops first anyway", strings.Replace(string(deployment), "        resources:", "        lifecycle:\n          preStop:\n            sleep: {seconds: 8}\n        resources:", 1),
			Options{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Inject([]Input{{Name: "in.yaml", Data: []byte(tc.in)}}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(res.Warnings, "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("warnings %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestDefaultImage(t *testing.T) {
	for version, want := range map[string]string{
		"v1.2.3":                             "ghcr.io/faultline-dev/faultline:v1.2.3",
		"v1.3.0-rc.1":                        "ghcr.io/faultline-dev/faultline:v1.3.0-rc.1",
		"devel":                              "ghcr.io/faultline-dev/faultline:latest",
		"":                                   "ghcr.io/faultline-dev/faultline:latest",
		"v0.0.0-20251127072200-abcdefabcdef": "ghcr.io/faultline-dev/faultline:latest",
		"v1.2.4-0.20251127072200-abcdefabcd": "ghcr.io/faultline-dev/faultline:v1.2.4-0.20251127072200-abcdefabcd",
		"v1.2.3+dirty":                       "ghcr.io/faultline-dev/faultline:latest",
	} {
		if got := DefaultImage(version); got != want {
			t.Errorf("DefaultImage(%q) = %q, want %q", version, got, want)
		}
	}
}

func TestSplitDocuments(t *testing.T) {
	in := "---\na: 1\n--- # two\nb: 2\n---\n\n---\n# only a comment\n---   \nc: |\n  ---\n  not a separator\n---x: 1\n"
	got := splitDocuments([]byte(in))
	want := []string{"a: 1\n", "b: 2\n", "# only a comment\n", "c: |\n  ---\n  not a separator\n---x: 1\n"}
	if len(got) != len(want) {
		t.Fatalf("%d documents %q, want %q", len(got), got, want)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("document %d: %q, want %q", i+1, got[i], want[i])
		}
	}
}

func TestEmptyInput(t *testing.T) {
	res, err := Inject([]Input{{Name: "empty.yaml", Data: []byte("\n\n")}}, Options{})
	if err != nil || len(res.Output) != 0 {
		t.Errorf("empty input: %q, %v", res.Output, err)
	}
}

// TestMultipleInputs: a Service in one file is re-pointed at a workload in
// another, as with kubectl's repeated -f.
func TestMultipleInputs(t *testing.T) {
	all, err := os.ReadFile(filepath.Join("testdata", "in", "named-target-port.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := splitDocuments(all)
	res, err := Inject([]Input{{Name: "deployment.yaml", Data: docs[0]}, {Name: "service.yaml", Data: docs[1]}}, Options{Version: testVersion})
	if err != nil {
		t.Fatal(err)
	}
	want := runFile(t, filepath.Join("testdata", "in", "named-target-port.yaml"), Options{}, false)
	if !bytes.Equal(res.Output, want.Output) {
		t.Errorf("two files differ from one (-one +two):\n%s", golden.Diff(string(want.Output), string(res.Output)))
	}
	if !slices.ContainsFunc(res.Changes, func(s string) bool { return strings.HasPrefix(s, "service.yaml: document 1 (Service shop): port 80") }) {
		t.Errorf("changes %q", res.Changes)
	}
}
