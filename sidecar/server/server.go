// Package server assembles the sidecar from a Config: the proxy and its
// observers, the metrics and health endpoints, the route learner, the
// readiness prober and the admin API, and runs them until a graceful drain.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/propagation"

	"github.com/faultline-dev/faultline/sidecar/accesslog"
	"github.com/faultline-dev/faultline/sidecar/capture"
	"github.com/faultline-dev/faultline/sidecar/capture/admin"
	"github.com/faultline-dev/faultline/sidecar/capture/page"
	"github.com/faultline-dev/faultline/sidecar/capture/recorder"
	"github.com/faultline-dev/faultline/sidecar/capture/store"
	"github.com/faultline-dev/faultline/sidecar/config"
	"github.com/faultline-dev/faultline/sidecar/exchange"
	"github.com/faultline-dev/faultline/sidecar/h1"
	"github.com/faultline-dev/faultline/sidecar/health"
	"github.com/faultline-dev/faultline/sidecar/metrics"
	"github.com/faultline-dev/faultline/sidecar/proxy"
	"github.com/faultline-dev/faultline/sidecar/redact"
	"github.com/faultline-dev/faultline/sidecar/route"
	"github.com/faultline-dev/faultline/sidecar/tlsconf"
	"github.com/faultline-dev/faultline/sidecar/tracing"
)

// Deps are what the caller owns: output streams, the logger, the registry.
// Nil fields get defaults (discarding writers, a fresh registry).
type Deps struct {
	// AccessLog receives the access log lines (stdout in production).
	AccessLog io.Writer
	// Logger receives the sidecar's own messages (stderr in production).
	Logger *slog.Logger
	// Registry holds the metrics; a fresh one per Sidecar in tests.
	Registry *prometheus.Registry
	// Tracing, when not nil, turns tracing on: one server span per
	// request, context passed to the app (otelsetup.FromEnv's exporter,
	// or tracing.Provider of an OpenTelemetry provider). Nil means
	// tracing is off and costs nothing.
	Tracing tracing.Exporter
	// Propagator reads and writes trace context headers; nil means W3C
	// trace context and baggage.
	Propagator propagation.TextMapPropagator
	// SlowThreshold marks requests whose spans are always exported (with
	// tracing on); zero means tracing.DefaultSlowThreshold.
	SlowThreshold time.Duration
}

// httpServer is what Run needs of a server: http.Server's methods.
type httpServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// Sidecar is a started sidecar: its listeners are bound, so their addresses
// are known, and Run serves them.
type Sidecar struct {
	cfg       *config.Config
	log       *slog.Logger
	reg       *prometheus.Registry
	matcher   *route.Matcher
	learner   *route.Learner
	prober    *health.Prober
	metrics   *metrics.Metrics
	proxy     *proxy.Handler
	store     *store.Store
	recorder  *recorder.Recorder
	accessLog *accesslog.Logger
	draining  atomic.Bool

	// tls and tlsMetrics are nil when Listen serves plain HTTP.
	tls        *tlsconf.Server
	tlsMetrics *tlsconf.Metrics

	// main is the proxy's server: h1.Server for plain HTTP, net/http's
	// for TLS (HTTP/2 by ALPN).
	main              httpServer
	metricsSrv, admin *http.Server
	mainLn, metricsLn net.Listener
	adminLn           net.Listener
	// redirect serves --redirect-http; nil when it is not set.
	redirect   *http.Server
	redirectLn net.Listener
}

