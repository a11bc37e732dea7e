package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/faultline-dev/faultline/sidecar/accesslog"
	"github.com/faultline-dev/faultline/sidecar/capture/page"
)

// setting is one configuration value as text, with where it came from.
type setting struct {
	name, def, usage string
	isBool           bool
	raw              string
	from             string // "--name", "FAULTLINE_NAME" or "FILE: name"; "" for the default
}

// settings lists every setting of `faultline run`, in the order -h shows them.
func settings() []*setting {
	return []*setting{
		{name: "listen", def: ":8080", usage: "address clients connect to"},
		{name: "upstream", def: "http://127.0.0.1:8000", usage: "the app's base URL"},
		{name: "upstream-ca", usage: "CA bundle (PEM) trusted for an https --upstream (default: the system's)"},
		{name: "upstream-server-name", usage: "name sent and verified for an https --upstream (default: its host)"},
		{name: "upstream-h2c", def: "false", isBool: true, usage: "speak HTTP/2 without TLS to an http --upstream (gRPC servers)"},
		{name: "metrics-listen", def: ":9464", usage: "address serving /metrics, /healthz, /readyz"},
		{name: "admin-listen", def: "127.0.0.1:9901", usage: "address of the capture API and web page; off loopback it needs --admin-token"},
		{name: "admin-token", usage: "bearer token required by the admin API"},
		{name: "tls-cert", usage: "certificate file (PEM); with --tls-key, --listen serves HTTPS"},
		{name: "tls-key", usage: "private key file (PEM)"},
		{name: "tls-self-signed", def: "false", isBool: true, usage: "serve HTTPS with a certificate generated at start-up for localhost (demo, local use)"},
		{name: "tls-client-ca", usage: "CA bundle (PEM); clients must present a certificate it signed (mTLS)"},
		{name: "redirect-http", usage: "plain-HTTP address that redirects every request to the HTTPS --listen"},
		{name: "capture", def: "401,422,5xx", usage: "response codes and classes to capture; empty captures nothing"},
		{name: "capture-bodies", def: "true", isBool: true, usage: "capture request and response bodies"},
		{name: "capture-max-body", def: "64KiB", usage: "most bytes kept of each body"},
		{name: "capture-store", usage: "capture store file (default DATA-DIR/captures.db)"},
		{name: "capture-max-bytes", def: "256MiB", usage: "capture store size bound; oldest captures go first"},
		{name: "capture-max-count", def: "10000", usage: "most captures kept"},
		{name: "capture-rate", def: "5", usage: "most captures stored per second for one route and status"},
		{name: "data-dir", def: "faultline-data", usage: "directory for the capture store"},
		{name: "redact-headers", usage: "more header names whose values are redacted (comma-separated)"},
		{name: "redact-fields", usage: "more JSON/form field names whose values are redacted"},
		{name: "redact-query", usage: "more query parameter names whose values are redacted"},
		{name: "trace-url", usage: "link from a capture's trace id to a trace viewer, e.g. https://grafana.example/explore?traceId={trace_id}"},
		{name: "auth-cookies", usage: "cookie names that count as credentials for faultline_auth_failures_total"},
		{name: "routes", usage: "file of route templates (default: learned from the upstream's /openapi.json)"},
		{name: "routes-refresh", def: "1m", usage: "how often route templates are re-learned from the upstream"},
		{name: "max-routes", def: "100", usage: "most distinct routes outside the templates before __other__"},
		{name: "access-log", def: "json", usage: "access log on stdout: json, text or off"},
		{name: "log-level", def: "info", usage: "level of the sidecar's own log on stderr: debug, info, warn, error"},
		{name: "upstream-timeout", def: "60s", usage: "wait for the upstream's response head before 504"},
		{name: "dial-timeout", def: "5s", usage: "wait to connect to the upstream before 502"},
		{name: "ready-path", def: "/", usage: "path probed on the upstream for /readyz"},
		{name: "drain-timeout", def: "30s", usage: "on SIGTERM, most time given to in-flight requests"},
		{name: "drain-delay", def: "0s", usage: "on SIGTERM, keep accepting requests this long first (let endpoints update)"},
	}
}

