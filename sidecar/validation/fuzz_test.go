package validation

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The seed corpus is in testdata/fuzz/FuzzParse; run for example
//
//	go test -run '^$' -fuzz FuzzParse -fuzztime 30s ./sidecar/validation/

// FuzzParse checks that Parse never panics, calls fn exactly items times,
// never on error, and agrees with a plain encoding/json reading of the
// body; and that a Limiter turns whatever it reports into short printable
// label values.
func FuzzParse(f *testing.F) {
	f.Add([]byte(pydanticV1))
	f.Add([]byte(pydanticV2))
	f.Fuzz(func(t *testing.T, body []byte) {
		var got []item
		n, err := Parse(body, func(loc, typ string) { got = append(got, item{loc, typ}) })
		if n != len(got) {
			t.Fatalf("Parse returned %d items and reported %d", n, len(got))
		}
		want, werr := reference(body)
		if (err == nil) != (werr == nil) {
			t.Fatalf("Parse error %v, reference error %v", err, werr)
		}
		if err != nil {
			if len(got) != 0 {
				t.Fatalf("Parse reported %d items and failed", len(got))
			}
			return
		}
		l := NewLimiter(0, 0)
		if len(got) != len(want) {
			t.Fatalf("Parse = %q, reference %q", got, want)
		}
		for i := range got {
			// encoding/json turns invalid UTF-8 into U+FFFD, Parse keeps
			// the bytes: the labels come out the same.
			g := item{l.Location(got[i].loc), l.Type(got[i].typ)}
			w := item{l.Location(want[i].loc), l.Type(want[i].typ)}
			if g != w {
				t.Fatalf("item %d: Parse %q → %q, reference %q → %q", i, got[i], g, want[i], w)
			}
			for _, v := range []string{g.loc, g.typ} {
				if len(v) > MaxValueLen || strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r > '~' }) {
					t.Fatalf("label value %q", v)
				}
			}
		}
	})
}

// reference reads a 422 body the slow, obvious way.
func reference(body []byte) ([]item, error) {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, ErrNotJSON
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, ErrNoDetail
	}
	detail, ok := obj["detail"]
	if !ok {
		return nil, ErrNoDetail
	}
	list, ok := detail.([]any)
	if !ok {
		return []item{{Unknown, Unknown}}, nil
	}
	var out []item
	for _, e := range list {
		it := item{Unknown, Unknown}
		if o, ok := e.(map[string]any); ok {
			if loc, ok := o["loc"].([]any); ok {
				parts := make([]string, len(loc))
				for i, p := range loc {
					if s, ok := p.(string); ok {
						parts[i] = s
					} else {
						parts[i] = "*"
					}
				}
				if s := strings.Join(parts, "."); s != "" {
					it.loc = s
				}
			}
			if s, ok := o["type"].(string); ok && s != "" {
				it.typ = s
			}
		}
		out = append(out, it)
	}
	return out, nil
}

func TestReferenceAgrees(t *testing.T) {
	// The reference itself, on the fixtures.
	got, err := reference([]byte(pydanticV1))
	if err != nil || fmt.Sprint(got) != "[{body.items.*.price value_error.missing} {body.price type_error.float} {query.limit value_error.number.not_le}]" {
		t.Errorf("reference = %q, %v", got, err)
	}
	if _, err := reference([]byte(`{}`)); !errors.Is(err, ErrNoDetail) {
		t.Errorf("reference({}) error = %v", err)
	}
}
