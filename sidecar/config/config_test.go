package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8080" || c.Upstream.String() != "http://127.0.0.1:8000" || c.MetricsListen != ":9464" || c.AdminListen != "127.0.0.1:9901" {
		t.Errorf("addresses %+v", c)
	}
	if c.CaptureMaxBody != 64<<10 || c.CaptureMaxBytes != 256<<20 || !c.CaptureBodies || c.AccessLog != "json" {
		t.Errorf("capture defaults %+v", c)
	}
	for code, want := range map[int]bool{401: true, 422: true, 500: true, 503: true, 599: true, 200: false, 404: false, 400: false} {
		if c.Capture.Has(code) != want {
			t.Errorf("default capture set has %d = %v", code, !want)
		}
	}
	if c.CaptureStorePath() != filepath.Join("faultline-data", "captures.db") {
		t.Errorf("store path %q", c.CaptureStorePath())
	}
	if d := Default(); d.Upstream.String() != c.Upstream.String() || d.CaptureMaxBody != c.CaptureMaxBody || d.Listen != c.Listen {
		t.Error("Default differs from Load with no input")
	}
}

// TestPrecedence: flags beat the environment, which beats the file.
func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "faultline.yaml")
	os.WriteFile(file, []byte("upstream: http://file:1\nlisten: \":7001\"\naccess_log: text\nredact-fields: [pin, otp]\nmax-routes: 7\n"), 0o600)
	c, err := Load([]string{"--config", file, "--listen", ":7003"},
		env(map[string]string{"FAULTLINE_LISTEN": ":7002", "FAULTLINE_UPSTREAM": "http://env:2"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":7003" {
		t.Errorf("listen %q, want the flag's", c.Listen)
	}
	if c.Upstream.String() != "http://env:2" {
		t.Errorf("upstream %q, want the environment's", c.Upstream)
	}
	if c.AccessLog != "text" || c.MaxRoutes != 7 || strings.Join(c.RedactFields, ",") != "pin,otp" {
		t.Errorf("file settings not applied: %+v", c)
	}
	c, err = Load(nil, env(map[string]string{"FAULTLINE_CONFIG": file, "FAULTLINE_DRAIN_TIMEOUT": "3s"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Upstream.String() != "http://file:1" || c.DrainTimeout != 3*time.Second {
		t.Errorf("FAULTLINE_CONFIG not read: %+v", c)
	}
}

// TestBadInput: each bad value gives one error naming the setting as the
// user wrote it.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badYAML, []byte("upstream: [\n"), 0o600)
	unknownKey := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknownKey, []byte("upstreams: http://x\n"), 0o600)
	badValue := filepath.Join(dir, "value.yaml")
	os.WriteFile(badValue, []byte("capture-max-body: lots\n"), 0o600)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"--upstreem", "x"}, nil, "--upstreem: unknown flag"},
		{"size", []string{"--capture-max-body", "banana"}, nil, `--capture-max-body: "banana" is not a size`},
		{"size from env", nil, map[string]string{"FAULTLINE_CAPTURE_MAX_BODY": "12XB"}, `FAULTLINE_CAPTURE_MAX_BODY: "12XB" is not a size`},
		{"size from file", []string{"--config", badValue}, nil, badValue + `: capture-max-body: "lots" is not a size`},
		{"url scheme", []string{"--upstream", "ftp://x"}, nil, `--upstream: "ftp://x" is not an http:// or https:// URL`},
		{"url no host", []string{"--upstream", "http://"}, nil, `--upstream: "http://" is not`},
		{"listen", []string{"--listen", "8080"}, nil, `--listen: "8080" is not a listen address`},
		{"admin off loopback", []string{"--admin-listen", "0.0.0.0:9901"}, nil, "--admin-listen: \"0.0.0.0:9901\" is not a loopback address and captures hold user data: set --admin-token"},
		{"capture code", []string{"--capture", "401,6xx"}, nil, `--capture: "6xx" is not a status code`},
		{"bool", []string{"--capture-bodies=maybe"}, nil, `--capture-bodies: "maybe" is not true or false`},
		{"duration", []string{"--drain-timeout", "soon"}, nil, `--drain-timeout: "soon" is not a positive duration`},
		{"access log", []string{"--access-log", "xml"}, nil, `--access-log: "xml" is not one of json, text, off`},
		{"tls half", []string{"--tls-cert", "c.pem"}, nil, "--tls-key: missing"},
		{"tls twice", []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-self-signed"}, nil, "--tls-self-signed: cannot be used with --tls-cert"},
		{"self-signed bool", nil, map[string]string{"FAULTLINE_TLS_SELF_SIGNED": "yes please"}, `FAULTLINE_TLS_SELF_SIGNED: "yes please" is not true or false`},
		{"client CA without TLS", []string{"--tls-client-ca", "ca.pem"}, nil, "--tls-client-ca: needs HTTPS"},
		{"redirect without TLS", []string{"--redirect-http", ":8080"}, nil, "--redirect-http: needs HTTPS"},
		{"redirect address", []string{"--tls-self-signed", "--redirect-http", "80"}, nil, `--redirect-http: "80" is not a listen address`},
		{"upstream CA over http", []string{"--upstream-ca", "ca.pem"}, nil, "--upstream-ca: only applies to an https:// --upstream"},
		{"upstream name over http", []string{"--upstream-server-name", "app"}, nil, "--upstream-server-name: only applies to an https:// --upstream"},
		{"h2c over https", []string{"--upstream", "https://app:8443", "--upstream-h2c"}, nil, "--upstream-h2c: h2c is HTTP/2 without TLS"},
		{"store bound", []string{"--capture-max-bytes", "1KiB"}, nil, `--capture-max-bytes: "1KiB" is below the minimum`},
		{"config missing", []string{"--config", filepath.Join(dir, "nope.yaml")}, nil, "--config: cannot read"},
		{"config syntax", []string{"--config", badYAML}, nil, "--config: " + badYAML + " is not a YAML mapping"},
		{"config key", []string{"--config", unknownKey}, nil, unknownKey + ": upstreams: unknown setting"},
		{"stray argument", []string{"extra"}, nil, `run: unexpected argument "extra"`},
		{"ready path", []string{"--ready-path", "health"}, nil, `--ready-path: "health" must start with /`},
		{"trace url placeholder", []string{"--trace-url", "http://tempo/trace"}, nil, `--trace-url: "http://tempo/trace" has no {trace_id} placeholder`},
		{"trace url scheme", []string{"--trace-url", "javascript:x({trace_id})"}, nil, `--trace-url: "javascript:x({trace_id})" is not an http:// or https:// URL`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.args, env(tc.env), io.Discard)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q\nwant prefix %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestTLSSettings(t *testing.T) {
	c, err := Load([]string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-ca", "mesh.pem", "--redirect-http", ":8080",
		"--upstream", "https://app.internal:8443", "--upstream-ca", "app-ca.pem", "--upstream-server-name", "app"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.TLS() || c.TLSClientCA != "mesh.pem" || c.RedirectHTTP != ":8080" || c.UpstreamCA != "app-ca.pem" || c.UpstreamServerName != "app" || c.UpstreamH2C {
		t.Errorf("%+v", c)
	}
	c, err = Load(nil, env(map[string]string{"FAULTLINE_TLS_SELF_SIGNED": "true", "FAULTLINE_UPSTREAM_H2C": "true"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.TLS() || !c.TLSSelfSigned || !c.UpstreamH2C {
		t.Errorf("%+v", c)
	}
	if d := Default(); d.TLS() || d.UpstreamH2C {
		t.Errorf("TLS is on by default: %+v", d)
	}
}

func TestAdminTokenAllowsNonLoopback(t *testing.T) {
	c, err := Load([]string{"--admin-listen", ":9901", "--admin-token", "t0k3n"}, env(nil), io.Discard)
	if err != nil || c.AdminToken != "t0k3n" {
		t.Fatalf("%v %+v", err, c)
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	_, err := Load([]string{"-h"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "--capture-max-body") {
		t.Errorf("help: %v %q", err, out.String())
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"512", 512, true}, {"64KiB", 64 << 10, true}, {"64k", 64 << 10, true},
		{"256MiB", 256 << 20, true}, {"1GiB", 1 << 30, true}, {"10MB", 10_000_000, true}, {" 2 mib ", 2 << 20, true},
		{"", 0, false}, {"-1", 0, false}, {"1.5MiB", 0, false}, {"banana", 0, false}, {"9999999999999GiB", 0, false}, {"12XB", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"64KiB", "1GiB", "10MB", "0", "x", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Errorf("ParseSize(%q) = %d", s, n)
		}
	})
}

func FuzzLoadConfigFile(f *testing.F) {
	f.Add("upstream: http://a:1\nlisten: ':1'\n")
	f.Add("capture: [401, 5xx]\n")
	f.Add("- a\n- b\n")
	f.Add("{}")
	f.Fuzz(func(t *testing.T, doc string) {
		file := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(file, []byte(doc), 0o600)
		c, err := Load([]string{"--config", file}, env(nil), io.Discard)
		if err == nil && c.Upstream == nil {
			t.Fatal("nil upstream without error")
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error %q", err)
		}
	})
}
