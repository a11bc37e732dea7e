package accesslog

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/faultline-dev/faultline/sidecar/exchange"
)

// logOne logs x and waits for the line to be written.
func logOne(w io.Writer, format Format, x *exchange.Exchange) {
	l := New(w, format)
	l.End(x)
	l.Flush(context.Background())
}

func exchangeFor(path string) *exchange.Exchange {
	return &exchange.Exchange{
		Start:    time.Date(2026, 11, 27, 7, 0, 0, 123000000, time.UTC),
		Duration: 1500 * time.Microsecond,
		Request:  &http.Request{Method: "POST", URL: &url.URL{Path: path, RawQuery: "token=s3cr3t"}, RemoteAddr: "10.0.0.7:5555"},
		Route:    "/items", Status: 422, BytesIn: 12, BytesOut: 99,
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Source: "",
	}
}

func TestJSONLine(t *testing.T) {
	var buf bytes.Buffer
	logOne(&buf, JSON, exchangeFor("/items"))
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %q", buf.String())
	}
	want := map[string]any{"time": "2026-11-27T07:00:00.123Z", "method": "POST", "route": "/items", "path": "/items",
		"status": 422.0, "duration_ms": 1.5, "bytes_in": 12.0, "bytes_out": 99.0,
		"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "client": "10.0.0.7"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if strings.Contains(buf.String(), "s3cr3t") {
		t.Error("query string logged")
	}
}

func TestTextLineAndOff(t *testing.T) {
	var buf bytes.Buffer
	logOne(&buf, Text, exchangeFor("/items"))
	want := "2026-11-27T07:00:00.123Z POST /items /items 422 1.500ms in=12 out=99 trace=4bf92f3577b34da6a3ce929d0e0e4736 client=10.0.0.7\n"
	if buf.String() != want {
		t.Errorf("text line\n got %q\nwant %q", buf.String(), want)
	}
	buf.Reset()
	logOne(&buf, Off, exchangeFor("/items"))
	if buf.Len() != 0 {
		t.Errorf("off wrote %q", buf.String())
	}
}

// FuzzLinesStayOneLine: no path can break a line in two or make JSON invalid.
func FuzzLinesStayOneLine(f *testing.F) {
	for _, s := range []string{"/a", "/a\nb", "/\"x\\", "/\xff\xfe", "/\u2028", "/<script>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		for _, format := range []Format{JSON, Text} {
			var buf bytes.Buffer
			logOne(&buf, format, exchangeFor(path))
			line := buf.String()
			if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
				t.Fatalf("%s: %q is not one line", format, line)
			}
			if format == JSON {
				var v map[string]any
				if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
					t.Fatalf("invalid JSON %q: %v", line, err)
				}
			}
		}
	})
}

func BenchmarkJSON(b *testing.B) {
	l := New(nopWriter{}, JSON)
	x := exchangeFor("/items/42")
	b.ReportAllocs()
	for b.Loop() {
		l.End(x)
	}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
