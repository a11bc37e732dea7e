package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The built-in targets, in the order a round starts with.
var builtinTargets = []string{"direct", "nginx", "haproxy", "caddy", "httputil", "faultline"}

// target is one thing wrk is pointed at.
type target struct {
	name string
	kind string // one of builtinTargets; faultline variants have kind "faultline"

	// Faultline variants only: environment (KEY=VALUE) and arguments added to
	// the base command line; later flags win over earlier ones.
	env, args []string

	// tls serves HTTPS (nginx and faultline only): the twin NAME-tls of
	// target NAME, added by --tls.
	tls bool

	url  string  // base URL wrk connects to, set once started
	srv  *server // nil for direct
	skip string  // why the target is not (or no longer) measured
}

// variant is a faultline configuration given with --faultline-variant.
type variant struct {
	name string
	env  []string
	args []string
}

var (
	reVariantName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
	reEnvAssign   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
)

// parseVariant parses name='[KEY=VALUE ...] [args ...]': leading KEY=VALUE
// words set environment variables (OTEL_* for tracing), the rest are added to
// faultline run's arguments. Words are split like a shell would, with single
// and double quotes and backslashes.
func parseVariant(s string) (variant, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok {
		return variant{}, fmt.Errorf("--faultline-variant: %q is not name='args...'", s)
	}
	if !reVariantName.MatchString(name) {
		return variant{}, fmt.Errorf("--faultline-variant: name %q: use lower-case letters, digits, '-', '_', '.'", name)
	}
	if slices.Contains(builtinTargets, name) {
		return variant{}, fmt.Errorf("--faultline-variant: name %q is a built-in target", name)
	}
	words, err := splitWords(rest)
	if err != nil {
		return variant{}, fmt.Errorf("--faultline-variant %s: %w", name, err)
	}
	v := variant{name: name}
	i := 0
	for ; i < len(words) && reEnvAssign.MatchString(words[i]); i++ {
		v.env = append(v.env, words[i])
	}
	v.args = words[i:]
	return v, nil
}

// splitWords splits s into words as a POSIX shell would, without expansions.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`+"`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case c == '\\':
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			}
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// tlsKinds are the kinds that have a TLS twin with --tls.
var tlsKinds = []string{"nginx", "faultline"}

// selectTargets returns the targets to measure: the names in want (all
// built-ins when want is empty) in the order given, then every variant that
// want does not name. With withTLS, each nginx or faultline target is
// followed by its twin NAME-tls serving HTTPS.
func selectTargets(want []string, variants []variant, withTLS bool) ([]*target, error) {
	byName := map[string]*target{}
	var all []string
	for _, n := range builtinTargets {
		byName[n] = &target{name: n, kind: n}
		all = append(all, n)
	}
	for _, v := range variants {
		if _, dup := byName[v.name]; dup {
			return nil, fmt.Errorf("--faultline-variant: name %q given twice", v.name)
		}
		byName[v.name] = &target{name: v.name, kind: "faultline", env: v.env, args: v.args}
		all = append(all, v.name)
	}
	if len(want) == 0 {
		want = builtinTargets
	}
	// Variants exist only because they were asked for: they run even when
	// --targets does not name them (after the named ones).
	for _, v := range variants {
		if !slices.Contains(want, v.name) {
			want = append(slices.Clone(want), v.name)
		}
	}
	var ts []*target
	seen := map[string]bool{}
	for _, n := range want {
		t, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("--targets: unknown target %q (known: %s)", n, strings.Join(all, ","))
		}
		if !seen[n] {
			seen[n] = true
			ts = append(ts, t)
			if withTLS && slices.Contains(tlsKinds, t.kind) {
				ts = append(ts, &target{name: t.name + "-tls", kind: t.kind, env: t.env, args: t.args, tls: true})
			}
		}
	}
	return ts, nil
}

// benchEnv is what starting a target needs from the harness.
type benchEnv struct {
	tmp         string
	upstreamURL string            // http://127.0.0.1:PORT
	path        string            // request path, also used to probe readiness
	tools       map[string]string // kind or tool name -> binary, "" when missing
	missing     map[string]string // kind -> why it cannot run
	// tlsCert and tlsKey are the PEM files every TLS twin serves.
	tlsCert, tlsKey string
}

