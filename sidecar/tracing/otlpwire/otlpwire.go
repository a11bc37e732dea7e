// Package otlpwire encodes the tracing Observer's spans straight into the
// OTLP protobuf wire format: an ExportTraceServiceRequest, ready to post
// to a collector. It replaces, on the request path, the SDK's spans and the
// OTLP exporter's conversion to generated protobuf structs, which cost a
// sampled request tens of allocations and several microseconds: a span is
// appended to a reused byte buffer as it ends, and a whole batch is framed
// with its resource and scope only when it is sent.
//
// The output is what go.opentelemetry.io/otel's OTLP exporters send for the
// same spans (the tests compare the two), built with protowire, the
// protobuf module's own low-level encoder.
package otlpwire

import (
	"math"
	"reflect"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/faultline-dev/faultline/sidecar/tracing"
)

// Field numbers of opentelemetry/proto (collector/trace/v1, trace/v1,
// common/v1, resource/v1).
const (
	requestResourceSpans = 1 // ExportTraceServiceRequest.resource_spans

	resourceSpansResource  = 1
	resourceSpansScopes    = 2
	resourceSpansSchemaURL = 3

	scopeSpansScope     = 1
	scopeSpansSpans     = 2
	scopeSpansSchemaURL = 3

	scopeName    = 1 // InstrumentationScope
	scopeVersion = 2

	resourceAttributes = 1 // Resource

	spanTraceID    = 1
	spanSpanID     = 2
	spanTraceState = 3
	spanParentID   = 4
	spanName       = 5
	spanKind       = 6
	spanStart      = 7
	spanEnd        = 8
	spanAttributes = 9
	spanEvents     = 11
	spanStatus     = 15
	spanFlags      = 16

	eventTime       = 1
	eventName       = 2
	eventAttributes = 3

	statusCode = 3

	keyValueKey   = 1
	keyValueValue = 2

	anyString = 1
	anyBool   = 2
	anyInt    = 3
	anyDouble = 4
	anyArray  = 5
	anyBytes  = 7

	arrayValues = 1
)

