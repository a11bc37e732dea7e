package health

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestProberFollowsUpstream(t *testing.T) {
	// The upstream answers 404 on the probe path: that still counts as up.
	up := httptest.NewServer(http.NotFoundHandler())
	defer up.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := "http://" + ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name string
		url  string
		want bool
	}{{"answers", up.URL + "/", true}, {"refused", down + "/", false}} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var results []bool
			p := &Prober{URL: tc.url, Interval: 10 * time.Millisecond, OnChange: func(b bool) {
				mu.Lock()
				results = append(results, b)
				mu.Unlock()
			}}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { p.Run(ctx); close(done) }()
			for {
				mu.Lock()
				n := len(results)
				mu.Unlock()
				if n >= 2 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			<-done
			ok, why := p.Ready()
			if ok != tc.want || (!ok && why == "") {
				t.Errorf("Ready() = %v, %q; want %v", ok, why, tc.want)
			}
			if results[0] != tc.want {
				t.Errorf("OnChange got %v", results)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	ready, why := false, "upstream down"
	h := Handler(func() (bool, string) { return ready, why })
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	if code, body := get("/readyz"); code != 503 || body != "not ready: upstream down\n" {
		t.Errorf("/readyz not ready: %d %q", code, body)
	}
	ready = true
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz ready: %d", code)
	}
}
