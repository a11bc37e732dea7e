package otlpsend

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/protobuf/encoding/protowire"
)

func TestParsePartialSuccess(t *testing.T) {
	response := func(rejected int64, msg string) []byte {
		r := ptraceotlp.NewExportResponse()
		r.PartialSuccess().SetRejectedSpans(rejected)
		r.PartialSuccess().SetErrorMessage(msg)
		b, err := r.MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	full := response(3, "too old")
	// An unknown field on each level: a newer collector's additions.
	partial := protowire.AppendTag(nil, 1, protowire.VarintType)
	partial = protowire.AppendVarint(partial, 7)
	partial = protowire.AppendTag(partial, 9, protowire.Fixed64Type)
	partial = protowire.AppendFixed64(partial, 1)
	partial = protowire.AppendTag(partial, 2, protowire.BytesType)
	partial = protowire.AppendString(partial, "why")
	unknown := protowire.AppendTag(nil, 5, protowire.BytesType)
	unknown = protowire.AppendString(unknown, "future")
	unknown = protowire.AppendTag(unknown, 1, protowire.BytesType)
	unknown = protowire.AppendBytes(unknown, partial)

	tests := []struct {
		name         string
		in           []byte
		wantRejected int64
		wantMsg      string
		wantErr      bool
	}{
		{"empty", nil, 0, "", false},
		{"no partial success", response(0, ""), 0, "", false},
		{"rejected and message", full, 3, "too old", false},
		{"message only", response(0, "warning"), 0, "warning", false},
		{"unknown fields", unknown, 7, "why", false},
		{"repeated field merges", append(response(1, "first"), response(2, "")...), 2, "first", false},
		{"truncated", full[:len(full)-2], 0, "", true},
		{"garbage", []byte{0xff, 0xff, 0xff}, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rejected, msg, err := parsePartialSuccess(tt.in)
			if (err != nil) != tt.wantErr || rejected != tt.wantRejected || msg != tt.wantMsg {
				t.Errorf("parsePartialSuccess = %d, %q, %v; want %d, %q, error %v", rejected, msg, err, tt.wantRejected, tt.wantMsg, tt.wantErr)
			}
		})
	}
}