// Span flags beside the W3C trace flags in the low byte: whether the
// parent is remote is known, and whether it is.
const (
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// statusError is STATUS_CODE_ERROR.
const statusError = 2

// Batch is the encoded spans of one export, the repeated spans field of a
// ScopeSpans. The zero value is empty and ready; a Batch is not safe for
// concurrent use.
type Batch struct {
	buf []byte
	n   int
}

// Append encodes spans at the end of the batch. It copies everything it
// reads, so spans may be reused as soon as it returns; once the buffer has
// grown to its working size it allocates nothing (a tracestate aside).
func (b *Batch) Append(spans []tracing.Span) {
	for i := range spans {
		var at int
		b.buf, at = begin(b.buf, scopeSpansSpans)
		b.buf = appendSpan(b.buf, &spans[i])
		b.buf = end(b.buf, at)
		b.n++
	}
}

// Len returns the number of spans in the batch.
func (b *Batch) Len() int { return b.n }

// Size returns the encoded size of the spans, in bytes.
func (b *Batch) Size() int { return len(b.buf) }

// Reset empties the batch and keeps its buffer.
func (b *Batch) Reset() { b.buf, b.n = b.buf[:0], 0 }

// Envelope is what every request of one exporter shares: its resource and
// instrumentation scope, encoded once.
type Envelope struct {
	resource  []byte // ResourceSpans.resource, tagged
	scope     []byte // ScopeSpans.scope, tagged
	resSchema string
	scpSchema string
}

// NewEnvelope encodes res and the scope of the tracing Observer's spans
// (tracing.ScopeName at version, with semconv's schema, as
// tracing.Provider names its tracer).
func NewEnvelope(res *resource.Resource, version string) *Envelope {
	e := &Envelope{scpSchema: semconv.SchemaURL}
	var at int
	e.resource, at = begin(nil, resourceSpansResource)
	if res != nil {
		for it := res.Iter(); it.Next(); {
			e.resource = appendKeyValue(e.resource, resourceAttributes, it.Attribute())
		}
		e.resSchema = res.SchemaURL()
	}
	e.resource = end(e.resource, at)
	e.scope, at = begin(nil, scopeSpansScope)
	e.scope = appendString(e.scope, scopeName, tracing.ScopeName)
	e.scope = appendString(e.scope, scopeVersion, version)
	e.scope = end(e.scope, at)
	return e
}

// AppendRequest appends to dst the ExportTraceServiceRequest of b's spans.
func (e *Envelope) AppendRequest(dst []byte, b *Batch) []byte {
	dst, rs := begin(dst, requestResourceSpans)
	dst = append(dst, e.resource...)
	dst, ss := begin(dst, resourceSpansScopes)
	dst = append(dst, e.scope...)
	dst = append(dst, b.buf...)
	dst = appendString(dst, scopeSpansSchemaURL, e.scpSchema)
	dst = end(dst, ss)
	dst = appendString(dst, resourceSpansSchemaURL, e.resSchema)
	return end(dst, rs)
}

func appendSpan(b []byte, s *tracing.Span) []byte {
	b = appendBytes(b, spanTraceID, s.TraceID[:])
	b = appendBytes(b, spanSpanID, s.SpanID[:])
	if s.TraceState.Len() > 0 {
		b = appendString(b, spanTraceState, s.TraceState.String())
	}
	if s.Parent.IsValid() {
		b = appendBytes(b, spanParentID, s.Parent[:])
	}
	b = appendString(b, spanName, s.Name)
	b = appendTag(b, spanKind, protowire.VarintType)
	b = appendVarint(b, uint64(s.Kind))
	b = appendTime(b, spanStart, s.Start.UnixNano())
	b = appendTime(b, spanEnd, s.End.UnixNano())
	for _, kv := range s.Attributes {
		b = appendKeyValue(b, spanAttributes, kv)
	}
	if s.Err != nil {
		var at int
		b, at = begin(b, spanEvents)
		b = appendTime(b, eventTime, s.End.UnixNano())
		b = appendString(b, eventName, semconv.ExceptionEventName)
		b = appendKeyValue(b, eventAttributes, semconv.ExceptionType(typeName(s.Err)))
		b = appendKeyValue(b, eventAttributes, semconv.ExceptionMessage(s.Err.Error()))
		b = end(b, at)
	}
	// The status is always there, empty when unset, as the SDK's
	// exporter sends it.
	var at int
	b, at = begin(b, spanStatus)
	if s.Failed {
		b = appendTag(b, statusCode, protowire.VarintType)
		b = appendVarint(b, statusError)
	}
	b = end(b, at)
	flags := uint32(s.Flags) | flagHasIsRemote
	if s.ParentRemote {
		flags |= flagIsRemote
	}
	b = appendTag(b, spanFlags, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, flags)
}

// typeName is the exception.type of err, as the SDK's RecordError names
// it: the package path and name of its type, or the type as written for
// pointers and other unnamed types.
func typeName(err error) string {
	t := reflect.TypeOf(err)
	if t.PkgPath() == "" && t.Name() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}

func appendKeyValue(b []byte, num protowire.Number, kv attribute.KeyValue) []byte {
	// The scalar values, every attribute of faultline's spans, have sizes
	// known up front: their lengths are written straight, without begin
	// and end's placeholder.
	var anyLen int
	var str string
	v := kv.Value
	switch v.Type() {
	case attribute.STRING:
		str = validUTF8(v.AsString())
		anyLen = 1 + protowire.SizeBytes(len(str))
	case attribute.INT64:
		anyLen = 1 + protowire.SizeVarint(uint64(v.AsInt64()))
	case attribute.BOOL:
		anyLen = 2
	case attribute.FLOAT64:
		anyLen = 1 + protowire.SizeFixed64()
	default:
		b, at := begin(b, num)
		b = appendString(b, keyValueKey, string(kv.Key))
		b = appendValue(b, keyValueValue, v)
		return end(b, at)
	}
	key := validUTF8(string(kv.Key))
	kvLen := 1 + protowire.SizeBytes(anyLen) // the value field
	if key != "" {
		kvLen += 1 + protowire.SizeBytes(len(key))
	}
	b = appendTag(b, num, protowire.BytesType)
	b = appendVarint(b, uint64(kvLen))
	if key != "" {
		b = appendTag(b, keyValueKey, protowire.BytesType)
		b = append(appendVarint(b, uint64(len(key))), key...)
	}
	b = appendTag(b, keyValueValue, protowire.BytesType)
	b = appendVarint(b, uint64(anyLen))
	switch v.Type() {
	case attribute.STRING:
		b = appendTag(b, anyString, protowire.BytesType)
		return append(appendVarint(b, uint64(len(str))), str...)
	case attribute.INT64:
		return appendInt(b, v.AsInt64())
	case attribute.BOOL:
		return appendBool(b, v.AsBool())
	}
	return appendDouble(b, v.AsFloat64())
}

// appendValue encodes v as an AnyValue: the scalar types, their slices,
// and byte slices. Other types (nested slices and maps, which faultline's
// spans and resources never hold) are an empty value.
func appendValue(b []byte, num protowire.Number, v attribute.Value) []byte {
	b, at := begin(b, num)
	switch v.Type() {
	case attribute.STRING:
		b = appendAnyString(b, v.AsString())
	case attribute.BOOL:
		b = appendBool(b, v.AsBool())
	case attribute.INT64:
		b = appendInt(b, v.AsInt64())
	case attribute.FLOAT64:
		b = appendDouble(b, v.AsFloat64())
	case attribute.BYTESLICE:
		b = appendBytes(b, anyBytes, v.AsByteSlice())
	case attribute.STRINGSLICE:
		b = appendArray(b, v.AsStringSlice(), appendAnyString)
	case attribute.BOOLSLICE:
		b = appendArray(b, v.AsBoolSlice(), appendBool)
	case attribute.INT64SLICE:
		b = appendArray(b, v.AsInt64Slice(), appendInt)
	case attribute.FLOAT64SLICE:
		b = appendArray(b, v.AsFloat64Slice(), appendDouble)
	}
	return end(b, at)
}

func appendArray[T any](b []byte, vs []T, appendOne func([]byte, T) []byte) []byte {
	b, at := begin(b, anyArray)
	for _, v := range vs {
		var vat int
		b, vat = begin(b, arrayValues)
		b = appendOne(b, v)
		b = end(b, vat)
	}
	return end(b, at)
}

// appendAnyString appends AnyValue's string, empty or not: a oneof field
// is always written.
func appendAnyString(b []byte, s string) []byte {
	s = validUTF8(s)
	b = appendTag(b, anyString, protowire.BytesType)
	return append(appendVarint(b, uint64(len(s))), s...)
}

func appendBool(b []byte, v bool) []byte {
	b = appendTag(b, anyBool, protowire.VarintType)
	return appendVarint(b, protowire.EncodeBool(v))
}

func appendInt(b []byte, v int64) []byte {
	b = appendTag(b, anyInt, protowire.VarintType)
	return appendVarint(b, uint64(v))
}

func appendDouble(b []byte, v float64) []byte {
	b = appendTag(b, anyDouble, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

// appendString appends a string field; proto3 leaves an empty one out.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	s = validUTF8(s)
	b = appendTag(b, num, protowire.BytesType)
	return append(appendVarint(b, uint64(len(s))), s...)
}

// validUTF8 replaces what is not UTF-8 in s with U+FFFD. A proto3 string
// must be UTF-8, and a collector refuses a whole request that breaks the
// rule: a client could otherwise lose a batch of spans with one byte of
// its path or user agent. Valid text, nearly all, is checked and kept
// without allocating.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = appendTag(b, num, protowire.BytesType)
	return append(appendVarint(b, uint64(len(v))), v...)
}

// appendTime appends a fixed64 nanosecond timestamp; before 1970 is 0, as
// the SDK's exporter clamps it.
func appendTime(b []byte, num protowire.Number, ns int64) []byte {
	b = appendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, uint64(max(0, ns)))
}

