package store

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

// FuzzParseQuery feeds the admin API's list parameters from hostile query
// strings: ParseQuery never panics, its errors are *ParamError naming a
// parameter, what it accepts round-trips through Values, and List runs it
// against a real store without an SQL error.
//
// The seed corpus is in testdata/fuzz/FuzzParseQuery; run for example
//
//	go test -run '^$' -fuzz FuzzParseQuery -fuzztime 1m ./sidecar/capture/store/
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"", "code=5xx&route=/items/{id}&since=15m&limit=10", "code=422", "since=2025-03-01T12:00:00Z",
		"since=7d&before=01JNHB2YV0000000000000000Z", "route=%27%3B%20DROP%20TABLE%20captures%3B--",
		"limit=0", "limit=-1", "code=6xx", "since=-1h", "since=99999999999d", "code=%00", "route=%ff%fe",
	} {
		f.Add(s)
	}
	s, err := Open(filepath.Join(f.TempDir(), FileName), Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	for i := range 20 {
		c := newCapture(i, 400+i*5, "/items/{id}")
		if _, err := s.Put(context.Background(), []*capture.Capture{c}); err != nil {
			f.Fatal(err)
		}
	}
	now := t0.Add(time.Hour)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v, now)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Param == "" {
				t.Fatalf("error %T %v is not a *ParamError", err, err)
			}
			return
		}
		if q.Limit < 0 || q.Limit > MaxLimit || q.CodeMin > q.CodeMax {
			t.Fatalf("ParseQuery(%q) = %+v", raw, q)
		}
		q2, err := ParseQuery(q.Values(), now)
		if err != nil {
			t.Fatalf("Values %q of %+v does not parse: %v", q.Values().Encode(), q, err)
		}
		if !q2.Since.Equal(q.Since) {
			t.Fatalf("since %v became %v", q.Since, q2.Since)
		}
		q2.Since = q.Since
		if !reflect.DeepEqual(q, q2) {
			t.Fatalf("round trip %+v → %q → %+v", q, q.Values().Encode(), q2)
		}
		got, err := s.List(context.Background(), q)
		if err != nil {
			t.Fatalf("List(%+v): %v", q, err)
		}
		if len(got) > max(q.Limit, DefaultLimit) {
			t.Fatalf("List returned %d, limit %d", len(got), q.Limit)
		}
	})
}

// FuzzDecode reads a stored capture row that was tampered with: decode
// never panics, never inflates past maxDecoded, and what encode wrote
// comes back unchanged.
func FuzzDecode(f *testing.F) {
	good, err := encode(newCapture(1, 500, "/a"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("{}"))
	var bomb bytes.Buffer
	w, _ := flate.NewWriter(&bomb, flate.BestCompression)
	w.Write([]byte(`{"id":"`))
	w.Write(bytes.Repeat([]byte("A"), 1<<20))
	w.Close()
	f.Add(bomb.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decode(data)
		if err != nil {
			return
		}
		again, err := encode(c)
		if err != nil {
			t.Fatalf("a decoded capture does not encode: %v", err)
		}
		c2, err := decode(again)
		if err != nil {
			t.Fatalf("re-encoded capture does not decode: %v", err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed the capture:\n%+v\n%+v", c, c2)
		}
	})
}
