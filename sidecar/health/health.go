// Package health answers the sidecar's liveness and readiness probes.
//
// Liveness (/healthz) says the sidecar process serves HTTP. Readiness
// (/readyz) says the upstream app answers: a Prober asks it at an interval,
// so a kubelet probe costs one atomic load, never an upstream round trip.
package health

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// Prober checks that the upstream answers HTTP. Any response, whatever its
// status, counts as "answers": a 404 on the probe path still proves that
// gunicorn and its workers are up. It is safe for concurrent use.
type Prober struct {
	// URL is requested with GET.
	URL string
	// Interval between probes (default 2s); Timeout of each (default 1s).
	Interval, Timeout time.Duration
	// Client does the requests; nil means a client with no proxy and no
	// keep-alive, so a probe opens a fresh connection like a new client would.
	Client *http.Client
	// OnChange, if set, is called with each probe's result (for metrics).
	OnChange func(up bool)
	// Logger logs transitions; nil discards.
	Logger *slog.Logger

	up      atomic.Bool
	lastErr atomic.Value // string
}

// Ready reports the last probe's result and, when down, why.
func (p *Prober) Ready() (bool, string) {
	if p.up.Load() {
		return true, ""
	}
	msg, _ := p.lastErr.Load().(string)
	if msg == "" {
		msg = "upstream not probed yet"
	}
	return false, msg
}

// Run probes until ctx ends. The first probe is immediate.
func (p *Prober) Run(ctx context.Context) {
	interval, timeout := p.Interval, p.Timeout
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if timeout <= 0 {
		timeout = time.Second
	}
	client := p.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	first := true
	for {
		up, msg := p.probe(ctx, client, timeout)
		was := p.up.Swap(up)
		p.lastErr.Store(msg)
		if p.OnChange != nil {
			p.OnChange(up)
		}
		if first || was != up {
			if up {
				log.Info("upstream answers", "url", p.URL)
			} else {
				log.Warn("upstream does not answer", "url", p.URL, "err", msg)
			}
		}
		first = false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Prober) probe(ctx context.Context, c *http.Client, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "faultline-readiness")
	resp, err := c.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return true, ""
}

// Handler serves /healthz and /readyz. ready reports readiness; it is
// usually Prober.Ready.
func Handler(ready func() (bool, string)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ok, why := ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "not ready: "+why+"\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}
