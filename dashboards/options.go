package dashboards

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/sidecar/metricnames"
)

// Defaults of Options.
const (
	// DefaultCaptureURL is where the sidecar serves its capture page by
	// default (SPEC: --admin-listen 127.0.0.1:9901). It is reached through
	// `kubectl port-forward POD 9901` or an SSH tunnel.
	DefaultCaptureURL = "http://127.0.0.1:9901"

	// DefaultLatencyThreshold is the default latency threshold of the SLO
	// file of `faultline alerts`.
	DefaultLatencyThreshold = 500 * time.Millisecond
)

// Options change what the dashboards show. The zero value means the
// defaults: Grafana's default Prometheus data source, no title prefix, the
// capture page on DefaultCaptureURL, no trace links, and a latency
// threshold of 500 ms.
//
// The SLO objectives are not options: the SLO board reads them from the
// recording rules of `faultline alerts` (metricnames.SLOObjective), so that
// it always shows the objectives the alerts defend.
type Options struct {
	// DatasourceUID and DatasourceName preselect the Prometheus data source
	// of the dashboards' datasource variable. Either may be given; with
	// neither, Grafana picks its default Prometheus data source.
	DatasourceUID  string
	DatasourceName string

	// TitlePrefix is put before every dashboard title, e.g. "prod".
	TitlePrefix string
	// Tags are added to the tag "faultline" that every dashboard carries
	// (the dashboards link to each other through it).
	Tags []string

	// CaptureURL is the base URL of the sidecar's capture page; data links
	// open CaptureURL + "/?route=…&code=…". Empty means DefaultCaptureURL.
	CaptureURL string
	// TraceDatasourceUID is the uid of a Tempo data source. When set, failing
	// routes link to a TraceQL search of their spans in Explore. Exemplar
	// links are configured on the Prometheus data source instead
	// (exemplarTraceIdDestinations), so they work without it.
	TraceDatasourceUID string

	// LatencyThreshold is the bound of the latency SLO, as in the SLO file
	// of `faultline alerts`: the p99 panels turn red above it, and the SLO
	// board lists the routes slower than it. It must be one of
	// metricnames.DurationBuckets, since the SLI is read from the classic
	// buckets. Zero means DefaultLatencyThreshold.
	LatencyThreshold time.Duration
}

// OptionError is an invalid option. Option spells the option as the
// command line does (for example "capture-url"), so that the CLI can name
// the flag.
type OptionError struct {
	Option string
	Err    error
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

func optionErr(option, format string, args ...any) error {
	return &OptionError{Option: option, Err: fmt.Errorf(format, args...)}
}

// withDefaults returns o with its zero fields set to the defaults and the
// capture URL without a trailing slash.
func (o Options) withDefaults() Options {
	if o.CaptureURL == "" {
		o.CaptureURL = DefaultCaptureURL
	}
	o.CaptureURL = strings.TrimRight(o.CaptureURL, "/")
	if o.LatencyThreshold == 0 {
		o.LatencyThreshold = DefaultLatencyThreshold
	}
	o.TitlePrefix = strings.TrimSpace(o.TitlePrefix)
	return o
}

// Validate reports the first invalid option as an *OptionError.
func (o Options) Validate() error {
	o = o.withDefaults()
	u, err := url.Parse(o.CaptureURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return optionErr("capture-url", "%q is not an http(s) URL", o.CaptureURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return optionErr("capture-url", "%q: give the base URL, without query or fragment", o.CaptureURL)
	}
	if !slices.Contains(metricnames.DurationBuckets, o.LatencyThreshold.Seconds()) {
		return optionErr("slo-latency-threshold", "%v is not a bucket bound of %s (%s)",
			o.LatencyThreshold, metricnames.HTTPRequestDuration, bucketList())
	}
	for _, t := range o.Tags {
		if strings.TrimSpace(t) == "" {
			return optionErr("tags", "a tag is empty")
		}
	}
	for _, s := range []struct{ option, v string }{
		{"datasource-uid", o.DatasourceUID},
		{"datasource-name", o.DatasourceName},
		{"trace-datasource-uid", o.TraceDatasourceUID},
	} {
		if strings.ContainsAny(s.v, "\"\n$") {
			return optionErr(s.option, "%q holds a quote, newline or $", s.v)
		}
	}
	return nil
}

func bucketList() string {
	parts := make([]string, len(metricnames.DurationBuckets))
	for i, b := range metricnames.DurationBuckets {
		parts[i] = (time.Duration(b * float64(time.Second))).String()
	}
	return strings.Join(parts, ", ")
}
