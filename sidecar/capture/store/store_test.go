package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// newCapture returns a capture i milliseconds after t0.
func newCapture(i, status int, route string) *capture.Capture {
	at := t0.Add(time.Duration(i) * time.Millisecond)
	return &capture.Capture{
		ID:         capture.NewID(at),
		Time:       at,
		DurationMS: 1.5,
		TraceID:    fmt.Sprintf("%032x", i),
		Route:      route,
		Request: capture.Request{
			Method:  "POST",
			URL:     fmt.Sprintf("/items/%d?q=1", i),
			Headers: []capture.Field{{Name: "Content-Type", Value: "application/json"}},
			Body:    capture.Body{Text: `{"name":"x"}`, Size: 12},
		},
		Response: capture.Response{Status: status, Body: capture.Body{Text: `{"detail":[]}`}},
	}
}

func openT(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s *Store, cs ...*capture.Capture) int {
	t.Helper()
	n, err := s.Put(context.Background(), cs)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return n
}

func ids(ss []capture.Summary) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

func TestListFilters(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), FileName), Options{})
	all := []*capture.Capture{
		newCapture(0, 401, "/login"),
		newCapture(1, 422, "/items/{id}"),
		newCapture(2, 500, "/items/{id}"),
		newCapture(3, 422, "/login"),
		newCapture(4, 503, "/health"),
	}
	put(t, s, all...)
	id := func(i int) string { return all[i].ID }
	now := t0.Add(10 * time.Millisecond)
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{id(4), id(3), id(2), id(1), id(0)}},
		{"code=422", []string{id(3), id(1)}},
		{"code=5xx", []string{id(4), id(2)}},
		{"code=4XX", []string{id(3), id(1), id(0)}},
		{"route=/login", []string{id(3), id(0)}},
		{"route=/login&code=401", []string{id(0)}},
		{"since=" + url.QueryEscape(t0.Add(2*time.Millisecond).Format(time.RFC3339Nano)), []string{id(4), id(3), id(2)}},
		{"since=8ms", []string{id(4), id(3), id(2)}},
		{"limit=2", []string{id(4), id(3)}},
		{"limit=2&before=" + id(3), []string{id(2), id(1)}},
		{"route=/nothing", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			v, _ := url.ParseQuery(tt.query)
			q, err := ParseQuery(v, now)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.List(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if g := ids(got); strings.Join(g, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %v, want %v", g, tt.want)
			}
		})
	}
}

func TestGetRoundTrip(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), FileName), Options{})
	c := newCapture(7, 422, "/items/{id}")
	c.Redacted = []capture.Redaction{{Where: capture.WhereRequestHeader, Name: "Authorization"}}
	put(t, s, c)
	got, err := s.Get(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || got.Response.Status != 422 || got.Request.Body.Text != c.Request.Body.Text ||
		!got.Time.Equal(c.Time) || len(got.Redacted) != 1 {
		t.Errorf("Get = %+v, want %+v", got, c)
	}
	sums, _ := s.List(context.Background(), Query{})
	if want := c.Summarize(); len(sums) != 1 || sums[0] != want {
		t.Errorf("List = %+v, want [%+v]", sums, want)
	}
	if _, err := s.Get(context.Background(), capture.NewID(t0)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}
}

func TestPutAssignsIDAndTime(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), FileName), Options{Now: func() time.Time { return t0 }})
	c := newCapture(0, 500, "/")
	c.ID, c.Time = "", time.Time{}
	put(t, s, c)
	if !capture.ValidID(c.ID) || !c.Time.Equal(t0) {
		t.Fatalf("ID %q time %v", c.ID, c.Time)
	}
	if _, err := s.Get(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
}

func TestRestartKeepsCaptures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", FileName)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 20 {
		c := newCapture(i, 500, "/x")
		put(t, s, c)
		want = append([]string{c.ID}, want...)
	}
	// Captures hold user data: owner-only directory and files.
	for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o700, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, path, Options{})
	got, err := s.List(context.Background(), Query{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids(got), ",") != strings.Join(want, ",") {
		t.Errorf("after restart: %v, want %v", ids(got), want)
	}
	// The count survives too: the bound applies to old and new captures.
	s.Close()
	s = openT(t, path, Options{MaxCount: 5})
	if n, _ := s.Count(context.Background()); n != 5 {
		t.Errorf("reopened with MaxCount 5: %d captures", n)
	}
	if n := put(t, s, newCapture(100, 500, "/x")); n != 1 {
		t.Errorf("evicted %d, want 1", n)
	}
}

