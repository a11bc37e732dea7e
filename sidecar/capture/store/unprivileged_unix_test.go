//go:build unix

package store

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// asUnprivileged re-runs the calling test as user nobody when the tests run
// as root, whom permission bits do not stop, and reports whether it did;
// the caller then returns. In the child it reports false.
func asUnprivileged(t *testing.T) bool {
	t.Helper()
	if os.Geteuid() != 0 || os.Getenv("FAULTLINE_TEST_UNPRIVILEGED") != "" {
		return false
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skipf("cannot re-run as nobody: %v", err)
	}
	// t.TempDir's parent is private to root; nobody must reach the binary.
	dir, err := os.MkdirTemp("", "faultline-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	os.Chmod(tmp, 0o777)
	bin := filepath.Join(dir, "test.bin")
	if err := copyFile(exe, bin); err != nil {
		t.Skipf("cannot re-run as nobody: %v", err)
	}
	cmd := exec.Command(bin, "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "FAULTLINE_TEST_UNPRIVILEGED=1", "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("as user nobody: %v\n%s", err, out)
	}
	t.Logf("ran as user nobody:\n%s", out)
	return true
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
