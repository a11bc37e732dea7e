package tracing

import (
	"net/http/httptrace"
	"time"
)

// The httptrace hooks below time the upstream call for the client span.
// The transport calls them on its own goroutines (its connection's read
// and write loops), possibly after the exchange ended, so they only store
// into atomics that End reads; st.sent was set before RoundTrip was called.

func (st *request) since() int64 { return max(int64(time.Since(st.sent)), 1) }

func (st *request) gotConn(info httptrace.GotConnInfo) {
	st.reused.Store(info.Reused)
	st.conn.Store(st.since())
}

func (st *request) wroteRequest(httptrace.WroteRequestInfo) { st.written.Store(st.since()) }

func (st *request) gotFirstResponseByte() { st.firstByte.Store(st.since()) }
