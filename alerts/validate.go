package alerts

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/prometheus/prometheus/promql/parser"
)

// functions42 are the PromQL functions the rules may call. Each exists in
// Prometheus 2.42; add one only after checking that it does. The parser
// used by validate knows no others, so a rule calling a newer function
// fails generation, not the user's Prometheus.
var functions42 = []string{
	"absent", "increase", "label_replace", "max_over_time", "rate", "time", "vector",
}

// templateFuncs42 are the template functions of Prometheus 2.42 that the
// annotations may use, beside text/template's builtins.
var templateFuncs42 = []string{
	"first", "humanize", "humanizeDuration", "humanizePercentage", "label", "query", "value",
}

func newParser() parser.Parser {
	fns := make(map[string]*parser.Function, len(functions42))
	for _, name := range functions42 {
		fns[name] = parser.Functions[name]
	}
	return parser.NewParser(parser.Options{Functions: fns})
}

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = legacyName
)

// validate checks g the way Prometheus 2.42 loads a rule file (rulefmt's
// checks, with 2.42's PromQL functions, name rules and template functions)
// and returns every problem found.
func validate(g RuleGroups) error {
	var errs []error
	p := newParser()
	groups := map[string]bool{}
	for _, grp := range g.Groups {
		if grp.Name == "" {
			errs = append(errs, errors.New("a group has no name"))
		}
		if groups[grp.Name] {
			errs = append(errs, fmt.Errorf("group %q is repeated", grp.Name))
		}
		groups[grp.Name] = true
		for i, r := range grp.Rules {
			for _, err := range validateRule(p, r) {
				name := r.Alert + r.Record
				errs = append(errs, fmt.Errorf("group %q, rule %d (%s): %w", grp.Name, i+1, name, err))
			}
		}
	}
	return errors.Join(errs...)
}

func validateRule(p parser.Parser, r Rule) []error {
	var errs []error
	switch {
	case r.Record != "" && r.Alert != "":
		errs = append(errs, errors.New("only one of record and alert may be set"))
	case r.Record == "" && r.Alert == "":
		errs = append(errs, errors.New("one of record or alert must be set"))
	}
	if r.Expr == "" {
		errs = append(errs, errors.New("expr is empty"))
	} else if _, err := p.ParseExpr(r.Expr); err != nil {
		errs = append(errs, fmt.Errorf("could not parse expression: %w", err))
	}
	if r.Record != "" {
		if len(r.Annotations) > 0 {
			errs = append(errs, errors.New("a recording rule has annotations"))
		}
		if r.For != 0 {
			errs = append(errs, errors.New("a recording rule has for"))
		}
		if !metricNameRE.MatchString(r.Record) {
			errs = append(errs, fmt.Errorf("invalid recording rule name %q", r.Record))
		}
	}
	if r.Alert != "" && !labelNameRE.MatchString(r.Alert) {
		// Not required by Prometheus, but alert names become label values
		// that people type into silences and file names of runbooks.
		errs = append(errs, fmt.Errorf("alert name %q is not an identifier", r.Alert))
	}
	for k, v := range r.Labels {
		if !labelNameRE.MatchString(k) || k == "__name__" {
			errs = append(errs, fmt.Errorf("invalid label name %q", k))
		}
		if !utf8.ValidString(v) {
			errs = append(errs, fmt.Errorf("invalid label value %q", v))
		}
	}
	for k, v := range r.Annotations {
		if !labelNameRE.MatchString(k) {
			errs = append(errs, fmt.Errorf("invalid annotation name %q", k))
		}
		if err := parseTemplate(r.Alert, v); err != nil {
			errs = append(errs, fmt.Errorf("annotation %s: %w", k, err))
		}
	}
	for k, v := range r.Labels {
		if err := parseTemplate(r.Alert, v); err != nil {
			errs = append(errs, fmt.Errorf("label %s: %w", k, err))
		}
	}
	return errs
}

// parseTemplate parses text as Prometheus parses alert templates, with the
// variables it defines, and with the template functions of 2.42 only.
func parseTemplate(alert, text string) error {
	funcs := template.FuncMap{}
	for _, name := range templateFuncs42 {
		funcs[name] = func(...any) (any, error) { return nil, nil }
	}
	defs := "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
	_, err := template.New("__alert_" + alert).Funcs(funcs).Option("missingkey=zero").Parse(defs + text)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "template: "))
	}
	return nil
}
