package route

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// ParseOpenAPI returns the path templates of an OpenAPI 3 document, JSON
// or YAML, sorted and without duplicates. It does not check them: Compile
// does.
//
// The document is loaded with kin-openapi, which reads 3.0 (FastAPI up to
// 0.99 serves 3.0.2) and 3.1. When that fails, as it may on a 3.1 schema
// detail or a dangling $ref, the keys of the JSON "paths" object are read
// directly: a route list must not be lost to a schema it does not need.
// External references are never followed.
//
// FastAPI writes a path parameter "{file_path:path}" as "{file_path}" in
// OpenAPI, so the template learned from it matches one segment only; give
// such routes in a routes file (LoadFile) to match the whole rest.
//
// When a server URL has a path ("servers": [{"url": "/api"}], FastAPI's
// root_path), each template is returned both with that prefix and without
// it: behind a proxy that strips the prefix the app, and so the sidecar in
// front of it, sees the bare path; behind one that does not, the prefixed.
func ParseOpenAPI(doc []byte) ([]string, error) {
	paths, servers, err := loadWithKin(doc)
	if err != nil {
		var jerr error
		paths, servers, jerr = loadPathKeys(doc)
		if jerr != nil {
			return nil, fmt.Errorf("route: openapi: %w", err)
		}
	}
	out := slices.Clone(paths)
	for _, s := range servers {
		prefix := serverPrefix(s.url, s.vars)
		if prefix == "" {
			continue
		}
		for _, p := range paths {
			if strings.HasPrefix(p, "/") {
				out = append(out, prefix+p)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

type server struct {
	url  string
	vars map[string]string // variable name → default
}

// loadWithKin loads doc with kin-openapi. A panic in the loader, which
// reads what the upstream sends, is an error here, not a crash.
func loadWithKin(doc []byte) (paths []string, servers []server, err error) {
	defer func() {
		if r := recover(); r != nil {
			paths, servers, err = nil, nil, fmt.Errorf("kin-openapi panicked: %v", r)
		}
	}()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	t, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, nil, err
	}
	if t.OpenAPI == "" {
		return nil, nil, errors.New(`no "openapi" version: not an OpenAPI 3 document`)
	}
	if t.Paths == nil {
		return nil, nil, errors.New(`no "paths"`)
	}
	for _, s := range t.Servers {
		if s == nil {
			continue
		}
		v := map[string]string{}
		for name, sv := range s.Variables {
			if sv != nil {
				v[name] = sv.Default
			}
		}
		servers = append(servers, server{url: s.URL, vars: v})
	}
	return t.Paths.Keys(), servers, nil
}

// loadPathKeys reads just the "paths" keys and server URLs of a JSON
// document.
func loadPathKeys(doc []byte) ([]string, []server, error) {
	var d struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
		Servers []struct {
			URL       string `json:"url"`
			Variables map[string]struct {
				Default string `json:"default"`
			} `json:"variables"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, nil, err
	}
	if d.OpenAPI == "" || d.Paths == nil {
		return nil, nil, errors.New(`not an OpenAPI 3 document: no "openapi" or "paths"`)
	}
	var servers []server
	for _, s := range d.Servers {
		v := map[string]string{}
		for name, sv := range s.Variables {
			v[name] = sv.Default
		}
		servers = append(servers, server{url: s.URL, vars: v})
	}
	paths := make([]string, 0, len(d.Paths))
	for p := range d.Paths {
		paths = append(paths, p)
	}
	return paths, servers, nil
}

// serverPrefix returns the path of a server URL, without a trailing
// slash, or "" when it has none (or one that cannot be a prefix).
// Variables are replaced by their defaults.
func serverPrefix(raw string, vars map[string]string) string {
	for name, def := range vars {
		raw = strings.ReplaceAll(raw, "{"+name+"}", def)
	}
	var p string
	if strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//") {
		p, _, _ = strings.Cut(raw, "?")
		p, _, _ = strings.Cut(p, "#")
	} else {
		u, err := url.Parse(raw)
		if err != nil {
			return ""
		}
		p = u.Path
	}
	p = strings.TrimRight(p, "/")
	if p == "" || p[0] != '/' || strings.ContainsAny(p, "{}") {
		return ""
	}
	return p
}