// EnvName returns the environment variable of a setting.
func EnvName(name string) string {
	return "FAULTLINE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// textValue is a flag.Value that only records text; conversion happens in
// build so that errors can name the source.
type textValue struct{ s *setting }

func (v textValue) String() string { return "" }
func (v textValue) Set(x string) error {
	v.s.raw, v.s.from = x, "--"+v.s.name
	return nil
}
func (v textValue) IsBoolFlag() bool { return v.s.isBool }

// Load reads the configuration from args, the environment (getenv) and the
// YAML file named by --config or FAULTLINE_CONFIG. Bad input returns an
// *Error naming the setting; -h returns flag.ErrHelp after writing the
// flags to usage.
func Load(args []string, getenv func(string) string, usage io.Writer) (*Config, error) {
	ss := settings()
	fs := flag.NewFlagSet("faultline run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, s := range ss {
		fs.Var(textValue{s}, s.name, s.usage)
	}
	var configFile string
	fs.StringVar(&configFile, "config", "", "YAML file of settings (keys are the flag names)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printDefaults(usage, ss)
			return nil, err
		}
		return nil, flagError(err)
	}
	if fs.NArg() > 0 {
		return nil, &Error{Setting: "run", Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if configFile == "" {
		configFile = getenv("FAULTLINE_CONFIG")
	}
	if configFile != "" {
		if err := applyFile(configFile, ss); err != nil {
			return nil, err
		}
	}
	for _, s := range ss {
		if strings.HasPrefix(s.from, "--") {
			continue
		}
		if v, ok := lookupEnv(getenv, EnvName(s.name)); ok {
			s.raw, s.from = v, EnvName(s.name)
		}
	}
	return build(ss)
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	if getenv == nil {
		return "", false
	}
	v := getenv(name)
	return v, v != ""
}

// flagError rewrites the flag package's messages as one line naming the flag.
func flagError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return &Error{Setting: safeName("--" + strings.TrimPrefix(name, "-")), Msg: "unknown flag (see 'faultline run -h')"}
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return &Error{Setting: "--" + strings.TrimPrefix(name, "-"), Msg: "needs a value"}
	}
	return &Error{Setting: "run", Msg: msg}
}

// safeName returns a flag name as typed, or quoted when it holds spaces or
// control characters, so that an error stays one readable line.
func safeName(name string) string {
	if strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f || !unicode.IsPrint(r) }) {
		return strconv.Quote(name)
	}
	return name
}

func printDefaults(w io.Writer, ss []*setting) {
	fmt.Fprintln(w, "Usage: faultline run [flags]")
	fmt.Fprintln(w, "Each flag also reads FAULTLINE_<NAME> from the environment; --config FILE reads YAML.")
	for _, s := range ss {
		def := ""
		if s.def != "" {
			def = fmt.Sprintf(" (default %s)", s.def)
		}
		fmt.Fprintf(w, "  --%s\n        %s%s\n", s.name, s.usage, def)
	}
	fmt.Fprintf(w, "  --config\n        YAML file of settings (keys are the flag names)\n")
}

