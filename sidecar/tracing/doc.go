// Package tracing makes the OpenTelemetry spans of the exchanges the proxy
// sees: one server span per request, named "METHOD /route" (the method
// alone for a path without a route template, "HTTP" for a non-standard
// method), and one client span for the call to the app. It imports only
// the OpenTelemetry API. The spans go to an Exporter: otelsetup.FromEnv's,
// built once in main from the environment, encodes them straight into
// OTLP; Provider hands them to any OpenTelemetry TracerProvider (the SDK's
// in tests).
//
// # Spans and attributes
//
// The server span carries the stable HTTP semantic conventions (v1.43.0):
// http.request.method (and http.request.method_original for an unknown
// method), http.route, http.response.status_code, url.scheme, url.path,
// server.address and server.port (from the Host header), client.address
// (the peer; X-Forwarded-For is the client's to forge and is not read),
// user_agent.original, network.protocol.version, http.request.body.size,
// http.response.body.size, and error.type for failures. Query strings are
// never recorded, on either span: they may carry tokens. Text that is not
// UTF-8 (a path or user agent is the client's to choose) reaches the
// collector with U+FFFD in its place (otlpwire). The spans are made
// when the exchange ends, over the exchange's strings, which the exporter
// copies before the engine reuses its buffers; so a sampler sees neither
// their name nor their attributes, and faultline's samplers (ratio and
// parent-based) read neither.
//
// error.type is, for a 5xx the sidecar made itself, where it came from
// (upstream_unreachable, upstream_timeout, sidecar, as in the
// faultline_server_errors_total source label); for a 5xx of the app and a
// kept 4xx, the status code ("500", "422"); "response_incomplete" when the
// app broke its body mid-way; "client_closed" when the client went away
// (the span is not an error then, and has no status code, since none was
// delivered). 5xx, kept 4xx and incomplete responses set the span status to
// Error, on the client span too; other 4xx leave both unset, so that an
// unsampled trace is never exported as a client span alone.
//
// The client span is the upstream call, from the moment the engine began
// to send the request (Exchange.Upstream.Sent) to the last byte of the
// response; its server.address, server.port and url.full are those of
// Options.Upstream. Its attributes faultline.upstream.connection, .written
// and .first_byte are seconds from its start to a connection in hand, the
// request written and the first response byte, as the engine timed them
// (proxy.Options.TraceUpstream; without it the client span spans the
// exchange and has no timing); faultline.upstream.connection.reused says
// whether the connection was a kept-alive one (if not, the connection time
// includes the dial). A call that failed records the transport's error as
// an exception event. Read together: server span minus client span is
// the sidecar's own time (and the client's upload and download); the
// connection wait is the network or pool; first byte minus written is the
// app.
//
// # Context propagation and the trace id header
//
// Begin reads the client's traceparent (when the propagator given to New
// carries W3C trace context) and picks the server and client span ids;
// Decorate replaces the traceparent of the upstream request with the
// client span's, so the app's instrumentation makes its spans children of
// the sidecar's and joins the client's trace. tracestate and baggage reach
// the app as the client sent them; the spans carry the parsed tracestate.
// The spans made at the end get the ids that were propagated (Provider's
// through the provider's id generator, IDGenerator).
//
// Every proxied response (not a 101 switch) carries the trace id, 32 hex
// digits, in the X-Trace-Id header (proxy.Options.TraceIDHeader; the
// engine writes Exchange.TraceID there). The id is returned whether or not
// the trace was sampled: with error-biased sampling an unsampled request
// that fails is exported after all. Captures record the same id
// (Capture.TraceID), and the span records the capture's id in
// faultline.capture.id (see RecordCaptureID).
//
// # Error-biased sampling
//
// The head decision is the configured sampler's (OTEL_TRACES_SAMPLER,
// parent-based with ratio OTEL_TRACES_SAMPLER_ARG by default), taken in
// Begin through the exporter (HeadSampler). Nothing is recorded yet: End
// makes the spans of a request that was head-sampled or is kept (5xx,
// Options.Keep's statuses, incomplete responses, requests at least
// SlowThreshold long, but not a WebSocket or an event stream, long by
// design), with the head decision as their sampled flag, and the exporter
// sends them all. With a ratio of 0, errors and slow requests are still
// exported; successes are not. (Through Provider, the SDK records them
// with otelsetup.RecordAll's sampler, and otelsetup's EdgeProcessor
// exports the sampled ones, the errors, and those marked
// faultline.keep=true.)
//
// With a parent (a client that sent traceparent):
//
//   - parent sampled: the span is sampled (parent-based), exported, and the
//     traceparent sent to the app says sampled, so the trace is whole;
//   - parent not sampled: the head decision is not to sample, and the app
//     is told so (flags 00), so it records nothing. If the request then
//     fails or is slow, the sidecar's two spans are exported anyway: the
//     trace is partial, holding the sidecar's spans under a parent that was
//     never exported and without the app's spans. The error is still
//     found, with its capture, its status and its upstream timing; the
//     app's side is in its logs (its request carries the same trace id).
//     Exported spans keep their real trace flags, so such spans are told
//     apart by the sampled bit being 0.
//   - no parent: the ratio decides, and the same holds for the app's spans
//     of unsampled requests that fail.
//
// x.Sampled (and so the exemplars of faultline_http_request_duration_seconds)
// follows the export decision: End sets it for a kept span, so observers
// whose End runs after the tracing Observer's link kept errors too.
//
// # Environment
//
// otelsetup.FromEnv reads OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER (otlp or
// none), OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// (tracing is off without either; an http:// or https:// URL, or for gRPC
// a bare host:port, which is TLS unless _INSECURE is true),
// OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL (grpc, the default, or
// http/protobuf), _HEADERS, _TIMEOUT, _COMPRESSION, _INSECURE,
// _CERTIFICATE, _CLIENT_CERTIFICATE and _CLIENT_KEY,
// OTEL_SERVICE_NAME (default "faultline"),
// OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and _ARG, and
// OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
// OTEL_BSP_SCHEDULE_DELAY and OTEL_BSP_EXPORT_TIMEOUT for the export
// queue; otelsetup.Propagator reads OTEL_PROPAGATORS (tracecontext,
// baggage, none). The queue is bounded and never blocks a request: a
// collector that is down or slow costs dropped spans, counted, not
// latency.
//
// # Cost
//
// Tracing off means no Observer at all. With tracing on, a request that is
// neither head-sampled nor kept costs no allocation: its state is pooled,
// the traceparent sent upstream is written into it, and no span is made.
// The others pay for their two spans, made when they end over the
// exchange's own strings and pooled attribute buffers. With otelsetup's
// exporter a sampled exchange costs the Observer about 1.3 µs in all,
// encoding included, and no allocation; through Provider and the SDK,
// about 5.5 µs and 37 allocations (BenchmarkObserver).
package tracing