// Start builds the sidecar and binds its listeners. Errors name the setting
// at fault (an address in use names its flag).
func Start(cfg *config.Config, deps Deps) (*Sidecar, error) {
	s := &Sidecar{cfg: cfg, log: deps.Logger, reg: deps.Registry}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	if deps.AccessLog == nil {
		deps.AccessLog = io.Discard
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	upstreamOpts, err := upstreamTransport(cfg)
	if err != nil {
		return nil, err
	}
	probeClient, learnClient := upstreamClients(upstreamOpts)

	s.matcher = route.NewMatcher(route.Options{MaxRoutes: cfg.MaxRoutes})
	if cfg.Routes != "" {
		templates, err := route.LoadFile(cfg.Routes)
		if err != nil {
			return nil, &config.Error{Setting: "--routes", Msg: err.Error()}
		}
		table, err := route.Compile(templates)
		if err != nil {
			return nil, &config.Error{Setting: "--routes", Msg: err.Error()}
		}
		s.matcher.SetTemplates(table)
	} else {
		s.learner = &route.Learner{
			Upstream: cfg.Upstream.String(),
			Interval: cfg.RoutesRefresh,
			Matcher:  s.matcher,
			Logger:   s.log,
			Client:   learnClient,
		}
	}

	m, err := metrics.New(s.reg, metrics.Options{RouteOverflows: s.matcher.Overflows})
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	s.metrics = m
	s.prober = &health.Prober{
		URL:      cfg.Upstream.JoinPath(cfg.ReadyPath).String(),
		OnChange: m.SetUpstreamUp,
		Logger:   s.log,
		Client:   probeClient,
	}
	if err := s.startTLS(); err != nil {
		return nil, err
	}

	// Observer order matters: capture ends first so tracing can record the
	// capture id; tracing ends before metrics, since it decides whether an
	// error's span is kept (x.Sampled), which gives the exemplar.
	var observers exchange.Observers
	capturing := cfg.Capture.String() != ""
	var co *capture.Observer
	if capturing {
		var err error
		if co, err = s.startCapture(cfg); err != nil {
			return nil, err
		}
		observers = append(observers, co)
	}
	var tracer *tracing.Observer
	if deps.Tracing != nil {
		prop := deps.Propagator
		if prop == nil {
			prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
		}
		tracer = tracing.New(deps.Tracing, prop, tracing.Options{Keep: cfg.Capture.Has, SlowThreshold: deps.SlowThreshold, Upstream: cfg.Upstream})
		observers = append(observers, tracer)
		if co != nil {
			co.OnCapture = tracing.RecordCaptureID
		}
	}
	observers = append(observers, m)
	if cfg.AccessLog != accesslog.Off {
		s.accessLog = accesslog.New(deps.AccessLog, cfg.AccessLog)
		observers = append(observers, s.accessLog)
	}
	taps := exchange.Taps{
		Limit:   int(cfg.CaptureMaxBody),
		Request: capturing && cfg.CaptureBodies && cfg.CaptureMaxBody > 0,
		Response: func(status int) bool {
			return status == http.StatusUnprocessableEntity || (capturing && cfg.CaptureBodies && cfg.Capture.Has(status))
		},
	}
	if taps.Limit < 16<<10 {
		// 422 bodies are read for the validation metrics even when
		// captured bodies are smaller or off.
		taps.Limit = 16 << 10
	}
	popts := proxy.Options{
		Upstream:     cfg.Upstream,
		Transport:    proxy.NewUpstreamTransport(cfg.Upstream, upstreamOpts),
		Observer:     observers,
		Route:        s.matcher.Match,
		Taps:         taps,
		AuthCookies:  cfg.AuthCookies,
		WriteTimeout: cfg.UpstreamTimeout,
		Logger:       s.log,
	}
	if tracer != nil {
		popts.Decorate = tracer.Decorate
		popts.TraceUpstream = true
		popts.TraceIDHeader = tracing.TraceIDHeader
	}
	s.proxy = proxy.New(popts)

	if err := s.listen(); err != nil {
		s.closeCapture(context.Background())
		return nil, err
	}
	return s, nil
}

// startCapture opens the store, starts the background writer and builds
// the admin API. An unusable store at start-up is bad input (exit 2);
// later failures only drop captures.
func (s *Sidecar) startCapture(cfg *config.Config) (*capture.Observer, error) {
	red, err := redact.New(redact.Config{Headers: cfg.RedactHeaders, Fields: cfg.RedactFields, Query: cfg.RedactQuery, AuthCookies: cfg.AuthCookies})
	if err != nil {
		return nil, &config.Error{Setting: "--redact-*", Msg: err.Error()}
	}
	st, err := store.Open(cfg.CaptureStorePath(), store.Options{MaxBytes: cfg.CaptureMaxBytes, MaxCount: cfg.CaptureMaxCount, Logger: s.log})
	if err != nil {
		setting := "--data-dir"
		if cfg.CaptureStore != "" {
			setting = "--capture-store"
		}
		return nil, &config.Error{Setting: setting, Msg: err.Error()}
	}
	cm, err := recorder.NewMetrics(s.reg)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("register capture metrics: %w", err)
	}
	rec, err := recorder.New(st, red, recorder.Options{Rate: cfg.CaptureRate, Metrics: cm, Logger: s.log})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("capture recorder: %w", err)
	}
	s.store, s.recorder = st, rec
	s.admin = &http.Server{
		Handler: admin.New(st, admin.Options{
			Token:  cfg.AdminToken,
			Logger: s.log,
			Page:   page.Handler(st, page.Options{Logger: s.log, TraceURL: cfg.TraceURL}),
			Public: page.Public,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return &capture.Observer{Capture: cfg.Capture.Has, Bodies: cfg.CaptureBodies, MaxBody: int(cfg.CaptureMaxBody), Offer: rec.Offer}, nil
}

// closeCapture drains the capture queue into the store and closes it.
func (s *Sidecar) closeCapture(ctx context.Context) {
	if s.recorder != nil {
		if err := s.recorder.Close(ctx); err != nil {
			s.log.Warn("capture queue not fully written", "err", err)
		}
	}
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			s.log.Warn("close capture store", "err", err)
		}
	}
}

