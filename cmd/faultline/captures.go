package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/admin"
	"github.com/faultline-dev/faultline/sidecar/capture/replay"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
)

// defaultAdmin is where `faultline run` serves the admin API by default.
const defaultAdmin = "http://127.0.0.1:9901"

const capturesUsage = `Usage: faultline captures SUBCOMMAND [flags]

  list [--code C] [--route R] [--since S] [--limit N] [--json]
                  captured requests, newest first
  show ID [--json]
                  one capture in full
  curl ID         the capture's request as a curl command
  har [ID...] [--out FILE] [--code C] [--route R] [--since S] [--limit N]
                  captures as one HAR 1.2 log (no IDs: the listed ones)
  replay ID --to URL [--set-header 'Name: value']... [--set-field name=value]...
                  send the captured request to another server; fill in
                  redacted values with --set-header, and --set-field for
                  query parameters and body fields (name:=json for non-strings)

Every subcommand reads a running sidecar's admin API (--admin, default
` + defaultAdmin + `, token from --admin-token or FAULTLINE_ADMIN_TOKEN) or a
capture store on disk (--data-dir DIR). Run 'faultline captures SUBCOMMAND -h'
for its flags.
`

// capturesCommand lists, shows and exports captured failing requests.
func capturesCommand(ctx context.Context, args []string, stdio Stdio) error {
	if len(args) == 0 {
		return usagef("captures: missing subcommand: list, show, curl, har or replay")
	}
	run := map[string]func(context.Context, []string, Stdio) error{
		"list": capturesList, "show": capturesShow, "curl": capturesCurl, "har": capturesHAR, "replay": capturesReplay,
	}[args[0]]
	switch {
	case run != nil:
		return run(ctx, args[1:], stdio)
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		fmt.Fprint(stdio.Out, capturesUsage)
		return nil
	}
	return usagef("captures: unknown subcommand %q (list, show, curl, har or replay)", args[0])
}

// sourceFlags choose where captures are read from.
type sourceFlags struct {
	admin, token, dataDir string
}

func (s *sourceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.admin, "admin", defaultAdmin, "base URL of a running sidecar's admin API")
	fs.StringVar(&s.token, "admin-token", "", "admin API token (default $FAULTLINE_ADMIN_TOKEN)")
	fs.StringVar(&s.dataDir, "data-dir", "", "read the capture store in this directory (or this store file) instead of the admin API")
}

// open returns the source the flags name, and a function that releases it.
func (s *sourceFlags) open(fs *flag.FlagSet) (admin.Source, func(), error) {
	if s.dataDir != "" {
		if flagSet(fs, "admin") {
			return nil, nil, usagef("--data-dir: cannot be used with --admin")
		}
		path := s.dataDir
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			path = filepath.Join(path, store.FileName)
		}
		st, err := store.Open(path, store.Options{ReadOnly: true})
		if err != nil {
			return nil, nil, usagef("--data-dir: %v", err)
		}
		return st, func() { st.Close() }, nil
	}
	u, err := url.Parse(s.admin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, usagef("--admin: %q is not an http:// or https:// URL", s.admin)
	}
	token := s.token
	if token == "" {
		token = os.Getenv("FAULTLINE_ADMIN_TOKEN")
	}
	c := &admin.Client{BaseURL: s.admin, Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
	return c, func() {}, nil
}

// filterFlags select captures, as the API's list parameters do.
type filterFlags struct {
	code, route, since string
	limit              int
}

func (f *filterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.code, "code", "", "status code (422) or class (4xx, 5xx)")
	fs.StringVar(&f.route, "route", "", "route template, e.g. /items/{item_id}")
	fs.StringVar(&f.since, "since", "", "RFC 3339 time, or a duration back from now (15m, 2h, 7d)")
	fs.IntVar(&f.limit, "limit", store.DefaultLimit, fmt.Sprintf("most captures, 1 to %d", store.MaxLimit))
}

