package otlpsend

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// parsePartialSuccess reads the partial_success of an encoded
// ExportTraceServiceResponse:
//
//	message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
//	message ExportTracePartialSuccess  { int64 rejected_spans = 1; string error_message = 2; }
//
// by hand rather than with the generated types, which this package would
// otherwise not need. Unknown fields are skipped, and repeated ones merge
// as protobuf says (the last scalar wins).
func parsePartialSuccess(b []byte) (rejected int64, msg string, err error) {
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
			switch {
			case num == 1 && typ == protowire.VarintType:
				rejected = int64(x)
			case num == 2 && typ == protowire.BytesType:
				msg = string(v)
			}
			return nil
		})
	})
	if err != nil {
		return 0, "", err
	}
	return rejected, msg, nil
}

// statusMessage reads the message (field 2) of an encoded google.rpc.Status,
// what an OTLP/HTTP server answers a failed request with.
func statusMessage(b []byte) (msg string, err error) {
	err = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		if num == 2 && typ == protowire.BytesType {
			msg = string(v)
		}
		return nil
	})
	return msg, err
}

// eachField calls fn with each field of the encoded message b: v is the
// payload of a length-delimited field, x the value of a varint one.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var (
			v []byte
			x uint64
		)
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}
