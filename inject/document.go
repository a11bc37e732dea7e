package inject

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Input is one source of manifests: a file, or standard input.
type Input struct {
	// Name names the source in errors and warnings, e.g. "app.yaml".
	Name string
	// Data holds one or more YAML (or JSON) documents.
	Data []byte
}

// DocumentError reports a document that inject cannot handle.
type DocumentError struct {
	// Document locates it: `app.yaml: document 2 (Deployment web)`.
	Document string
	Err      error
}

func (e *DocumentError) Error() string { return e.Document + ": " + e.Err.Error() }
func (e *DocumentError) Unwrap() error { return e.Err }

// document is one YAML document of an input. Documents that inject does not
// change are written back byte for byte.
type document struct {
	raw  []byte
	head []byte  // leading comment lines: kept when the document is rewritten
	obj  *object // nil for a document of comments only
	// items are the objects of a List; obj is then the List itself.
	items []*object
}

// object is a Kubernetes object: a document, or an item of a List.
type object struct {
	loc               string // for errors: `app.yaml: document 2 (Deployment web)`
	yaml              []byte // the document it is in, as read
	json              []byte
	user              map[string]any // as written, numbers as json.Number
	apiVersion, kind  string
	name, namespace   string
	out               map[string]any // the changed object; nil if unchanged
	changes, warnings []string
}

// ref names the object as kubectl does: deployment/web.
func (o *object) ref() string {
	name := o.name
	if name == "" {
		name = "(unnamed)"
	}
	return strings.ToLower(o.kind) + "/" + name
}

// splitDocuments splits a YAML stream at its "---" lines. Documents of
// whitespace only are dropped.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	start := 0
	add := func(end int) {
		if len(bytes.TrimSpace(data[start:end])) > 0 {
			docs = append(docs, data[start:end])
		}
	}
	for i := 0; i < len(data); {
		end := bytes.IndexByte(data[i:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += i + 1
		}
		if isSeparator(data[i:end]) {
			add(i)
			start = end
		}
		i = end
	}
	add(len(data))
	return docs
}

// isSeparator reports whether line is a document separator: "---",
// optionally followed by spaces and a comment.
func isSeparator(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, []byte("---"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) == 0 || rest[0] == '#'
}

// headComments returns the comment and blank lines that open a document.
func headComments(doc []byte) []byte {
	n := 0
	for n < len(doc) {
		end := bytes.IndexByte(doc[n:], '\n')
		if end < 0 {
			end = len(doc)
		} else {
			end += n + 1
		}
		line := bytes.TrimSpace(doc[n:end])
		if len(line) > 0 && line[0] != '#' {
			break
		}
		n = end
	}
	return bytes.TrimLeft(doc[:n], "\n")
}