func (f *filterFlags) query(now time.Time) (store.Query, error) {
	q := store.Query{Route: f.route, Limit: f.limit}
	var err error
	if f.code != "" {
		if q.CodeMin, q.CodeMax, err = store.ParseCode(f.code); err != nil {
			return q, usagef("--code: %v", err)
		}
	}
	if f.since != "" {
		if q.Since, err = store.ParseSince(f.since, now); err != nil {
			return q, usagef("--since: %v", err)
		}
	}
	if f.limit < 1 || f.limit > store.MaxLimit {
		return q, usagef("--limit: %d is not a number from 1 to %d", f.limit, store.MaxLimit)
	}
	return q, nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parseArgs parses flags wherever they stand among the positional
// arguments (show ID --json), and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// oneID parses a subcommand's flags and its one capture ID argument.
func oneID(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", err
	}
	name := strings.TrimPrefix(fs.Name(), "faultline ")
	if len(pos) != 1 {
		return "", usagef("%s: wants one capture ID, got %d arguments", name, len(pos))
	}
	if !capture.ValidID(pos[0]) {
		return "", usagef("%s: %q is not a capture ID", name, pos[0])
	}
	return pos[0], nil
}

// getCapture reads one capture, naming the ID when there is none.
// captureByID parses the one ID argument, opens the source the flags name
// and fetches that capture.
func captureByID(ctx context.Context, fs *flag.FlagSet, src *sourceFlags, args []string) (*capture.Capture, error) {
	id, err := oneID(fs, args)
	if err != nil {
		return nil, err
	}
	source, release, err := src.open(fs)
	if err != nil {
		return nil, err
	}
	defer release()
	return getCapture(ctx, source, id)
}

func getCapture(ctx context.Context, src admin.Source, id string) (*capture.Capture, error) {
	c, err := src.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("capture %s not found", id)
	}
	return c, err
}

func capturesList(ctx context.Context, args []string, stdio Stdio) error {
	fs := newFlagSet("captures list", stdio)
	var src sourceFlags
	var filter filterFlags
	src.register(fs)
	filter.register(fs)
	asJSON := fs.Bool("json", false, "print JSON ({\"captures\": [...]}, as the API does)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("captures list: unexpected argument %q (flags only)", pos[0])
	}
	q, err := filter.query(time.Now())
	if err != nil {
		return err
	}
	source, release, err := src.open(fs)
	if err != nil {
		return err
	}
	defer release()
	caps, err := source.List(ctx, q)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeIndented(stdio.Out, map[string]any{"captures": caps})
	}
	if len(caps) == 0 {
		fmt.Fprintln(stdio.Err, "no captures match")
		return nil
	}
	tw := tabwriter.NewWriter(stdio.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSTATUS\tMETHOD\tROUTE\tPATH\tDURATION\tID")
	for _, c := range caps {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", c.Time.Local().Format("2006-01-02 15:04:05"), c.Status,
			printable(c.Method), printable(c.Route), printable(c.Path), formatMS(c.DurationMS), printable(c.ID))
	}
	return tw.Flush()
}

func capturesShow(ctx context.Context, args []string, stdio Stdio) error {
	fs := newFlagSet("captures show", stdio)
	var src sourceFlags
	src.register(fs)
	asJSON := fs.Bool("json", false, "print the capture's JSON, as the API does")
	c, err := captureByID(ctx, fs, &src, args)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeIndented(stdio.Out, c)
	}
	return showCapture(stdio.Out, c)
}

