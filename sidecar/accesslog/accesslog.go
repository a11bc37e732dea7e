// Package accesslog writes one line per request: what gunicorn logs, plus
// the route template, duration, sizes and trace id that it does not.
//
// Lines are built by hand into pooled buffers: a JSON encoder or slog would
// cost several allocations per request on the hot path. Only the path is
// logged, never the query string, which may carry secrets.
package accesslog

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/faultline-dev/faultline/sidecar/exchange"
)

// Format is the line format.
type Format string

// Formats.
const (
	JSON Format = "json"
	Text Format = "text"
	Off  Format = "off"
)

// ParseFormat returns the Format named s.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case JSON, Text, Off:
		return f, nil
	}
	return "", fmt.Errorf("%q is not one of json, text, off", s)
}

// Logger is an exchange.Observer writing access log lines to a writer. It
// is safe for concurrent use.
//
// The request path never waits for the writer: lines go through a Backlog
// (see there why), so a stdout nobody reads cannot block requests.
type Logger struct {
	format Format
	out    *Backlog
	bufs   sync.Pool
}

// New returns a Logger writing format lines to w.
func New(w io.Writer, format Format) *Logger {
	l := &Logger{format: format}
	l.out = NewBacklog(w, l.appendDropped)
	l.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return l
}

// Begin does nothing: a line is written when the exchange ends.
func (l *Logger) Begin(*exchange.Exchange) {}

// End queues the line of x for the writer; it never blocks on the writer.
func (l *Logger) End(x *exchange.Exchange) {
	if l.format == Off {
		return
	}
	bp := l.bufs.Get().(*[]byte)
	b := (*bp)[:0]
	if l.format == Text {
		b = appendText(b, x)
	} else {
		b = appendJSON(b, x)
	}
	_, _ = l.out.Write(b)
	*bp = b
	l.bufs.Put(bp)
}

// appendDropped appends the line that reports n dropped lines.
func (l *Logger) appendDropped(b []byte, n int) []byte {
	now := time.Now().UTC()
	if l.format == Text {
		b = now.AppendFormat(b, time.RFC3339Nano)
		b = append(b, " access log lines dropped: "...)
		b = strconv.AppendInt(b, int64(n), 10)
		return append(b, " (the log's reader was too slow)\n"...)
	}
	b = append(b, `{"time":"`...)
	b = now.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","msg":"access log lines dropped","dropped":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, `,"reason":"the log's reader was too slow"}`+"\n"...)
}

// Flush waits until every queued line is written, or ctx ends. Call it
// before exiting, so that the last lines are not lost.
func (l *Logger) Flush(ctx context.Context) error { return l.out.Flush(ctx) }

func clientIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

func appendJSON(b []byte, x *exchange.Exchange) []byte {
	b = append(b, `{"time":"`...)
	b = x.Start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","method":`...)
	b = appendJSONString(b, x.Request.Method)
	b = append(b, `,"route":`...)
	b = appendJSONString(b, x.Route)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, x.Request.URL.Path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(x.Status), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(x.Duration.Microseconds())/1000, 'f', 3, 64)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, x.BytesIn, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, x.BytesOut, 10)
	if x.TraceID != "" {
		b = append(b, `,"trace_id":"`...)
		b = append(b, x.TraceID...)
		b = append(b, '"')
	}
	if x.Source != "" {
		b = append(b, `,"source":"`...)
		b = append(b, x.Source...)
		b = append(b, '"')
	}
	b = append(b, `,"client":`...)
	b = appendJSONString(b, clientIP(x.Request.RemoteAddr))
	return append(b, "}\n"...)
}

func appendText(b []byte, x *exchange.Exchange) []byte {
	b = x.Start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ' ')
	b = appendSafe(b, x.Request.Method)
	b = append(b, ' ')
	b = appendSafe(b, x.Route)
	b = append(b, ' ')
	b = appendSafe(b, x.Request.URL.Path)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(x.Status), 10)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, float64(x.Duration.Microseconds())/1000, 'f', 3, 64)
	b = append(b, "ms in="...)
	b = strconv.AppendInt(b, x.BytesIn, 10)
	b = append(b, " out="...)
	b = strconv.AppendInt(b, x.BytesOut, 10)
	if x.TraceID != "" {
		b = append(b, " trace="...)
		b = append(b, x.TraceID...)
	}
	if x.Source != "" {
		b = append(b, " source="...)
		b = append(b, x.Source...)
	}
	b = append(b, " client="...)
	b = appendSafe(b, clientIP(x.Request.RemoteAddr))
	return append(b, '\n')
}

// appendSafe appends s with control characters, spaces and invalid UTF-8
// escaped, so a hostile path cannot forge a second text line.
func appendSafe(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c > ' ' && c < utf8.RuneSelf && c != '\\' && c != 0x7f {
			b = append(b, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r >= utf8.RuneSelf && r != utf8.RuneError {
			b = append(b, s[i:i+size]...)
		} else {
			b = append(b, `\x`...)
			b = append(b, hex[c>>4], hex[c&0xf])
			size = 1
		}
		i += size
	}
	return b
}

const hex = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= ' ' && c < utf8.RuneSelf && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, `\u00`...)
				b = append(b, hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, `\u202`...)
			b = append(b, hex[r&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