// startTarget starts t's server (none for direct) on a fresh loopback port and
// waits until it answers through to the upstream.
func startTarget(ctx context.Context, t *target, e *benchEnv) error {
	if t.kind == "direct" {
		t.url = e.upstreamURL
		return nil
	}
	if why := e.missing[t.kind]; why != "" {
		return fmt.Errorf("%s", why)
	}
	dir := filepath.Join(e.tmp, t.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("free port: %w", err)
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	upstreamHost := strings.TrimPrefix(e.upstreamURL, "http://")
	env := cleanEnv(os.Environ())
	readyText := ""
	var argv []string
	switch t.kind {
	case "nginx":
		conf := filepath.Join(dir, "nginx.conf")
		var tc *tlsFiles
		if t.tls {
			tc = &tlsFiles{cert: e.tlsCert, key: e.tlsKey}
		}
		if err := os.WriteFile(conf, []byte(nginxConfig(dir, listen, upstreamHost, tc)), 0o644); err != nil {
			return err
		}
		argv = []string{e.tools["nginx"], "-p", dir + "/", "-c", conf, "-e", filepath.Join(dir, "error.log")}
	case "haproxy":
		conf := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(conf, []byte(haproxyConfig(listen, upstreamHost)), 0o644); err != nil {
			return err
		}
		argv = []string{e.tools["haproxy"], "-db", "-f", conf}
	case "caddy":
		conf := filepath.Join(dir, "caddy.json")
		b, err := caddyConfig(listen, upstreamHost)
		if err != nil {
			return err
		}
		if err := os.WriteFile(conf, b, 0o644); err != nil {
			return err
		}
		argv = []string{e.tools["caddy"], "run", "--config", conf}
		// Caddy keeps state under $HOME or $XDG_*; keep it in the temp dir.
		env = append(env, "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	case "httputil":
		argv = []string{e.tools["httputil"], "--listen", listen, "--upstream", e.upstreamURL}
	case "faultline":
		metricsPort, err := freePort()
		if err != nil {
			return fmt.Errorf("free port: %w", err)
		}
		argv = []string{e.tools["faultline"], "run",
			"--listen", listen,
			"--upstream", e.upstreamURL,
			"--metrics-listen", "127.0.0.1:" + strconv.Itoa(metricsPort),
			"--admin-listen", "127.0.0.1:0",
			"--access-log", "off",
			"--data-dir", filepath.Join(dir, "data"),
		}
		if t.tls {
			argv = append(argv, "--tls-cert", e.tlsCert, "--tls-key", e.tlsKey)
		}
		for _, a := range t.args {
			argv = append(argv, strings.ReplaceAll(a, "{upstream}", e.upstreamURL))
		}
		for _, kv := range t.env {
			env = append(env, strings.ReplaceAll(kv, "{upstream}", e.upstreamURL))
		}
		readyText = "faultline serving"
	default:
		return fmt.Errorf("unknown kind %q", t.kind)
	}
	srv, err := startServer(t.name, argv, env, filepath.Join(dir, "output.log"))
	if err != nil {
		return err
	}
	url := "http://" + listen
	if t.tls {
		url = "https://" + listen
	}
	if err := srv.waitReady(ctx, url+e.path, readyText, 20*time.Second); err != nil {
		srv.Stop(2 * time.Second)
		return err
	}
	t.srv, t.url = srv, url
	return nil
}

// cleanEnv drops FAULTLINE_* and OTEL_* settings inherited from the caller's
// shell, so that every faultline target runs with exactly the configuration
// its command line (and variant) states.
func cleanEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "FAULTLINE_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// tlsFiles are the certificate and key a TLS twin serves.
type tlsFiles struct{ cert, key string }

// nginxConfig is nginx in front of upstream with a pool of keep-alive
// connections, no access log and every path nginx writes inside dir.
// keepalive_requests is raised on both sides: its default of 1000 would make
// nginx close every client and upstream connection after 1000 requests, which
// none of the other proxies does. With tf, it serves HTTPS with TLS 1.2 and
// 1.3 and a session cache, as a production nginx would.
func nginxConfig(dir, listen, upstream string, tf *tlsFiles) string {
	listenLine := "listen " + listen + ";"
	if tf != nil {
		listenLine = fmt.Sprintf(`listen %s ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;`, listen, tf.cert, tf.key)
	}
	return fmt.Sprintf(`# generated by bench/load
worker_processes 2;
daemon off;
master_process on;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 300s;

    upstream app {
        server %[3]s;
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }

    server {
        %[2]s
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, dir, listenLine, upstream)
}

// haproxyConfig is HAProxy in HTTP mode with two threads, reusing upstream
// connections across client connections, and no logging.
func haproxyConfig(listen, upstream string) string {
	return fmt.Sprintf(`# generated by bench/load
global
    nbthread 2
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    http-reuse always

frontend fe
    bind %s
    default_backend app

backend app
    server app %s
`, listen, upstream)
}

// caddyConfig is Caddy's JSON config: one reverse_proxy route, admin API off,
// no automatic HTTPS, no access log, errors only in its own log.
func caddyConfig(listen, upstream string) ([]byte, error) {
	type m = map[string]any
	cfg := m{
		"admin":   m{"disabled": true, "config": m{"persist": false}},
		"logging": m{"logs": m{"default": m{"level": "ERROR"}}},
		"apps": m{"http": m{"servers": m{"bench": m{
			"listen":          []string{listen},
			"automatic_https": m{"disable": true},
			"routes": []m{{"handle": []m{{
				"handler":   "reverse_proxy",
				"upstreams": []m{{"dial": upstream}},
				"transport": m{
					"protocol":   "http",
					"keep_alive": m{"enabled": true, "max_idle_conns_per_host": 64},
				},
			}}}},
		}}}},
	}
	return json.MarshalIndent(cfg, "", "  ")
}