// applyFile reads settings from a YAML mapping whose keys are flag names
// (dashes or underscores). Lists may be YAML sequences.
func applyFile(path string, ss []*setting) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return &Error{Setting: "--config", Msg: fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err))}
	}
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return &Error{Setting: "--config", Msg: fmt.Sprintf("%s is not a YAML mapping of settings: %s", path, oneLine(err.Error()))}
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		node := doc[k]
		name := strings.ReplaceAll(k, "_", "-")
		i := slices.IndexFunc(ss, func(s *setting) bool { return s.name == name })
		where := path + ": " + k
		if i < 0 {
			return &Error{Setting: where, Msg: "unknown setting"}
		}
		s := ss[i]
		if strings.HasPrefix(s.from, "--") {
			continue
		}
		switch node.Kind {
		case yaml.ScalarNode:
			s.raw = node.Value
		case yaml.SequenceNode:
			parts := make([]string, 0, len(node.Content))
			for _, c := range node.Content {
				if c.Kind != yaml.ScalarNode {
					return &Error{Setting: where, Msg: "list items must be plain values"}
				}
				parts = append(parts, c.Value)
			}
			s.raw = strings.Join(parts, ",")
		default:
			return &Error{Setting: where, Msg: "must be a value or a list"}
		}
		s.from = where
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// build converts the settings into a Config, naming the source of any error.
func build(ss []*setting) (*Config, error) {
	get := func(name string) *setting {
		for _, s := range ss {
			if s.name == name {
				if s.from == "" {
					s.raw, s.from = s.def, "--"+name
				}
				return s
			}
		}
		panic("config: no setting " + name)
	}
	fail := func(s *setting, format string, args ...any) error {
		return &Error{Setting: s.from, Msg: fmt.Sprintf(format, args...)}
	}
	str := func(name string) string { return get(name).raw }
	var err error
	c := &Config{}

	for _, a := range []struct {
		name string
		dst  *string
	}{{"listen", &c.Listen}, {"metrics-listen", &c.MetricsListen}, {"admin-listen", &c.AdminListen}} {
		s := get(a.name)
		if err := checkAddr(s.raw); err != nil {
			return nil, fail(s, "%v", err)
		}
		*a.dst = s.raw
	}
	s := get("upstream")
	if c.Upstream, err = parseUpstream(s.raw); err != nil {
		return nil, fail(s, "%v", err)
	}
	c.AdminToken = str("admin-token")
	if !IsLoopback(c.AdminListen) && c.AdminToken == "" {
		return nil, fail(get("admin-listen"), "%q is not a loopback address and captures hold user data: set --admin-token (or bind 127.0.0.1)", c.AdminListen)
	}
	c.TLSCert, c.TLSKey = str("tls-cert"), str("tls-key")
	if (c.TLSCert == "") != (c.TLSKey == "") {
		if c.TLSCert == "" {
			return nil, fail(get("tls-cert"), "missing: --tls-key is set, --tls-cert is not")
		}
		return nil, fail(get("tls-key"), "missing: --tls-cert is set, --tls-key is not")
	}
	if err := buildTLS(c, get, fail); err != nil {
		return nil, err
	}
	s = get("capture")
	if c.Capture, err = ParseCodeSet(s.raw); err != nil {
		return nil, fail(s, "%v", err)
	}
	s = get("capture-bodies")
	if c.CaptureBodies, err = strconv.ParseBool(s.raw); err != nil {
		return nil, fail(s, "%q is not true or false", s.raw)
	}
	for _, a := range []struct {
		name string
		dst  *int64
		min  int64
	}{{"capture-max-body", &c.CaptureMaxBody, 0}, {"capture-max-bytes", &c.CaptureMaxBytes, 1 << 20}} {
		s := get(a.name)
		n, err := ParseSize(s.raw)
		if err != nil {
			return nil, fail(s, "%v", err)
		}
		if n < a.min {
			return nil, fail(s, "%q is below the minimum of %d bytes", s.raw, a.min)
		}
		*a.dst = n
	}
	if c.CaptureMaxBody > 16<<20 {
		return nil, fail(get("capture-max-body"), "%q is above the maximum of 16MiB", get("capture-max-body").raw)
	}
	for _, a := range []struct {
		name string
		dst  *int
		min  int
	}{{"capture-max-count", &c.CaptureMaxCount, 1}, {"max-routes", &c.MaxRoutes, 1}} {
		s := get(a.name)
		n, err := strconv.Atoi(s.raw)
		if err != nil || n < a.min {
			return nil, fail(s, "%q is not a whole number of at least %d", s.raw, a.min)
		}
		*a.dst = n
	}
	s = get("capture-rate")
	if c.CaptureRate, err = strconv.ParseFloat(s.raw, 64); err != nil || !(c.CaptureRate > 0) || math.IsInf(c.CaptureRate, 0) {
		return nil, fail(s, "%q is not a positive number of captures per second", s.raw)
	}
	c.CaptureStore, c.DataDir = str("capture-store"), str("data-dir")
	if c.DataDir == "" {
		return nil, fail(get("data-dir"), "must not be empty")
	}
	c.RedactHeaders, c.RedactFields, c.RedactQuery = parseList(str("redact-headers")), parseList(str("redact-fields")), parseList(str("redact-query"))
	c.AuthCookies = parseList(str("auth-cookies"))
	if s := get("trace-url"); s.raw != "" {
		if err := page.CheckTraceURL(s.raw); err != nil {
			return nil, fail(s, "%v", err)
		}
		c.TraceURL = s.raw
	}
	c.Routes = str("routes")
	s = get("access-log")
	if c.AccessLog, err = accesslog.ParseFormat(s.raw); err != nil {
		return nil, fail(s, "%v", err)
	}
	s = get("log-level")
	switch s.raw {
	case "debug", "info", "warn", "error":
		c.LogLevel = s.raw
	default:
		return nil, fail(s, "%q is not one of debug, info, warn, error", s.raw)
	}
	for _, a := range []struct {
		name string
		dst  *time.Duration
		zero bool
	}{{"routes-refresh", &c.RoutesRefresh, false}, {"upstream-timeout", &c.UpstreamTimeout, false},
		{"dial-timeout", &c.DialTimeout, false}, {"drain-timeout", &c.DrainTimeout, false}, {"drain-delay", &c.DrainDelay, true}} {
		s := get(a.name)
		d, err := time.ParseDuration(s.raw)
		if err != nil || d < 0 || (d == 0 && !a.zero) {
			return nil, fail(s, "%q is not a positive duration (like 30s or 2m)", s.raw)
		}
		*a.dst = d
	}
	s = get("ready-path")
	if !strings.HasPrefix(s.raw, "/") {
		return nil, fail(s, "%q must start with /", s.raw)
	}
	c.ReadyPath = s.raw
	return c, nil
}

