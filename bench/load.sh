#!/bin/sh
# Side-by-side load comparison of faultline, nginx, HAProxy, Caddy and
# httputil.ReverseProxy in front of one upstream; see bench/README.md.
# Every argument is passed to bench/load, e.g. bench/load.sh --json out.json
set -eu
cd "$(dirname "$0")/.."
exec go run ./bench/load "$@"
