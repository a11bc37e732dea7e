// Package gobuild builds the benchmark's programs from the faultline module
// the command runs in, for bench/load and bench/memory.
package gobuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ModuleRoot returns the directory of the faultline module's go.mod.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run from inside the faultline module (go env GOMOD is empty)")
	}
	root := filepath.Dir(gomod)
	if _, err := os.Stat(filepath.Join(root, "bench", "upstream")); err != nil {
		return "", fmt.Errorf("module at %s has no bench/upstream: %w", root, err)
	}
	return root, nil
}

// Build builds pkg (relative to the module root) into out, for at most
// five minutes; a failure carries the compiler's last lines.
func Build(ctx context.Context, root, out, pkg string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		return fmt.Errorf("go build %s: %w: %s", pkg, err, strings.Join(lines[max(0, len(lines)-3):], "\n"))
	}
	return nil
}
