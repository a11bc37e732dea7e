package golden

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDiff(t *testing.T) {
	tests := []struct{ want, got, diff string }{
		{"a\nb\nc\n", "a\nb\nc\n", ""},
		{"a\nb\nc\n", "a\nx\nc\n", " a\n-b\n+x\n c\n"},
		{"a\n", "a\nb\n", " a\n+b\n"},
	}
	for _, tc := range tests {
		if d := Diff(tc.want, tc.got); d != tc.diff {
			t.Errorf("Diff(%q, %q) = %q, want %q", tc.want, tc.got, d, tc.diff)
		}
	}
}

// failRecorder records whether Assert failed without failing the test.
type failRecorder struct {
	testing.TB
	failed bool
}

func (f *failRecorder) Errorf(string, ...any) { f.failed = true }
func (f *failRecorder) Fatalf(string, ...any) { f.failed = true }
func (f *failRecorder) Helper()               {}

func TestAssert(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	os.WriteFile(path, []byte("same\n"), 0o644)
	ok := &failRecorder{TB: t}
	Assert(ok, path, []byte("same\n"))
	bad := &failRecorder{TB: t}
	Assert(bad, path, []byte("other\n"))
	if ok.failed || !bad.failed {
		t.Errorf("equal content failed: %v; different content failed: %v", ok.failed, bad.failed)
	}
}
