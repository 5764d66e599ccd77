#!/usr/bin/env bash
# Installs the load tool and HAProxy when missing (Debian packages), then runs the proxy
# benchmark on loopback. Not a test: it prints figures, it does not pass or fail on them.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v wrk >/dev/null || ! command -v haproxy >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk haproxy >/dev/null
fi
export PATH="$PWD/node_modules/.bin:$PATH"
exec node bench/proxy/bench.ts "$@"