// showCapture prints a capture for a person. Every value is made printable,
// so a captured escape sequence cannot drive the terminal.
func showCapture(w io.Writer, c *capture.Capture) error {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("ID        %s\n", printable(c.ID))
	p("Time      %s (took %s)\n", c.Time.Local().Format("2006-01-02 15:04:05.000 MST"), formatMS(c.DurationMS))
	p("Request   %s %s\n", printable(c.Request.Method), printable(c.Request.Target()))
	p("Route     %s\n", printable(c.Route))
	p("Status    %d %s\n", c.Response.Status, http.StatusText(c.Response.Status))
	if c.Request.Host != "" {
		p("Host      %s\n", printable(c.Request.Host))
	}
	if c.TraceID != "" {
		p("Trace     %s\n", printable(c.TraceID))
	}
	if c.ClientAddr != "" {
		p("Client    %s\n", printable(c.ClientAddr))
	}
	if len(c.Redacted) > 0 {
		names := make([]string, len(c.Redacted))
		for i, r := range c.Redacted {
			names[i] = printable(r.Where + " " + r.Name)
		}
		p("Redacted  %s\n", strings.Join(names, ", "))
	}
	section := func(title string, fields []capture.Field, sep string) {
		if len(fields) == 0 {
			return
		}
		p("\n%s\n", title)
		for _, f := range fields {
			p("  %s%s%s\n", printable(f.Name), sep, printable(f.Value))
		}
	}
	section("Request headers", c.Request.Headers, ": ")
	section("Request cookies", c.Request.Cookies, "=")
	showBody(w, "Request body", &c.Request.Body)
	section("Response headers", c.Response.Headers, ": ")
	showBody(w, "Response body", &c.Response.Body)
	return nil
}

func showBody(w io.Writer, title string, b *capture.Body) {
	data, err := b.Bytes()
	if err != nil || (len(data) == 0 && b.Size == 0) {
		return
	}
	note := fmt.Sprintf("%d bytes", len(data))
	if b.Truncated {
		note = fmt.Sprintf("first %d of %d bytes", len(data), b.Size)
	}
	fmt.Fprintf(w, "\n%s (%s)\n", title, note)
	if len(data) == 0 {
		fmt.Fprintln(w, "  (not captured)")
		return
	}
	if b.Base64 || !utf8.Valid(data) {
		fmt.Fprintln(w, "  (binary; --json shows it as base64)")
		return
	}
	text := string(data)
	var pretty bytes.Buffer
	if json.Indent(&pretty, data, "", "  ") == nil {
		text = pretty.String()
	}
	for line := range strings.Lines(text) {
		fmt.Fprintf(w, "  %s\n", printableText(strings.TrimSuffix(line, "\n")))
	}
}

func capturesCurl(ctx context.Context, args []string, stdio Stdio) error {
	fs := newFlagSet("captures curl", stdio)
	var src sourceFlags
	src.register(fs)
	c, err := captureByID(ctx, fs, &src, args)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdio.Out, capture.Curl(c))
	return err
}

