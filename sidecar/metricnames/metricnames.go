// Package metricnames defines, once, every metric family faultline exports:
// names, help texts, label keys, bounded label values and histogram buckets.
//
// The sidecar registers its collectors from these definitions, and the
// dashboards and alert generators build their queries from the same
// constants, so a query can never name a metric the sidecar does not export.
// The package imports nothing beyond the standard library on purpose: the
// generators must not pull in the proxy, and the proxy must not pull in the
// generators.
package metricnames

// Metric family names. They are part of the external contract (SPEC.md).
const (
	HTTPRequestsTotal       = "faultline_http_requests_total"
	HTTPRequestDuration     = "faultline_http_request_duration_seconds"
	HTTPRequestsInFlight    = "faultline_http_requests_in_flight"
	HTTPRequestSize         = "faultline_http_request_size_bytes"
	HTTPResponseSize        = "faultline_http_response_size_bytes"
	AuthFailuresTotal       = "faultline_auth_failures_total"
	ValidationErrorsTotal   = "faultline_validation_errors_total"
	ServerErrorsTotal       = "faultline_server_errors_total"
	UpstreamUp              = "faultline_upstream_up"
	CapturesTotal           = "faultline_captures_total"
	CapturesDroppedTotal    = "faultline_captures_dropped_total"
	CaptureStoreBytes       = "faultline_capture_store_bytes"
	RoutesOverflowTotal     = "faultline_route_overflow_total"
	BuildInfo               = "faultline_build_info"
	TLSHandshakeErrorsTotal = "faultline_tls_handshake_errors_total"
	TLSCertExpiry           = "faultline_tls_cert_expiry_timestamp_seconds"
	SpansDroppedTotal       = "faultline_spans_dropped_total"
)

// Label keys.
const (
	LabelMethod      = "method"
	LabelRoute       = "route"
	LabelCode        = "code"
	LabelCredentials = "credentials"
	LabelLocation    = "location"
	LabelType        = "type"
	LabelSource      = "source"
	LabelReason      = "reason"
	LabelVersion     = "version"
	LabelRevision    = "revision"
	LabelGoVersion   = "goversion"
)

// Bounded label values.
const (
	// MethodOther stands for any method outside Methods.
	MethodOther = "OTHER"
	// RouteOther stands for every route past the cardinality cap, and for
	// paths that match no template once the cap is reached.
	RouteOther = "__other__"
	// RouteUnmatched is the route of a request that matched no template and
	// could not be collapsed into one (for example a 404 probe).
	RouteUnmatched = "__unmatched__"

	CredentialsAbsent  = "absent"
	CredentialsPresent = "present"

	// SourceApp: the app answered with a 5xx itself.
	SourceApp = "app"
	// SourceUpstreamUnreachable: the sidecar could not connect to the app,
	// or the connection broke before a response head arrived (502).
	SourceUpstreamUnreachable = "upstream_unreachable"
	// SourceUpstreamTimeout: the app did not answer in time (504).
	SourceUpstreamTimeout = "upstream_timeout"
	// SourceSidecar: the sidecar itself failed the request.
	SourceSidecar = "sidecar"

	// ValueOther replaces a validation location or type past its cap.
	ValueOther = "__other__"
)

// Methods are the method label values other than MethodOther.
var Methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// ServerErrorSources lists every value of LabelSource, so that each series
// can be initialised to zero and alerts never meet a missing series.
var ServerErrorSources = []string{SourceApp, SourceUpstreamUnreachable, SourceUpstreamTimeout, SourceSidecar}

// Capture drop reasons (LabelReason of CapturesDroppedTotal).
const (
	DropQueueFull   = "queue_full"
	DropRateLimited = "rate_limited"
	DropStoreError  = "store_error"
	DropEvicted     = "evicted"
)

// DropReasons lists every capture drop reason.
var DropReasons = []string{DropQueueFull, DropRateLimited, DropStoreError, DropEvicted}

// DurationBuckets are the classic buckets of HTTPRequestDuration, from 1 ms
// to 10 s. Latency SLO thresholds must be one of these bounds, since an SLI
// is read from the classic buckets.
var DurationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// SizeBuckets are the buckets of the body size histograms, 64 B to 64 MiB.
var SizeBuckets = []float64{64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}

// NativeHistogramBucketFactor is the growth factor of the native histogram
// exported beside the classic buckets (about 8 buckets per power of two).
const NativeHistogramBucketFactor = 1.1

// Type is a Prometheus metric type.
type Type string

// Metric types.
const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
)

// Family describes one exported metric family.
type Family struct {
	Name   string
	Type   Type
	Help   string
	Labels []string
}

// Families lists every family the sidecar exports. The sidecar registers
// exactly these; tests check that a live /metrics has each of them.
var Families = []Family{
	{HTTPRequestsTotal, Counter, "Requests answered, by method, route template and status code.", []string{LabelMethod, LabelRoute, LabelCode}},
	{HTTPRequestDuration, Histogram, "Time from the first byte of the request to the last byte of the response.", []string{LabelMethod, LabelRoute, LabelCode}},
	{HTTPRequestsInFlight, Gauge, "Requests being served now.", nil},
	{HTTPRequestSize, Histogram, "Request body sizes in bytes.", []string{LabelMethod, LabelRoute}},
	{HTTPResponseSize, Histogram, "Response body sizes in bytes.", []string{LabelMethod, LabelRoute}},
	{AuthFailuresTotal, Counter, "401 responses, by whether the request carried credentials.", []string{LabelRoute, LabelCredentials}},
	{ValidationErrorsTotal, Counter, "Items of 422 validation error lists, by field location and error type.", []string{LabelRoute, LabelLocation, LabelType}},
	{ServerErrorsTotal, Counter, "5xx responses, by where the failure came from.", []string{LabelRoute, LabelSource}},
	{UpstreamUp, Gauge, "1 when the upstream app answered the last readiness probe, else 0.", nil},
	{CapturesTotal, Counter, "Failing requests captured, by status code.", []string{LabelCode}},
	{CapturesDroppedTotal, Counter, "Captures not stored, by reason.", []string{LabelReason}},
	{CaptureStoreBytes, Gauge, "Bytes held by the capture store.", nil},
	{RoutesOverflowTotal, Counter, "Requests whose route was replaced by __other__ because the route cap was reached.", nil},
	{BuildInfo, Gauge, "Always 1; labels carry the build.", []string{LabelVersion, LabelRevision, LabelGoVersion}},
	{TLSHandshakeErrorsTotal, Counter, "Failed TLS handshakes, by reason.", []string{LabelReason}},
	{TLSCertExpiry, Gauge, "Expiry time of the serving certificate, seconds since the epoch.", nil},
	{SpansDroppedTotal, Counter, "Spans not exported, by reason (queue_full, export_failed).", []string{LabelReason}},
}

// Lookup returns the family named name, or false.
func Lookup(name string) (Family, bool) {
	for _, f := range Families {
		if f.Name == name {
			return f, true
		}
	}
	return Family{}, false
}

// Series names a histogram's derived series: base + "_bucket", "_sum" or "_count".
func Series(histogram, suffix string) string { return histogram + suffix }

// Histogram series suffixes.
const (
	SuffixBucket = "_bucket"
	SuffixSum    = "_sum"
	SuffixCount  = "_count"
)