func TestEvictByCount(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), FileName), Options{MaxCount: 10})
	var all []*capture.Capture
	evicted := 0
	for i := range 25 {
		c := newCapture(i, 422, "/x")
		all = append(all, c)
		evicted += put(t, s, c)
	}
	if evicted != 15 {
		t.Errorf("evicted %d, want 15", evicted)
	}
	got, _ := s.List(context.Background(), Query{})
	if len(got) != 10 || got[9].ID != all[15].ID || got[0].ID != all[24].ID {
		t.Errorf("kept %v", ids(got))
	}
}

// randomText returns n bytes of incompressible text.
func randomText(n int) string {
	b := make([]byte, n*3/4)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func TestEvictByBytesKeepsFilesUnderMax(t *testing.T) {
	const maxBytes = 1 << 20
	path := filepath.Join(t.TempDir(), FileName)
	s := openT(t, path, Options{MaxBytes: maxBytes})
	evicted, n := 0, 0
	var last *capture.Capture
	for batch := range 40 {
		var cs []*capture.Capture
		for range 8 {
			c := newCapture(n, 500, "/big")
			c.Response.Body.Text = randomText(8 << 10)
			cs = append(cs, c)
			last = c
			n++
		}
		evicted += put(t, s, cs...)
		if err := s.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := fileBytes(path); got > maxBytes {
			t.Fatalf("batch %d: files hold %d bytes, over %d", batch, got, maxBytes)
		}
		if got := s.Bytes(); got != fileBytes(path) {
			t.Errorf("Bytes() = %d, files %d", got, fileBytes(path))
		}
	}
	if evicted == 0 {
		t.Fatal("nothing evicted")
	}
	count, _ := s.Count(context.Background())
	if count+evicted != n {
		t.Errorf("count %d + evicted %d != put %d", count, evicted, n)
	}
	got, _ := s.List(context.Background(), Query{Limit: 1})
	if len(got) != 1 || got[0].ID != last.ID {
		t.Errorf("newest capture was evicted")
	}
	t.Logf("%d captures kept, %d evicted, files %d bytes", count, evicted, fileBytes(path))
	if count < 50 {
		t.Errorf("only %d captures of ~11 KiB kept in 1 MiB", count)
	}
}

// fileBytes is the size of the database and its WAL on disk.
func fileBytes(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func TestLoweredMaxBytesShrinksFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		c := newCapture(i, 500, "/big")
		c.Response.Body.Text = randomText(16 << 10)
		put(t, s, c)
	}
	s.Close()
	if got := fileBytes(path); got < 1<<20 {
		t.Fatalf("setup: only %d bytes", got)
	}
	s = openT(t, path, Options{MaxBytes: 512 << 10})
	s.Checkpoint(context.Background())
	if got := fileBytes(path); got > 512<<10 {
		t.Errorf("after reopening with 512 KiB: %d bytes", got)
	}
}

func TestCorruptFileMovedAside(t *testing.T) {
	tests := []struct {
		name  string
		write func(t *testing.T, path string)
	}{
		{"not a database", func(t *testing.T, path string) {
			os.WriteFile(path, []byte(strings.Repeat("this is not a database\n", 1000)), 0o600)
		}},
		{"truncated database", func(t *testing.T, path string) {
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				c := newCapture(i, 500, "/x")
				c.Response.Body.Text = randomText(4 << 10)
				put(t, s, c)
			}
			s.Close()
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()/2)
		}},
		{"damaged pages", func(t *testing.T, path string) {
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				put(t, s, newCapture(i, 500, "/x"))
			}
			s.Close()
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			f.WriteAt([]byte(strings.Repeat("\xff", 8192)), 4096) // past the header page
			f.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			tt.write(t, path)
			before, _ := os.ReadFile(path)
			var logs strings.Builder
			var mu sync.Mutex
			s := openT(t, path, Options{Logger: testLogger(&logs, &mu), Now: func() time.Time { return t0 }})
			put(t, s, newCapture(1000, 500, "/x"))
			aside := path + ".corrupt-20250301T120000Z"
			data, err := os.ReadFile(aside)
			if err != nil {
				t.Fatalf("corrupt file not kept: %v", err)
			}
			// SQLite may bump the header's change counter (bytes 24-27,
			// 92-95) before it finds the damage; nothing else may change.
			if len(data) == len(before) && len(data) >= 100 {
				for _, i := range []int{24, 25, 26, 27, 92, 93, 94, 95} {
					data[i] = before[i]
				}
			}
			if string(data) != string(before) {
				t.Error("corrupt file changed")
			}
			if n, _ := s.Count(context.Background()); n != 1 {
				t.Errorf("new store has %d captures", n)
			}
			mu.Lock()
			defer mu.Unlock()
			if !strings.Contains(logs.String(), "corrupt") || !strings.Contains(logs.String(), aside) {
				t.Errorf("no warning naming the moved file: %q", logs.String())
			}
		})
	}
}