// appendTag and appendVarint are protowire's, with the one-byte case
// inlined: nearly every tag and length of a span is below 128, and
// protowire.AppendVarint is not inlined.
func appendTag(b []byte, num protowire.Number, typ protowire.Type) []byte {
	return appendVarint(b, protowire.EncodeTag(num, typ))
}

func appendVarint(b []byte, v uint64) []byte {
	if v < 0x80 {
		return append(b, byte(v))
	}
	return protowire.AppendVarint(b, v)
}

// begin starts a length-delimited field: its tag and a one-byte length
// placeholder. It returns where the field's body starts, for end.
func begin(b []byte, num protowire.Number) ([]byte, int) {
	b = appendTag(b, num, protowire.BytesType)
	b = append(b, 0)
	return b, len(b)
}

// end writes the length of the field begun at at. A body of 128 bytes or
// more needs a longer varint: the body moves up to make room, once.
func end(b []byte, at int) []byte {
	n := len(b) - at
	if n < 0x80 {
		b[at-1] = byte(n)
		return b
	}
	k := protowire.SizeVarint(uint64(n))
	for range k - 1 {
		b = append(b, 0)
	}
	copy(b[at+k-1:], b[at:at+n])
	protowire.AppendVarint(b[:at-1], uint64(n))
	return b
}
