// Package golden compares test output with golden files in testdata/, and
// rewrites them when the test binary runs with -update. Every package with
// golden files uses it, so the flag, the file handling and the diff are
// written once.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files instead of comparing with them")

// Update reports whether the test run rewrites golden files (-update).
func Update() bool { return *update }

// Assert compares got with the file at path, or writes it (creating its
// directory) with -update. A difference fails t with a line diff.
func Assert(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (-want +got; run the test with -update if the change is intended):\n%s", path, Diff(string(want), string(got)))
	}
}

// Diff is a line diff of want and got: lines only in want start with "-",
// lines only in got with "+", and up to three lines of context surround
// each change.
func Diff(want, got string) string {
	a, b := lines(want), lines(got)
	// Longest common subsequence by dynamic programming: golden files are small.
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var ops []string
	for i, j := 0, 0; i < len(a) || j < len(b); {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			ops = append(ops, " "+a[i])
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, "-"+a[i])
			i++
		default:
			ops = append(ops, "+"+b[j])
			j++
		}
	}
	var out strings.Builder
	for i, op := range ops {
		near := false
		for k := max(0, i-3); k < min(len(ops), i+4); k++ {
			near = near || ops[k][0] != ' '
		}
		if near {
			out.WriteString(strings.TrimSuffix(op, "\n") + "\n")
		}
	}
	return out.String()
}

// lines splits s after each newline, without the empty piece that follows
// a final newline.
func lines(s string) []string {
	l := strings.SplitAfter(s, "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}
