#!/usr/bin/env bash
# Installs the load tools and HAProxy when missing (Debian packages) and the project's
# dependencies when this is a fresh clone, then runs the proxy benchmark on loopback
# (127.0.13.60-63). Not a test: it prints figures (Markdown tables), it does not pass or fail
# on them. Every wrk and curl run has a time limit; the whole run takes about 4-5 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v wrk >/dev/null || ! command -v haproxy >/dev/null || ! command -v curl >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk haproxy curl >/dev/null
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
export PATH="$PWD/node_modules/.bin:$PATH"
echo "load average before the run: $(cat /proc/loadavg)" >&2
exec node bench/proxy/bench.ts "$@"
