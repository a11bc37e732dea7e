package main

import (
	"context"
	"strings"
	"testing"
)

func runMain(args ...string) (code int, stdout, stderr string) {
	var out, errb strings.Builder
	code = Main(context.Background(), args, Stdio{In: strings.NewReader(""), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

// TestBadInputExitsTwo: bad input stops with exit code 2 and one line on
// stderr that names the setting.
func TestBadInputExitsTwo(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--capture-max-body", "banana"}, `faultline: --capture-max-body: "banana" is not a size`},
		{[]string{"run", "--nope"}, "faultline: --nope: unknown flag"},
		{[]string{"run", "--upstream", "localhost:8000"}, "faultline: --upstream: "},
		{[]string{"run", "--admin-listen", "0.0.0.0:9901"}, "faultline: --admin-listen: "},
		{[]string{"demo", "--traffic", "often"}, `faultline: --traffic: "often" is not an interval`},
		{[]string{"demo", "--access-log", "xml"}, `faultline: --access-log: "xml"`},
		{[]string{"frobnicate"}, `faultline: unknown command "frobnicate"`},
		{[]string{"version", "--bogus"}, "faultline: flag provided but not defined: -bogus"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runMain(tc.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if !strings.HasPrefix(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q\nwant one line starting %q", stderr, tc.want)
			}
		})
	}
}

func TestRunPortInUse(t *testing.T) {
	code, _, stderr := runMain("run", "--listen", "127.0.0.1:0", "--metrics-listen", "256.0.0.1:1", "--data-dir", t.TempDir())
	if code != 2 || !strings.HasPrefix(stderr, "faultline: --metrics-listen: ") {
		t.Errorf("code %d stderr %q", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runMain("version")
	if code != 0 || !strings.HasPrefix(out, "faultline ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestHelpListsCommands(t *testing.T) {
	code, out, _ := runMain("help")
	if code != 0 {
		t.Errorf("help exit %d", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out, c.name) {
			t.Errorf("help lacks %s", c.name)
		}
	}
}
