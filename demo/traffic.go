package demo

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Traffic sends a mix of requests to base (the sidecar) every interval
// until ctx ends: mostly successes, and each kind of failure the sidecar
// explains (401 with and without credentials, 422 on different fields,
// 500, a slow call, a stream). Secrets in the requests are fake but shaped
// like real ones, so the capture page shows them redacted.
func Traffic(ctx context.Context, base string, interval time.Duration) {
	client := &http.Client{Timeout: 10 * time.Second}
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		req := pick(ctx, base, i)
		if req == nil {
			continue
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

func pick(ctx context.Context, base string, i int) *http.Request {
	var (
		method = http.MethodGet
		path   string
		body   string
		header = http.Header{}
	)
	switch n := rand.IntN(20); {
	case n < 9:
		path = "/items/" + strconv.Itoa(rand.IntN(1200))
	case n < 11:
		method, path, body = http.MethodPost, "/items", `{"name":"widget","price":12.5}`
	case n < 13:
		method, path = http.MethodPost, "/items"
		body = `{"name":"widget","password":"hunter2-demo","price":-1}`
		header.Set("Cookie", "session=s3cr3t-session-demo; theme=dark")
		header.Set("X-Api-Key", "demo-api-key-1234567890")
	case n < 14:
		method, path, body = http.MethodPost, "/items", `{"price":"cheap"}`
	case n < 15:
		path = "/secure"
	case n < 16:
		path = "/secure"
		header.Set("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.expired-demo-signature")
	case n < 17:
		path = "/secure"
		header.Set("Authorization", "Bearer "+Token)
	case n < 18:
		path = "/boom"
	case n < 19:
		path = "/slow?seconds=0.8"
	default:
		if i%3 != 0 {
			return nil
		}
		path = "/events"
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
		header.Set("Content-Type", "application/json")
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "faultline-demo-traffic")
	return req
}