func TestUnwritablePlaces(t *testing.T) {
	if asUnprivileged(t) {
		return
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "plain-file")
	os.WriteFile(file, []byte("x"), 0o600)

	roDir := filepath.Join(dir, "ro")
	os.Mkdir(roDir, 0o500)
	t.Cleanup(func() { os.Chmod(roDir, 0o700) })
	// Permission bits do not stop root (where asUnprivileged cannot help).
	probe := filepath.Join(roDir, "probe")
	rootLike := os.WriteFile(probe, nil, 0o600) == nil
	os.Remove(probe)

	// An existing store whose file may not be written.
	roFile := filepath.Join(dir, "rofile", FileName)
	if s, err := Open(roFile, Options{}); err != nil {
		t.Fatal(err)
	} else {
		s.Close()
	}
	os.Chmod(roFile, 0o400)

	tests := []struct {
		name string
		path string
		skip bool
	}{
		{"directory is a file", filepath.Join(file, FileName), false},
		{"read-only directory", filepath.Join(roDir, FileName), rootLike},
		{"read-only parent of a new directory", filepath.Join(roDir, "data", FileName), rootLike},
		{"read-only file", roFile, rootLike},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip {
				t.Skip("permission bits do not stop this user (root)")
			}
			s, err := Open(tt.path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name %s", err, tt.path)
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	if _, err := Open(path, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("read-only open of a missing store: %v", err)
	}
	w := openT(t, path, Options{})
	c := newCapture(1, 422, "/x")
	put(t, w, c)

	r := openT(t, path, Options{ReadOnly: true})
	if _, err := r.Get(context.Background(), c.ID); err != nil {
		t.Errorf("reader beside a writer: %v", err)
	}
	if _, err := r.Put(context.Background(), []*capture.Capture{newCapture(2, 500, "/")}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Put on read-only store: %v", err)
	}
	c2 := newCapture(3, 500, "/y")
	put(t, w, c2)
	if got, _ := r.List(context.Background(), Query{}); len(got) != 2 {
		t.Errorf("reader sees %d captures, want 2", len(got))
	}
	w.Close()
	r.Close()
	r = openT(t, path, Options{ReadOnly: true})
	if got, _ := r.List(context.Background(), Query{}); len(got) != 2 {
		t.Errorf("reader alone sees %d captures, want 2", len(got))
	}

	other := filepath.Join(t.TempDir(), "other.db")
	os.WriteFile(other, nil, 0o600)
	if _, err := Open(other, Options{ReadOnly: true}); err == nil {
		t.Error("read-only open of an empty file succeeded")
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Load().Exec(`UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, ro := range []bool{false, true} {
		if _, err := Open(path, Options{ReadOnly: ro}); err == nil || !strings.Contains(err.Error(), "newer") {
			t.Errorf("ReadOnly %v: %v", ro, err)
		}
	}
}

func TestDeletedFileIsRecreated(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	now := t0
	var logs strings.Builder
	var mu sync.Mutex
	s := openT(t, path, Options{Now: func() time.Time { return now }, Logger: testLogger(&logs, &mu)})
	put(t, s, newCapture(1, 500, "/x"))
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(p)
	}
	now = now.Add(2 * time.Second)
	c := newCapture(2, 500, "/x")
	put(t, s, c)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("file not recreated: %v", err)
	}
	s.Close()
	s = openT(t, path, Options{})
	if _, err := s.Get(context.Background(), c.ID); err != nil {
		t.Errorf("capture written after the deletion is lost: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "removed") {
		t.Errorf("no warning: %q", logs.String())
	}
}

func TestParseQueryErrors(t *testing.T) {
	tests := []struct{ query, param string }{
		{"code=abc", "code"},
		{"code=6xx", "code"},
		{"code=99", "code"},
		{"code=600", "code"},
		{"since=yesterday", "since"},
		{"since=-5m", "since"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=ten", "limit"},
		{"before=not-an-id", "before"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			v, _ := url.ParseQuery(tt.query)
			_, err := ParseQuery(v, t0)
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Param != tt.param {
				t.Errorf("err = %v, want a ParamError for %s", err, tt.param)
			}
		})
	}
}

func TestQueryValuesRoundTrip(t *testing.T) {
	qs := []Query{
		{},
		{CodeMin: 422, CodeMax: 422, Route: "/a/{b}", Limit: 5},
		{CodeMin: 500, CodeMax: 599, Since: t0, Before: capture.NewID(t0)},
	}
	for _, q := range qs {
		got, err := ParseQuery(q.Values(), t0)
		if err != nil || got.CodeMin != q.CodeMin || got.CodeMax != q.CodeMax || got.Route != q.Route ||
			!got.Since.Equal(q.Since) || got.Before != q.Before || got.Limit != q.Limit {
			t.Errorf("%+v -> %v -> %+v, %v", q, q.Values(), got, err)
		}
	}
}
