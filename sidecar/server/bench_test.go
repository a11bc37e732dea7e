package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/faultline-dev/faultline/sidecar/config"
)

// BenchmarkLoopback is the whole sidecar as production runs it (metrics,
// route templates, capture armed, access log off) between a loopback
// client and a loopback upstream: the figure the load script measures, in
// a form pprof can profile (-cpuprofile, -memprofile).
func BenchmarkLoopback(b *testing.B) {
	body := []byte(`{"item_id":42,"name":"item 42","price":9.5,"tags":["a","b"],"owner":"bench"}`)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/openapi.json" {
			io.WriteString(w, `{"openapi":"3.0.2","info":{"title":"b","version":"1"},"paths":{"/items/{item_id}":{"get":{"responses":{"200":{"description":"ok"}}}}}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer up.Close()
	cfg, err := config.Load([]string{"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--upstream", up.URL, "--access-log", "off", "--data-dir", b.TempDir()}, func(string) string { return "" }, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := Start(cfg, Deps{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- sc.Run(ctx) }()
	defer func() { cancel(); <-done }()
	url := "http://" + sc.Addr() + "/items/42"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// parallelism is goroutines per GOMAXPROCS in BenchmarkLoopback.
var parallelism = 1
