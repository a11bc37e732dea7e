// Package tracing makes the OpenTelemetry spans of the exchanges the proxy
// sees: one server span per request, named "METHOD /route" (the method
// alone for a path without a route template, "HTTP" for a non-standard
// method), and one client span for the call to the app. It imports only
// the OpenTelemetry API; the SDK, the OTLP exporters and the environment
// are package otelsetup's, built once in main.
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
// never recorded, on either span: they may carry tokens. Attributes are set
// once, when the span ends (each SetAttributes call copies the SDK's
// slice), so a sampler sees none; faultline's samplers (ratio and
// parent-based) read none.
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
// The client span is the upstream call, from the moment the request is
// handed to the transport to the last byte of the response. Its attributes
// faultline.upstream.connection, .written and .first_byte are seconds from
// its start to a connection in hand, the request written and the first
// response byte; faultline.upstream.connection.reused says whether the
// connection was a kept-alive one (if not, the connection time includes
// the dial). A call that failed records the transport's error as an
// exception event. Read together: server span minus client span is
// the sidecar's own time (and the client's upload and download); the
// connection wait is the network or pool; first byte minus written is the
// app.
//
// # Context propagation and the trace id header
//
// Begin extracts traceparent, tracestate and baggage from the client's
// request with the propagator given to New; Decorate injects the client
// span's context into the upstream request, so the app's instrumentation
// makes its spans children of the sidecar's and joins the client's trace.
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
// parent-based with ratio OTEL_TRACES_SAMPLER_ARG by default), but every
// span is recorded (otelsetup.RecordAll), and the edge processor takes the
// export decision when the span ends: it exports a span that was sampled,
// or whose status is Error, or that carries faultline.keep=true (5xx,
// Options.Keep's statuses, incomplete responses, requests at least
// SlowThreshold long), or that lasted at least SlowThreshold, unless it
// carries faultline.keep=false (a WebSocket or an event stream, long by
// design). With a ratio of 0, errors and slow requests are still exported;
// successes are not.
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
// http/protobuf), _HEADERS, _TIMEOUT, _COMPRESSION and _INSECURE,
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
// Tracing off means no Observer at all. With tracing on, every request
// pays for a recorded span pair whatever the ratio, since the export
// decision waits for the outcome; the ratio only saves the export.
package tracing
