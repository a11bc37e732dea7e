// Package otlpsend posts already-encoded OTLP trace requests to a
// collector, over OTLP/HTTP (protobuf) or OTLP/gRPC.
//
// faultline encodes its spans straight into the bytes of an
// ExportTraceServiceRequest (package otlpwire), so it has no use for the
// SDK's otlptrace exporters, which take SDK span snapshots and marshal
// them again. What it still needs from those exporters is their
// behaviour on the wire, and this package keeps it:
//
//   - retries of what the OTLP specification calls retryable (HTTP 429,
//     502, 503, 504 and transport errors; gRPC Canceled, DeadlineExceeded,
//     Aborted, OutOfRange, Unavailable, DataLoss, and ResourceExhausted
//     when the server says when to come back), with exponential backoff
//     and jitter, honouring HTTP Retry-After and gRPC RetryInfo, all
//     within one deadline per Send;
//   - the partial success of the response (rejected spans and the reason);
//   - headers (API keys, tenants), gzip, and TLS with a custom CA and
//     client certificates.
//
// Unlike the exporters, it does not follow HTTP redirects: export headers
// usually carry credentials, and a redirect means a misconfigured
// endpoint, which an error says more clearly.
//
// Error texts are one line, name the endpoint (without user info or
// query), and never contain a header value, even when the collector
// echoes one back: header values are usually API keys, and errors end up
// in logs.
package otlpsend