// listen binds the three listeners and builds their servers.
func (s *Sidecar) listen() error {
	var err error
	if s.mainLn, err = net.Listen("tcp", s.cfg.Listen); err != nil {
		return &config.Error{Setting: "--listen", Msg: err.Error()}
	}
	if s.metricsLn, err = net.Listen("tcp", s.cfg.MetricsListen); err != nil {
		s.mainLn.Close()
		return &config.Error{Setting: "--metrics-listen", Msg: err.Error()}
	}
	if s.admin != nil {
		if s.adminLn, err = net.Listen("tcp", s.cfg.AdminListen); err != nil {
			s.mainLn.Close()
			s.metricsLn.Close()
			return &config.Error{Setting: "--admin-listen", Msg: err.Error()}
		}
	}
	if err := s.listenRedirect(); err != nil {
		s.mainLn.Close()
		s.metricsLn.Close()
		if s.adminLn != nil {
			s.adminLn.Close()
		}
		return err
	}
	s.mainLn = s.serveTLS(s.mainLn)
	errorLog := s.errorLog()
	// The same limits on both servers; h1's fields mean what net/http's do.
	main := h1.Server{
		Handler:           s.proxy,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          errorLog,
	}
	if s.tls != nil {
		s.main = &http.Server{Handler: main.Handler, ReadHeaderTimeout: main.ReadHeaderTimeout,
			IdleTimeout: main.IdleTimeout, MaxHeaderBytes: main.MaxHeaderBytes, ErrorLog: main.ErrorLog}
	} else {
		s.main = &main
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorLog: errorLog}))
	hh := health.Handler(s.ready)
	mux.Handle("GET /healthz", hh)
	mux.Handle("GET /readyz", hh)
	s.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errorLog}
	return nil
}

// errorLog is the log.Logger that http.Servers write their errors to.
func (s *Sidecar) errorLog() *log.Logger { return slog.NewLogLogger(s.log.Handler(), slog.LevelWarn) }

// ready is /readyz: the upstream answers and the sidecar is not draining.
func (s *Sidecar) ready() (bool, string) {
	if s.draining.Load() {
		return false, "draining"
	}
	return s.prober.Ready()
}

// Addr is the proxy's bound address.
func (s *Sidecar) Addr() string { return s.mainLn.Addr().String() }

// MetricsAddr is the metrics listener's bound address.
func (s *Sidecar) MetricsAddr() string { return s.metricsLn.Addr().String() }

// AdminAddr is the admin listener's bound address, or "" when none.
func (s *Sidecar) AdminAddr() string {
	if s.adminLn == nil {
		return ""
	}
	return s.adminLn.Addr().String()
}

// Run serves until ctx ends, then drains: /readyz turns to 503, new
// requests are still accepted for DrainDelay (so endpoints can update), then
// the listener closes and in-flight requests get up to DrainTimeout. Run
// returns nil after a clean drain.
func (s *Sidecar) Run(ctx context.Context) error {
	bg, stopBg := context.WithCancel(context.Background())
	defer stopBg()
	var wg sync.WaitGroup
	wg.Go(func() { s.prober.Run(bg) })
	if s.learner != nil {
		wg.Go(func() { s.learner.Run(bg) })
	}
	if s.tls != nil {
		wg.Go(func() { s.tls.Run(bg) })
	}
	errc := make(chan error, 4)
	serve := func(srv httpServer, ln net.Listener, name string) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("%s: %w", name, err)
		}
	}
	go serve(s.main, s.mainLn, "--listen")
	go serve(s.metricsSrv, s.metricsLn, "--metrics-listen")
	if s.admin != nil {
		go serve(s.admin, s.adminLn, "--admin-listen")
	}
	if s.redirect != nil {
		go serve(s.redirect, s.redirectLn, "--redirect-http")
	}
	scheme := "http"
	if s.tls != nil {
		scheme = "https"
	}
	s.log.Info("faultline serving", "listen", s.Addr(), "scheme", scheme, "upstream", s.cfg.Upstream.String(), "metrics", s.MetricsAddr(), "admin", s.AdminAddr(), "redirect", s.RedirectAddr())

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	err := s.drain()
	stopBg()
	wg.Wait()
	if runErr != nil {
		return runErr
	}
	return err
}

func (s *Sidecar) drain() error {
	s.draining.Store(true)
	if d := s.cfg.DrainDelay; d > 0 {
		s.log.Info("draining: still accepting requests", "delay", d)
		time.Sleep(d)
	}
	s.log.Info("draining: finishing in-flight requests", "timeout", s.cfg.DrainTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	if s.redirect != nil {
		// A redirect only ever sends clients to the listener now closing.
		s.redirect.Close()
	}
	err := s.main.Shutdown(ctx)
	if err != nil {
		s.log.Warn("drain timed out; closing remaining connections", "err", err)
		s.main.Close()
	}
	// The capture queue gets its own deadline: a drain that used all its
	// time must still write what was captured.
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	s.closeCapture(cctx)
	if s.accessLog != nil {
		// The last lines of the drain must not be lost in the backlog.
		if ferr := s.accessLog.Flush(cctx); ferr != nil {
			s.log.Warn("access log not fully written", "err", ferr)
		}
	}
	ccancel()
	if s.admin != nil {
		s.admin.Close()
	}
	s.metricsSrv.Close()
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	s.log.Info("drained")
	return nil
}
