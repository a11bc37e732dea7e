package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuilder lets the test read what a running command printed.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDemo runs `faultline demo` in-process: its traffic must produce the
// 401, 422 and 500 series it exists to show, and Ctrl-C (ctx) stops it
// cleanly.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for a few seconds")
	}
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut := &lockedBuilder{}, &lockedBuilder{}
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"demo", "--app-listen", "127.0.0.1:0", "--listen", "127.0.0.1:0",
			"--metrics-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
			"--traffic", "5ms", "--access-log", "off"},
			Stdio{In: strings.NewReader(""), Out: out, Err: errOut})
	}()
	metricsRe := regexp.MustCompile(`metrics\s+(http://\S+/metrics)`)
	var metricsURL string
	want := []string{
		`faultline_auth_failures_total{credentials="absent",route="/secure"}`,
		`faultline_auth_failures_total{credentials="present",route="/secure"}`,
		`faultline_validation_errors_total{location="body.price",route="/items",type="value_error.number.not_gt"}`,
		`faultline_server_errors_total{route="/boom",source="app"}`,
		`faultline_http_requests_total{code="200",method="GET",route="/items/{item_id}"}`,
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if metricsURL == "" {
			if m := metricsRe.FindStringSubmatch(out.String()); m != nil {
				metricsURL = m[1]
			}
		}
		missing := want
		if metricsURL != "" {
			if resp, err := http.Get(metricsURL); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				missing = nil
				for _, w := range want {
					if !strings.Contains(string(b), w) {
						missing = append(missing, w)
					}
				}
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("demo traffic never produced %v\nstdout:\n%s\nstderr:\n%s", missing, out.String(), errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("demo exited %d:\n%s", code, errOut.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("demo did not stop")
	}
}
