package inject

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// A rewritten document is the object as the user wrote it, with only the
// differences between two typed objects applied to it: before and after
// the change. Encoding a typed object adds fields the user never wrote
// (resources: {}, status: {}, targetPort: 0 ...); they are the same in
// both, so they never reach the output, and every value the user wrote
// is kept as written.

// generic returns the JSON form of a typed object, numbers as json.Number
// and without null fields (null and absent decode alike).
func generic(v any) (map[string]any, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	pruneNulls(m)
	return m, nil
}

func pruneNulls(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if x == nil {
				delete(v, k)
			} else {
				pruneNulls(x)
			}
		}
	case []any:
		for _, x := range v {
			pruneNulls(x)
		}
	}
}

// patch returns user with the change from old to new applied. old is the
// typed form of user; new is old changed. user is not modified.
//
// Maps are patched key by key. Lists whose items all have a distinct
// name (containers, volumes, env) are patched item by item, matched by
// name; other lists of unchanged length index by index; anything else is
// replaced by new.
func patch(user, old, new any) any {
	if reflect.DeepEqual(old, new) {
		return user
	}
	switch n := new.(type) {
	case map[string]any:
		u, ok := user.(map[string]any)
		if !ok {
			return n
		}
		o, _ := old.(map[string]any)
		out := make(map[string]any, len(u)+len(n))
		for k, v := range u {
			out[k] = v
		}
		for k := range o {
			if _, kept := n[k]; !kept {
				delete(out, k)
			}
		}
		for k, nv := range n {
			ov, inOld := o[k]
			if inOld && reflect.DeepEqual(ov, nv) {
				continue
			}
			uv, inUser := u[k]
			if !inUser {
				out[k] = nv
				continue
			}
			out[k] = patch(uv, ov, nv)
		}
		return out
	case []any:
		u, ok := user.([]any)
		o, _ := old.([]any)
		if !ok || len(u) != len(o) {
			return n
		}
		if oi, ok := byName(o); ok {
			if _, ok := byName(n); ok {
				out := make([]any, 0, len(n))
				for _, nv := range n {
					if i, ok := oi[itemName(nv)]; ok {
						out = append(out, patch(u[i], o[i], nv))
					} else {
						out = append(out, nv)
					}
				}
				return out
			}
		}
		if len(o) != len(n) {
			return n
		}
		out := make([]any, len(n))
		for i := range n {
			out[i] = patch(u[i], o[i], n[i])
		}
		return out
	}
	return new
}

// byName indexes the items of list by their name, if each has a distinct
// one.
func byName(list []any) (map[string]int, bool) {
	idx := make(map[string]int, len(list))
	for i, it := range list {
		name := itemName(it)
		if name == "" {
			return nil, false
		}
		if _, dup := idx[name]; dup {
			return nil, false
		}
		idx[name] = i
	}
	return idx, true
}

func itemName(it any) string {
	m, _ := it.(map[string]any)
	name, _ := m["name"].(string)
	return name
}
