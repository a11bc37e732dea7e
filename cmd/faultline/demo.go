package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/faultline-dev/faultline/demo"
	"github.com/faultline-dev/faultline/sidecar/config"
	"github.com/faultline-dev/faultline/sidecar/server"
)

// demoCommand starts the sample app, the sidecar in front of it and light
// traffic. It takes every flag of `run` (the upstream is the sample app)
// plus --app-listen and --traffic.
func demoCommand(ctx context.Context, args []string, stdio Stdio) error {
	appListen, traffic, rest, err := demoFlags(args)
	if err != nil {
		return err
	}
	dataDir := filepath.Join(os.TempDir(), "faultline-demo")
	appLn, err := net.Listen("tcp", appListen)
	if err != nil {
		return usagef("--app-listen: %v", err)
	}
	appURL := "http://" + appLn.Addr().String()
	base := []string{"--upstream", appURL, "--access-log", "text", "--data-dir", dataDir, "--routes-refresh", "10s"}
	cfg, err := config.Load(append(base, rest...), os.Getenv, stdio.Out)
	if err != nil {
		appLn.Close()
		return asUsage(err)
	}
	app := &http.Server{Handler: demo.App(), ReadHeaderTimeout: 10 * time.Second}
	go app.Serve(appLn)
	defer app.Close()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	return serve(ctx, cfg, stdio, func(sc *server.Sidecar) {
		proxyURL := "http://" + localAddr(sc.Addr())
		fmt.Fprintf(stdio.Out, `faultline demo: a sample FastAPI-like app on %s with the sidecar in front of it.

  send requests through the sidecar  %[2]s/items/42   %[2]s/secure   %[2]s/boom
  a validation error (422)           curl -X POST -H 'Content-Type: application/json' -d '{"price":-1}' %[2]s/items
  a stream (SSE)                     curl -N %[2]s/events
  metrics                            http://%[3]s/metrics
  readiness                          http://%[3]s/readyz
  captured failing requests          %[4]s
                                     faultline captures list --admin %[4]s

Ctrl-C stops everything.
`, appURL, proxyURL, localAddr(sc.MetricsAddr()), adminURL(sc.AdminAddr()))
		if traffic > 0 {
			go demo.Traffic(runCtx, proxyURL, traffic)
		}
	})
}

// demoFlags takes demo's own flags out of args and returns the rest.
func demoFlags(args []string) (appListen string, traffic time.Duration, rest []string, err error) {
	appListen, traffic = "127.0.0.1:8000", 500*time.Millisecond
	for i := 0; i < len(args); i++ {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if name != "app-listen" && name != "traffic" || !strings.HasPrefix(args[i], "-") {
			rest = append(rest, args[i])
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return "", 0, nil, usagef("--%s: needs a value", name)
			}
			i++
			val = args[i]
		}
		switch name {
		case "app-listen":
			appListen = val
		case "traffic":
			if val == "off" {
				traffic = 0
				continue
			}
			if traffic, err = time.ParseDuration(val); err != nil || traffic <= 0 {
				return "", 0, nil, usagef("--traffic: %q is not an interval (like 500ms) or off", val)
			}
		}
	}
	return appListen, traffic, rest, nil
}

// localAddr makes a wildcard listen address clickable.
func localAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func adminURL(addr string) string {
	if addr == "" {
		return "(capture is off)"
	}
	return "http://" + localAddr(addr)
}
