package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sidecar/capture"
)

// mountTmpfs mounts a tmpfs of size on a new directory (root only).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fillDisk takes all the free space of dir's filesystem with one file and
// returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, n := range []int{64 << 10, 512} {
		buf := make([]byte, n)
		for {
			if _, err := f.Write(buf); err != nil {
				break
			}
		}
	}
	return p
}

// TestOpenOnFullDisk: a sidecar restarted while the disk under its store
// is full must still start (its app's traffic does not depend on the
// store). Open succeeds with a warning, writes fail until there is room,
// then the store opens and works.
func TestOpenOnFullDisk(t *testing.T) {
	for _, existing := range []bool{true, false} {
		name := "new store"
		if existing {
			name = "existing store"
		}
		t.Run(name, func(t *testing.T) {
			dir := mountTmpfs(t, "2m")
			path := filepath.Join(dir, FileName)
			if existing {
				s, err := Open(path, Options{})
				if err != nil {
					t.Fatal(err)
				}
				put(t, s, newCapture(1, 500, "/a"))
				s.Close()
			}
			filler := fillDisk(t, dir)

			now := t0
			var mu sync.Mutex
			var log bytes.Buffer
			s, err := Open(path, Options{Logger: testLogger(&log, &mu), Now: func() time.Time { return now }})
			if err != nil {
				t.Fatalf("Open on a full disk: %v", err)
			}
			defer s.Close()
			mu.Lock()
			if !strings.Contains(log.String(), "disk is full") {
				t.Errorf("no warning: %q", log.String())
			}
			mu.Unlock()
			ctx := context.Background()
			if _, err := s.Put(ctx, newCaptures(2, 3)); err == nil {
				t.Fatal("Put succeeded on a full disk")
			}
			if _, err := s.List(ctx, Query{}); !errors.Is(err, ErrUnavailable) {
				t.Errorf("List: %v, want ErrUnavailable", err)
			}
			if _, err := s.Get(ctx, newCapture(1, 500, "/a").ID); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Get: %v, want ErrUnavailable", err)
			}
			if s.Bytes() < 0 {
				t.Error("Bytes")
			}

			os.Remove(filler)
			// Retried at most once a second.
			if _, err := s.Put(ctx, newCaptures(4, 5)); err == nil {
				t.Error("Put opened the store again within a second of the last try")
			}
			now = now.Add(1100 * time.Millisecond)
			if _, err := s.Put(ctx, newCaptures(6, 7)); err != nil {
				t.Fatalf("Put once there is room: %v", err)
			}
			got, err := s.List(ctx, Query{})
			if err != nil {
				t.Fatal(err)
			}
			want := 2
			if existing {
				want = 3
			}
			if len(got) != want {
				t.Errorf("%d captures, want %d: %v", len(got), want, ids(got))
			}
		})
	}
}

// TestOpenReadOnlyFilesystemIsAnError: a read-only filesystem is a
// configuration error, however little room it reports.
func TestOpenReadOnlyFilesystemIsAnError(t *testing.T) {
	dir := mountTmpfs(t, "1m")
	fillDisk(t, dir)
	os.Remove(filepath.Join(dir, "filler"))
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Skipf("remount ro: %v %s", err, out)
	}
	s, err := Open(filepath.Join(dir, FileName), Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a read-only filesystem")
	}
	if !strings.Contains(err.Error(), "read-only") {
		t.Errorf("error %q does not say read-only", err)
	}
}

func newCaptures(from, to int) []*capture.Capture {
	var cs []*capture.Capture
	for i := from; i <= to; i++ {
		cs = append(cs, newCapture(i, 500, "/a"))
	}
	return cs
}
