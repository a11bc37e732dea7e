package e2e

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// otlpReceiver collects the spans POSTed to /v1/traces (OTLP/HTTP protobuf).
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []ptrace.Span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		er := ptraceotlp.NewExportRequest()
		if err := er.UnmarshalProto(b); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		r.mu.Lock()
		rss := er.Traces().ResourceSpans()
		for i := range rss.Len() {
			sss := rss.At(i).ScopeSpans()
			for j := range sss.Len() {
				spans := sss.At(j).Spans()
				for k := range spans.Len() {
					r.spans = append(r.spans, spans.At(k))
				}
			}
		}
		r.mu.Unlock()
		resp, _ := ptraceotlp.NewExportResponse().MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(resp)
	}))
	t.Cleanup(r.Close)
	return r
}

// serverSpans returns the server spans received, by trace id.
func (r *otlpReceiver) serverSpans() map[string]ptrace.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]ptrace.Span{}
	for _, s := range r.spans {
		if s.Kind() == ptrace.SpanKindServer {
			id := s.TraceID()
			out[hex.EncodeToString(id[:])] = s
		}
	}
	return out
}

// TestTracingThroughToTheApp: spans reach an OTLP collector; the client's
// traceparent reaches the app with the same trace id; with a 0 % ratio,
// errors are still exported and successes are not; errors carry exemplars.
func TestTracingThroughToTheApp(t *testing.T) {
	a := startApp(t, "")
	recv := newOTLPReceiver(t)
	s := startSidecarEnv(t, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + recv.URL,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_TRACES_SAMPLER=parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG=0",
		"OTEL_BSP_SCHEDULE_DELAY=100",
		"OTEL_SERVICE_NAME=shop-sidecar",
	}, "--upstream", a.URL)
	s.waitRoutes(t)

	// A sampled client trace is continued to the app.
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("GET", s.URL+"/echo", nil)
	req.Header.Set("traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var echo struct{ Headers map[string]string }
	json.NewDecoder(resp.Body).Decode(&echo)
	resp.Body.Close()
	if tp := echo.Headers["traceparent"]; !strings.HasPrefix(tp, "00-"+clientTrace+"-") || strings.Contains(tp, "00f067aa0ba902b7") {
		t.Errorf("app got traceparent %q: want the client's trace with the sidecar's span as parent", tp)
	}
	if got := resp.Header.Get("X-Trace-Id"); got != clientTrace {
		t.Errorf("X-Trace-Id = %q, want %s", got, clientTrace)
	}

	ids := map[string]string{}
	for _, path := range []string{"/items/1", "/boom"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ids[path] = resp.Header.Get("X-Trace-Id")
		if len(ids[path]) != 32 {
			t.Fatalf("%s: no trace id header", path)
		}
	}
	code, _ := do(t, "POST", s.URL+"/items", strings.NewReader(`{"price":0}`), map[string]string{"Content-Type": "application/json"})
	if code != 422 {
		t.Fatalf("422 expected, got %d", code)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		got := recv.serverSpans()
		_, boom := got[ids["/boom"]]
		_, echoed := got[clientTrace]
		if boom && echoed && len(got) >= 3 {
			if _, ok := got[ids["/items/1"]]; ok {
				t.Error("a 200 at ratio 0 was exported")
			}
			sp := got[ids["/boom"]]
			if sp.Name() != "GET /boom" {
				t.Errorf("span name %q", sp.Name())
			}
			if v, ok := sp.Attributes().Get("http.response.status_code"); !ok || v.Int() != 500 {
				t.Errorf("status attribute %v", v.AsRaw())
			}
			if _, ok := sp.Attributes().Get("faultline.capture.id"); !ok {
				t.Logf("attributes: %v", sp.Attributes().AsRaw())
				t.Error("the 500's span does not carry its capture id")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spans received for %d traces; want the 500, the 422 and the sampled client trace", len(got))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The kept error's trace id is an exemplar in the OpenMetrics exposition.
	mreq, _ := http.NewRequest("GET", s.MetricsURL+"/metrics", nil)
	mreq.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	mresp, err := http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(b), `# {trace_id="`+ids["/boom"]+`"}`) {
		t.Error("no trace_id exemplar for the 500 in the OpenMetrics exposition")
	}
}