// buildTLS reads the HTTPS and upstream TLS settings. Files are only named
// here; they are read (and their errors reported) when the sidecar starts.
func buildTLS(c *Config, get func(string) *setting, fail func(*setting, string, ...any) error) error {
	var err error
	s := get("tls-self-signed")
	if c.TLSSelfSigned, err = strconv.ParseBool(s.raw); err != nil {
		return fail(s, "%q is not true or false", s.raw)
	}
	if c.TLSSelfSigned && c.TLSCert != "" {
		return fail(s, "cannot be used with --tls-cert and --tls-key: choose one")
	}
	c.TLSClientCA = get("tls-client-ca").raw
	if c.TLSClientCA != "" && !c.TLS() {
		return fail(get("tls-client-ca"), "needs HTTPS: set --tls-cert and --tls-key (or --tls-self-signed)")
	}
	if s := get("redirect-http"); s.raw != "" {
		if !c.TLS() {
			return fail(s, "needs HTTPS: set --tls-cert and --tls-key (or --tls-self-signed)")
		}
		if err := checkAddr(s.raw); err != nil {
			return fail(s, "%v", err)
		}
		c.RedirectHTTP = s.raw
	}
	https := c.Upstream.Scheme == "https"
	for _, a := range []struct {
		name string
		dst  *string
	}{{"upstream-ca", &c.UpstreamCA}, {"upstream-server-name", &c.UpstreamServerName}} {
		s := get(a.name)
		if s.raw != "" && !https {
			return fail(s, "only applies to an https:// --upstream (it is %s)", c.Upstream.Redacted())
		}
		*a.dst = s.raw
	}
	s = get("upstream-h2c")
	if c.UpstreamH2C, err = strconv.ParseBool(s.raw); err != nil {
		return fail(s, "%q is not true or false", s.raw)
	}
	if c.UpstreamH2C && https {
		return fail(s, "h2c is HTTP/2 without TLS and needs an http:// --upstream; over https, HTTP/2 is negotiated")
	}
	return nil
}

// Default returns the configuration with every setting at its default.
func Default() *Config {
	c, err := build(settings())
	if err != nil {
		panic("config: defaults do not validate: " + err.Error())
	}
	return c
}
