package deploy_test

import (
	"debug/elf"
	"fmt"
	"strings"
)

// checkStatic reports an error unless the ELF file at path is statically
// linked: no interpreter, no shared libraries.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s has a dynamic loader: built with cgo?", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %v", path, libs)
	}
	return nil
}

// diff returns a line diff of x and y: the changed lines with three lines
// of context around them.
func diff(x, y string) string {
	a, b := strings.SplitAfter(x, "\n"), strings.SplitAfter(y, "\n")
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
