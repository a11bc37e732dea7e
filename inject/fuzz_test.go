package inject

import (
	"bytes"
	"errors"
	"github.com/faultline-dev/faultline/internal/golden"
	"os"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// FuzzInject feeds inject arbitrary input. It must never panic, and when
// it accepts the input:
//   - every document it writes is YAML, and every one it changed decodes
//     strictly into k8s.io/api types (the items of a List that it did not
//     change excepted: they are the user's);
//   - injecting its output again changes nothing;
//   - uninjecting its output succeeds, or refuses a document it names.
//
// Errors are *DocumentErrors, never anything else.
//
// Run it with: go test ./inject -run '^$' -fuzz FuzzInject -fuzztime 1m
func FuzzInject(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "in", "*.yaml"))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "---", "--- #x\n...\n", "a: [", "- 1\n- 2\n", "kind: Pod", "apiVersion: v1\nkind: List\nitems: 3\n",
		"apiVersion: v1\nkind: List\nitems: [1]\n", "apiVersion: v1\nkind: Service\nmetadata: 7\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec: {template: {spec: {containers: [{name: a}]}}}\n",
		"apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, ports: [{containerPort: 8000, name: x}]}]}\n---\n" +
			"apiVersion: v1\nkind: Service\nmetadata: {annotations: {faultline.dev/original-target-port: \"80=\"}}\nspec: {selector: {}, ports: [{port: 80}]}\n",
		"a: &x [*x]\n", "x: !!binary aGk=\n", "{\"kind\": \"Pod\", \"apiVersion\": \"v1\", \"spec\": null}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := []Input{{Name: "fuzz.yaml", Data: data}}
		res, err := Inject(in, Options{Version: testVersion})
		if err != nil {
			var de *DocumentError
			if res != nil || !errors.As(err, &de) {
				t.Fatalf("error %T %v, result %v: want a *DocumentError and no result", err, err, res)
			}
			return
		}
		inDocs := splitDocuments(data)
		for i, doc := range splitDocuments(res.Output) {
			if _, err := yaml.YAMLToJSON(doc); err != nil {
				t.Fatalf("output document %d is not YAML: %v\n%s", i+1, err, doc)
			}
			if containsDoc(inDocs, doc) {
				continue
			}
			if err := decodesStrictly(doc); err != nil {
				t.Fatalf("output document %d does not decode strictly: %v\n%s", i+1, err, doc)
			}
		}
		again, err := Inject([]Input{{Name: "fuzz.yaml", Data: res.Output}}, Options{Version: testVersion})
		if err != nil {
			t.Fatalf("injecting the output: %v\n%s", err, res.Output)
		}
		if !bytes.Equal(again.Output, res.Output) {
			t.Fatalf("injecting twice differs (-once +twice):\n%s", golden.Diff(string(res.Output), string(again.Output)))
		}
		// Uninject reads what inject passed through, too: it may refuse it,
		// with a *DocumentError (a Service's annotation that is not
		// PORT=TARGET).
		if _, err := Uninject([]Input{{Name: "fuzz.yaml", Data: res.Output}}); err != nil {
			var de *DocumentError
			if !errors.As(err, &de) {
				t.Fatalf("uninjecting the output: %T %v\n%s", err, err, res.Output)
			}
		}
	})
}

func containsDoc(docs [][]byte, doc []byte) bool {
	for _, d := range docs {
		if bytes.Equal(bytes.TrimSpace(d), bytes.TrimSpace(doc)) {
			return true
		}
	}
	return false
}

// decodesStrictly checks a document that inject changed. In a List, only
// the items that inject changes are checked: the injected workloads and
// the re-pointed Services.
func decodesStrictly(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	if tm.APIVersion != "v1" || tm.Kind != "List" {
		_, err := typedObject(doc)
		return err
	}
	var list metav1.List
	if err := yaml.UnmarshalStrict(doc, &list); err != nil {
		return err
	}
	for _, it := range list.Items {
		var meta struct {
			metav1.TypeMeta
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if yaml.Unmarshal(it.Raw, &meta) != nil {
			continue
		}
		_, repointed := meta.Metadata.Annotations[AnnotationOriginalTargetPort]
		if _, ok := workloadKinds[meta.Kind]; ok || repointed {
			if _, err := typedObject(it.Raw); err != nil {
				return err
			}
		}
	}
	return nil
}