func capturesHAR(ctx context.Context, args []string, stdio Stdio) error {
	fs := newFlagSet("captures har", stdio)
	var src sourceFlags
	var filter filterFlags
	src.register(fs)
	filter.register(fs)
	out := fs.String("out", "", "write the HAR to this file (mode 0600) instead of standard output")
	ids, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !capture.ValidID(id) {
			return usagef("captures har: %q is not a capture ID", id)
		}
	}
	if len(ids) > 0 {
		for _, name := range []string{"code", "route", "since", "limit"} {
			if flagSet(fs, name) {
				return usagef("--%s: selects captures to list; not used with IDs", name)
			}
		}
	}
	q, err := filter.query(time.Now())
	if err != nil {
		return err
	}
	source, release, err := src.open(fs)
	if err != nil {
		return err
	}
	defer release()
	if len(ids) == 0 {
		caps, err := source.List(ctx, q)
		if err != nil {
			return err
		}
		for _, c := range caps {
			ids = append(ids, c.ID)
		}
	}
	caps := make([]*capture.Capture, 0, len(ids))
	for _, id := range ids {
		c, err := getCapture(ctx, source, id)
		if err != nil {
			return err
		}
		caps = append(caps, c)
	}
	h := capture.NewHAR(caps...)
	if *out == "" {
		return writeIndented(stdio.Out, h)
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return usagef("--out: %v", err)
	}
	if err := writeIndented(f, h); err != nil {
		f.Close()
		return fmt.Errorf("--out: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	fmt.Fprintf(stdio.Err, "wrote %d captures to %s\n", len(caps), *out)
	return nil
}

// replayExcerpt is how much of the new response body replay prints.
const replayExcerpt = 2 << 10

func capturesReplay(ctx context.Context, args []string, stdio Stdio) error {
	fs := newFlagSet("captures replay", stdio)
	var src sourceFlags
	src.register(fs)
	to := fs.String("to", "", "base URL of the server to send the request to, e.g. http://localhost:8000 (required)")
	var rawHeaders, rawFields []string
	fs.Func("set-header", "'Name: value' replaces that header (repeatable)", func(s string) error {
		rawHeaders = append(rawHeaders, s)
		return nil
	})
	fs.Func("set-field", "name=value (a string) or name:=json sets a query parameter or body field; "+
		"JSON paths use dots, e.g. user.password (repeatable)", func(s string) error {
		rawFields = append(rawFields, s)
		return nil
	})
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the answer")
	id, err := oneID(fs, args)
	if err != nil {
		return err
	}
	if *to == "" {
		return usagef("--to: required: the base URL of the server to send the request to")
	}
	target, err := url.Parse(*to)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return usagef("--to: %q is not an http:// or https:// URL", *to)
	}
	opts := replay.Options{To: target}
	for _, s := range rawHeaders {
		h, err := replay.ParseSetHeader(s)
		if err != nil {
			return usagef("--set-header: %v", err)
		}
		opts.SetHeaders = append(opts.SetHeaders, h)
	}
	for _, s := range rawFields {
		f, err := replay.ParseSetField(s)
		if err != nil {
			return usagef("--set-field: %v", err)
		}
		opts.SetFields = append(opts.SetFields, f)
	}
	if *timeout <= 0 {
		return usagef("--timeout: %v is not a positive duration", *timeout)
	}
	source, release, err := src.open(fs)
	if err != nil {
		return err
	}
	defer release()
	c, err := getCapture(ctx, source, id)
	if err != nil {
		return err
	}
	req, warnings, err := replay.NewRequest(c, opts)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(stdio.Err, "warning: %s\n", printable(w))
	}
	client := &http.Client{
		Timeout: *timeout,
		// Show the answer itself, as the client that was captured saw it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("replay to %s: %w", target.Redacted(), unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, replayExcerpt+1))
	if err != nil {
		return fmt.Errorf("replay to %s: reading the answer: %w", target.Redacted(), err)
	}
	fmt.Fprintf(stdio.Out, "captured %d → now %d\n", c.Response.Status, resp.StatusCode)
	more := len(body) > replayExcerpt
	if more {
		body = body[:replayExcerpt]
	}
	switch {
	case len(body) == 0:
	case !utf8.Valid(body) && !more:
		fmt.Fprintf(stdio.Out, "(%d bytes, not text)\n", len(body))
	default:
		fmt.Fprintln(stdio.Out, printableText(strings.ToValidUTF8(string(body), "\uFFFD")))
		if more {
			fmt.Fprintln(stdio.Out, "…")
		}
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// formatMS writes a duration in milliseconds the way people read them.
func formatMS(ms float64) string {
	switch {
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64) + "ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(ms/1000, 'f', 2, 64) + "s"
}

// printable escapes what a terminal would act on (control characters,
// escape sequences, invalid UTF-8) in one table cell or line.
func printable(s string) string {
	return escapeUnprintable(s, false)
}

// printableText is printable for a body line, where tabs stay.
func printableText(s string) string {
	return escapeUnprintable(s, true)
}

func escapeUnprintable(s string, keepTabs bool) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t' && keepTabs, r == ' ', unicode.IsPrint(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}
