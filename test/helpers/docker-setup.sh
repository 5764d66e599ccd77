#!/usr/bin/env bash
# The Docker daemon the Docker tests run against: a private dockerd of its own (own socket,
# data root, exec root and bridge), so it never touches a Docker the machine already runs
# and other users of that Docker never see the test containers.
#
#   bash test/helpers/docker-setup.sh start   # install if needed (root + apt-get), start, wait for the socket
#   bash test/helpers/docker-setup.sh stop    # stop it (the test containers go with it)
#   bash test/helpers/docker-setup.sh status  # exit 0 when it answers
#
# The flags that work on the project's machines (Debian 12, docker.io 20.10, kernel without
# overlay support for nesting, a host firewall that is not ours to change):
#   --storage-driver=vfs        no overlayfs needed; the test image is 2 MB, so copies are cheap
#   --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false
#                               leave the host's firewall and sysctls alone; published ports are
#                               served by docker-proxy (userland proxy) instead of NAT rules
#   --bridge=sctest0            our own bridge (172.30.250.1/24): containers get addresses there,
#                               docker-proxy forwards 127.0.2.x:PORT to them; no route outside
# The tests find the socket at $SIDECAR_TEST_DOCKER_SOCKET (default below); test/helpers/docker.ts
# imports the test images itself (a static busybox rootfs, no registry).
set -euo pipefail

DIR=${SIDECAR_TEST_DOCKER_DIR:-/run/sidecar-test-docker}
SOCK=${SIDECAR_TEST_DOCKER_SOCKET:-$DIR/docker.sock}
DATA=${SIDECAR_TEST_DOCKER_DATA:-/var/lib/sidecar-test-docker}
BRIDGE=sctest0
BRIDGE_CIDR=172.30.250.1/24
LOG=${SIDECAR_TEST_DOCKER_LOG:-/tmp/sidecar-test-dockerd.log}

say() { printf 'docker-setup: %s\n' "$*"; }

answers() {
  [ -S "$SOCK" ] && [ -x /usr/bin/docker ] && timeout 10 /usr/bin/docker -H "unix://$SOCK" version >/dev/null 2>&1
}

install() {
  local need=()
  command -v dockerd >/dev/null 2>&1 && [ -x /usr/bin/docker ] || need+=(docker.io)
  [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || need+=(busybox-static) # the image needs a static busybox
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  [ ${#need[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing ${need[*]} and cannot install them here (needs root and apt-get)"
    return 1
  fi
  say "installing ${need[*]}"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
}

bridge() {
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  # read whole before matching: `ip ... | grep -q` under pipefail failed when grep quit first
  # (ip died of SIGPIPE), and the address was then added twice ("Address already assigned")
  local addrs; addrs=$(ip -4 addr show dev "$BRIDGE")
  [[ $addrs == *"${BRIDGE_CIDR%/*}/"* ]] || ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
  ip link set "$BRIDGE" up
}

start() {
  if answers; then say "dockerd already answers at $SOCK"; return 0; fi
  [ "$(id -u)" = 0 ] || { say "starting dockerd needs root"; return 1; }
  install
  bridge
  mkdir -p "$DIR" "$DATA"
  # Stale state of a dockerd that was killed: a dead pid file and socket block the start.
  if [ -f "$DIR/dockerd.pid" ] && ! kill -0 "$(cat "$DIR/dockerd.pid")" 2>/dev/null; then rm -f "$DIR/dockerd.pid" "$SOCK"; fi
  say "starting dockerd at $SOCK (log: $LOG)"
  setsid dockerd --host "unix://$SOCK" --data-root "$DATA" --exec-root "$DIR/exec" --pidfile "$DIR/dockerd.pid" \
    --bridge "$BRIDGE" --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
    --storage-driver=vfs --log-level=warn </dev/null >>"$LOG" 2>&1 &
  for _ in $(seq 1 120); do
    if answers; then say "dockerd $(/usr/bin/docker -H "unix://$SOCK" version --format '{{.Server.Version}}') is up"; return 0; fi
    sleep 0.5
  done
  say "dockerd did not answer within 60 s; last log lines:"
  tail -20 "$LOG" || true
  return 1
}

stop() {
  [ -f "$DIR/dockerd.pid" ] || { say "not running"; return 0; }
  local pid; pid=$(cat "$DIR/dockerd.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || { say "stopped"; return 0; }; sleep 0.5; done
  say "dockerd $pid did not stop within 30 s"
  return 1
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) answers ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