// parseDocuments splits and parses one input.
func parseDocuments(in Input) ([]*document, error) {
	var docs []*document
	for i, raw := range splitDocuments(in.Data) {
		loc := fmt.Sprintf("%s: document %d", in.Name, i+1)
		d := &document{raw: raw, head: headComments(raw)}
		obj, err := parseObject(loc, raw)
		if err != nil {
			return nil, err
		}
		d.obj = obj
		if obj != nil && obj.apiVersion == "v1" && obj.kind == "List" {
			if d.items, err = listItems(obj); err != nil {
				return nil, err
			}
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// parseObject reads the document at loc. A document of comments only is
// a nil object.
func parseObject(loc string, raw []byte) (*object, error) {
	j, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, &DocumentError{loc, fmt.Errorf("not YAML: %s", oneLine(err.Error()))}
	}
	if bytes.Equal(j, []byte("null")) {
		return nil, nil
	}
	o, err := newObject(loc, j)
	if o != nil {
		o.yaml = raw
	}
	return o, err
}

// newObject reads an object from its JSON and names it in loc.
func newObject(loc string, j []byte) (*object, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, &DocumentError{loc, fmt.Errorf("not YAML: %s", oneLine(err.Error()))}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &DocumentError{loc, errors.New("not a Kubernetes object (a mapping with apiVersion and kind)")}
	}
	o := &object{loc: loc, json: j, user: m}
	o.apiVersion, _ = m["apiVersion"].(string)
	o.kind, _ = m["kind"].(string)
	if meta, ok := m["metadata"].(map[string]any); ok {
		o.name, _ = meta["name"].(string)
		o.namespace, _ = meta["namespace"].(string)
	}
	switch {
	case o.kind == "":
		return nil, &DocumentError{loc, errors.New("not a Kubernetes object: no kind")}
	case o.apiVersion == "":
		return nil, &DocumentError{loc, fmt.Errorf("not a Kubernetes object: %s has no apiVersion", o.kind)}
	}
	o.loc = fmt.Sprintf("%s (%s %s)", loc, o.kind, o.name)
	if o.name == "" {
		o.loc = fmt.Sprintf("%s (%s)", loc, o.kind)
	}
	return o, nil
}

// listItems returns the items of a v1 List.
func listItems(list *object) ([]*object, error) {
	raw, ok := list.user["items"]
	if !ok || raw == nil {
		return nil, nil
	}
	items, ok := raw.([]any)
	if !ok {
		return nil, &DocumentError{list.loc, errors.New("items is not a list")}
	}
	objs := make([]*object, len(items))
	for i, it := range items {
		j, err := json.Marshal(it)
		if err != nil {
			return nil, &DocumentError{list.loc, err}
		}
		if objs[i], err = newObject(fmt.Sprintf("%s, item %d", list.loc, i+1), j); err != nil {
			return nil, err
		}
		objs[i].yaml = list.yaml
	}
	return objs, nil
}

// decodeStrict decodes the object into a typed one, refusing duplicate
// and unknown fields as the API server's strict field validation does:
// a document that inject rewrites must decode into k8s.io/api types.
func (o *object) decodeStrict(into any) error {
	if _, err := yaml.YAMLToJSONStrict(o.yaml); err != nil {
		return &DocumentError{o.loc, errors.New(oneLine(strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")))}
	}
	strictErrs, err := kjson.UnmarshalStrict(o.json, into)
	if err != nil {
		return &DocumentError{o.loc, fmt.Errorf("not a valid %s: %s", o.kind, oneLine(err.Error()))}
	}
	if len(strictErrs) > 0 {
		return &DocumentError{o.loc, errors.New(oneLine(strictErrs[0].Error()))}
	}
	return nil
}

// render writes the document: as read if nothing changed, otherwise its
// head comments and the changed object.
func (d *document) render(buf *bytes.Buffer) error {
	out := d.changed()
	if out == nil {
		buf.Write(d.raw)
		if !bytes.HasSuffix(d.raw, []byte("\n")) {
			buf.WriteByte('\n')
		}
		return nil
	}
	j, err := json.Marshal(out)
	if err != nil {
		return err
	}
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		return err
	}
	buf.Write(d.head)
	buf.Write(y)
	return nil
}

// changed returns the object to write, or nil if nothing changed.
func (d *document) changed() map[string]any {
	if d.obj == nil {
		return nil
	}
	if d.items == nil {
		return d.obj.out
	}
	var items []any
	dirty := false
	for _, it := range d.items {
		if it.out != nil {
			dirty = true
			items = append(items, it.out)
		} else {
			items = append(items, it.user)
		}
	}
	if !dirty {
		return nil
	}
	out := make(map[string]any, len(d.obj.user))
	for k, v := range d.obj.user {
		out[k] = v
	}
	out["items"] = items
	return out
}

// objects returns the objects of the document: its items if a List.
func (d *document) objects() []*object {
	if d.items != nil {
		return d.items
	}
	if d.obj == nil || (d.obj.apiVersion == "v1" && d.obj.kind == "List") {
		return nil
	}
	return []*object{d.obj}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
