#!/usr/bin/env bash
# A rolling upgrade rehearsed on one machine, with real processes of two builds.
#
#   [SEEDS=first] scripts/mixed-versions.sh OLD_COMMIT [IP_PREFIX]
#
# OLD_COMMIT is checked out with `git archive` into /tmp/sidecar-old-<commit> (npm ci there,
# once; never in this work tree). Three hosts on IP_PREFIX.11-.13 (default 127.0.55):
#   1. mixed:    host-a and host-b run the old build, host-c this checkout's build
#   2. upgraded: host-b stops and this checkout's build starts on host-b's data_dir
# Every host has the other two as seeds; with SEEDS=first, host-b and host-c have host-a alone.
# After each step (20 s) it prints, per host, the hostnames in /services.json, /health, and
# the log lines about peers, versions, pins and anti-entropy. Everything it starts is stopped
# on exit; it runs about a minute. Needs curl, jq and Node 22.20+ on PATH.
set -euo pipefail

OLD=${1:?usage: [SEEDS=first] scripts/mixed-versions.sh OLD_COMMIT [IP_PREFIX]}
NET=${2:-127.0.55}
NEW_DIR=$(cd "$(dirname "$0")/.." && pwd)
SHORT=$(git -C "$NEW_DIR" rev-parse --short "$OLD")
OLD_DIR=/tmp/sidecar-old-$SHORT
WORK=$(mktemp -d /tmp/sidecar-mixed.XXXXXX)
SETTLE_S=20
SEEDS=${SEEDS:-all}
declare -A PIDS=()

cleanup () {
  for h in "${!PIDS[@]}"; do kill "${PIDS[$h]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "logs and data_dirs kept in $WORK"
}
trap cleanup EXIT

if [ ! -f "$OLD_DIR/package.json" ]; then
  mkdir -p "$OLD_DIR"
  git -C "$NEW_DIR" archive "$OLD" | tar -x -C "$OLD_DIR"
  (cd "$OLD_DIR" && npm ci --no-audit --no-fund >/dev/null)
fi

ip_of () { case $1 in host-a) echo "$NET.11" ;; host-b) echo "$NET.12" ;; host-c) echo "$NET.13" ;; esac; }

# start HOST BUILD_DIR LOG: static discovery, two services on the host's own address, seeds = the other two
start () {
  local host=$1 dir=$2 log=$3 ip; ip=$(ip_of "$1")
  mkdir -p "$WORK/$host"
  cat >"$WORK/$host/static.json" <<EOF
[
  { "Service": { "Name": "web-$host", "Image": "web", "Ports": [{ "Type": "tcp", "Port": 8080, "ServicePort": 0, "IP": "$ip" }] }, "Check": { "Type": "AlwaysSuccessful" } },
  { "Service": { "Name": "db-$host", "Image": "db", "Ports": [{ "Type": "tcp", "Port": 5432, "ServicePort": 0, "IP": "$ip" }] }, "Check": { "Type": "AlwaysSuccessful" } }
]
EOF
  local seeds=()
  if [ "$SEEDS" = first ] && [ "$host" != host-a ]; then seeds=(-c "$(ip_of host-a)")
  else for other in host-a host-b host-c; do [ "$other" = "$host" ] || seeds+=(-c "$(ip_of "$other")"); done; fi
  (cd "$WORK/$host" && HOME="$WORK/$host" SIDECAR_FROM_SOURCE=1 SIDECAR_DATA_DIR="$WORK/$host/data" STATIC_CONFIG_FILE="$WORK/$host/static.json" \
    exec node "$dir/bin/sidecar.js" -f '' --hostname "$host" --bind-ip "$ip" --advertise-ip "$ip" -d static "${seeds[@]}" >>"$WORK/$log" 2>&1) &
  PIDS[$host]=$!
}

report () {
  echo "=== $1"
  for host in host-a host-b host-c; do
    local ip; ip=$(ip_of "$host")
    echo "--- $host ($ip): /services.json: members, records by host and status"
    curl -sf --max-time 5 "http://$ip:7777/services.json" | jq -c '{members: (.ClusterMembers // {} | keys), records: ([.Services[][] | "\(.Hostname) \(["alive", "tombstone", "unhealthy", "unknown", "draining"][.Status])"] | group_by(.) | map({(.[0]): length}) | add)}' || echo "(no answer)"
    echo "--- $host: /health"
    curl -s --max-time 5 "http://$ip:7777/health" | jq -c . || echo "(no answer)"
  done
  for log in "$WORK"/*.log; do
    echo "--- $(basename "$log"): lines about peers, versions, pins, anti-entropy (repeats counted)"
    grep -Ei 'peer|version|pin|anti-entropy|member|refus|reject|key' "$log" | sed -E 's/^\[[^]]*\] //; s/[0-9]+(\.[0-9]+)? ms/N ms/g; s#/tcp/[0-9]+#/tcp/N#g' | sort | uniq -c | sort -rn | head -20
  done
}

# ids HOST: the IDs of the host's own records, as its API shows them
ids () { curl -sf --max-time 5 "http://$(ip_of "$1"):7777/services.json" | jq -r --arg h "$1" '[.Services[][] | select(.Hostname == $h) | .ID] | sort | join(" ")'; }

for h in host-a host-b; do start "$h" "$OLD_DIR" "$h-old.log"; done
start host-c "$NEW_DIR" host-c-new.log
sleep "$SETTLE_S"
report "step 1: host-a and host-b on $SHORT, host-c on this checkout"

echo "=== host-b before the upgrade: peer.key $(sha256sum "$WORK/host-b/data/peer.key" | cut -c1-16); data_dir: $(ls "$WORK/host-b/data" | tr '\n' ' '); its record IDs: $(ids host-b)"
kill "${PIDS[host-b]}"; wait "${PIDS[host-b]}" 2>/dev/null || true
start host-b "$NEW_DIR" host-b-new.log
sleep "$SETTLE_S"
report "step 2: host-b upgraded in place (same data_dir)"
echo "=== host-b after the upgrade: peer.key $(sha256sum "$WORK/host-b/data/peer.key" | cut -c1-16); data_dir: $(ls "$WORK/host-b/data" | tr '\n' ' '); its record IDs: $(ids host-b)"
