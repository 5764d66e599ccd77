#!/usr/bin/env bash
# docker/sidecar.service run under a real systemd: a Debian rootfs (debootstrap) booted with
# `systemd-nspawn -b` in a network namespace of its own, the package installed as the unit's
# header says (`npm install -g` of this checkout's `npm pack`, the `sidecar` user, the unit in
# /etc/systemd/system, `systemctl enable --now sidecar`), then checked as a user would check it:
#
#   sudo scripts/systemd-check.sh          # about 5.5 minutes the first time, 2 to 3 with the rootfs cached
#
# - the service is active, /health answers ok, a static service is ALIVE and its proxy port
#   forwards, External checks run (and what one daemonizes is found and killed) under the sandbox
# - the node key is kept in the StateDirectory: `systemctl restart` and a crash keep the peer id
# - a second daemon (outside the sandbox) joins it by gossip; QUIC's native module loads and listens
# - `systemctl reload` (SIGHUP) re-reads the static file; `systemctl stop` ends it with exit 0
#   within TimeoutStopSec; `kill -9` of the main pid is restarted; a bad config (exit 2) is not;
#   a start that always fails (the API port held) is given up after StartLimitBurst tries
# - the same run once more with the syscall filter set to kill (SIGSYS) instead of EPERM: a
#   call outside @system-service ends the daemon there, where EPERM could go unnoticed
# - with a Docker socket (SIDECAR_SYSTEMD_DOCKER_SOCKET, default the test dockerd's, when it is
#   there), docker discovery reads it through the `docker` group, as `usermod -aG docker` gives
#
# Prints PASS/FAIL per check and the time each phase took; exit 0 when all pass, 1 when one
# fails, 77 when systemd cannot be booted here (not root, no debootstrap or systemd-nspawn:
# `apt-get install debootstrap systemd-container`, no Debian mirror, nspawn refused), saying why.
# The rootfs is cached as ${TMPDIR:-/tmp}/sidecar-systemd-rootfs-<key>.tar, keyed by suite,
# mirror and package list (delete it to rebuild); each run unpacks a fresh copy and removes it.
# KEEP=1 leaves the box's directory (and its journal, /var/log/journal) for a look afterwards.
# Needs: root, Linux, debootstrap, systemd-nspawn, nsenter, Node >= 22.20 and npm on PATH,
# network to the Debian mirror (once) and to the npm registry (each run: npm install -g).
set -euo pipefail
cd "$(dirname "$0")/.."
SUITE=${SIDECAR_SYSTEMD_SUITE:-bookworm}
MIRROR=${SIDECAR_SYSTEMD_MIRROR:-http://deb.debian.org/debian}
PACKAGES=systemd,systemd-sysv,dbus,procps # procps: /bin/kill, the unit's ExecReload
DOCKER_SOCK=${SIDECAR_SYSTEMD_DOCKER_SOCKET-/run/sidecar-test-docker/docker.sock}
UNIT=$(readlink -f "${SIDECAR_SYSTEMD_UNIT:-docker/sidecar.service}") # another unit file to try instead
BOX_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
T0=$(date +%s)

say() { printf 'systemd-check: %s\n' "$*"; }
cannot() { say "cannot run here: $*"; exit 77; }
elapsed() { echo "$(($(date +%s) - T0)) s"; }
FAILS=0
pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; FAILS=$((FAILS + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

[ "$(uname -s)" = Linux ] || cannot "not Linux"
[ "$(id -u)" = 0 ] || cannot "needs root (debootstrap, systemd-nspawn)"
for tool in debootstrap systemd-nspawn nsenter; do
  command -v "$tool" >/dev/null 2>&1 || cannot "$tool is missing (Debian: apt-get install debootstrap systemd-container)"
done
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=20)?0:1)' 2>/dev/null \
  || cannot "needs Node >= 22.20 on PATH (put into the box as /usr/local/bin/node)"
NODE=$(node -p process.execPath)
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
[ -f "$NPM_DIR/bin/npm-cli.js" ] || cannot "npm not found (looked in $NPM_DIR)"
VERSION=$(node -p 'require("./package.json").version')

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sidecar-systemd.XXXXXX")
ROOT=$WORK/root
NSPAWN_PID=
cleanup() {
  if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
    kill "$NSPAWN_PID" 2>/dev/null || true # nspawn halts the box on SIGTERM
    for _ in $(seq 30); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$NSPAWN_PID" 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then say "box kept in $ROOT"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# --- the rootfs: debootstrap once, cached as a tarball --------------------------------------
KEY=$(printf '%s\n' "$SUITE" "$MIRROR" "$PACKAGES" minbase | sha256sum | cut -c1-12)
CACHE=${TMPDIR:-/tmp}/sidecar-systemd-rootfs-$KEY.tar
if [ ! -s "$CACHE" ]; then
  say "debootstrap $SUITE ($PACKAGES) from $MIRROR: a few minutes, once"
  mkdir -p "$WORK/boot"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$WORK/boot" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -5 "$WORK/debootstrap.log"; cannot "debootstrap failed (log above)"; }
  tar -C "$WORK/boot" -cf "$CACHE.part" . && mv "$CACHE.part" "$CACHE"
  rm -rf "$WORK/boot"
fi
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$CACHE"
say "rootfs ready ($(du -sh "$CACHE" | cut -f1) cached in $CACHE) at $(elapsed)"

# Node and npm as the image build puts them (docker/make-base-image.sh): the binary, any library
# it links that the rootfs lacks, npm's package folder; the CA bundle and registry npm uses here.
cp "$NODE" "$ROOT/usr/local/bin/node"
ldd "$NODE" | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' | while read -r lib; do
  [ -e "$ROOT$lib" ] || { mkdir -p "$ROOT$(dirname "$lib")"; cp -L "$lib" "$ROOT$lib"; }
done
mkdir -p "$ROOT/usr/local/lib/node_modules" "$ROOT/usr/local/etc"
cp -a "$NPM_DIR" "$ROOT/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
{
  echo "registry=$(npm config get registry)"
  echo "update-notifier=false"; echo "fund=false"; echo "audit=false"
  CA=$(npm config get cafile); [ "$CA" != null ] && [ -f "$CA" ] || CA=/etc/ssl/certs/ca-certificates.crt
  if [ -f "$CA" ]; then mkdir -p "$ROOT/etc/ssl/certs"; cp -L "$CA" "$ROOT/etc/ssl/certs/sidecar-check-ca.crt"; echo "cafile=/etc/ssl/certs/sidecar-check-ca.crt"; fi
} >"$ROOT/usr/local/etc/npmrc"
echo sidecar-box >"$ROOT/etc/hostname"

say "npm pack"
npm pack --loglevel=warn --pack-destination "$ROOT/root" >/dev/null
[ -f "$ROOT/root/sidecar-$VERSION.tgz" ] || cannot "npm pack made no sidecar-$VERSION.tgz"
cp "$UNIT" "$ROOT/root/sidecar.service"

# Step 1 of the unit's header, before the box boots into its own network namespace (npm needs
# the registry): npm install -g ./sidecar-<version>.tgz.
say "npm install -g ./sidecar-$VERSION.tgz (in the box, from the registry) at $(elapsed)"
systemd-nspawn -q -D "$ROOT" --register=no --keep-unit --pipe --chdir=/root \
  -E PATH="$BOX_PATH" -E HOME=/root \
  npm install -g --loglevel=warn "./sidecar-$VERSION.tgz" >"$WORK/npm-install.log" 2>&1 \
  || { tail -20 "$WORK/npm-install.log"; fail "npm install -g ./sidecar-$VERSION.tgz"; exit 1; }
pass "npm install -g ./sidecar-$VERSION.tgz puts $(readlink "$ROOT/usr/local/bin/sidecar" || echo '(nothing)') in /usr/local/bin"

# --- boot ----------------------------------------------------------------------------------
BIND=()
if [ -n "$DOCKER_SOCK" ] && [ -S "$DOCKER_SOCK" ]; then BIND=(--bind="$DOCKER_SOCK:/run/docker.sock"); fi
say "booting: systemd-nspawn -b --private-network at $(elapsed)"
setsid systemd-nspawn -D "$ROOT" --register=no --keep-unit --private-network "${BIND[@]}" -b --console=pipe \
  </dev/null >"$WORK/nspawn.log" 2>&1 &
NSPAWN_PID=$!
PID1=
for _ in $(seq 120); do
  kill -0 "$NSPAWN_PID" 2>/dev/null || { cat "$WORK/nspawn.log"; cannot "systemd-nspawn exited (its output above)"; }
  PID1=$(pgrep -P "$NSPAWN_PID" -x systemd || true)
  if [ -n "$PID1" ]; then
    state=$(nsenter -t "$PID1" -a env -i PATH="$BOX_PATH" systemctl is-system-running 2>/dev/null || true)
    case $state in running|degraded) break ;; esac
  fi
  sleep 0.5
done
case ${state:-} in running|degraded) ;; *) cat "$WORK/nspawn.log"; cannot "systemd in the box did not finish booting in 60 s (state: ${state:-none})" ;; esac
# A command in the box: every namespace of its PID 1, a clean environment.
box() { nsenter -t "$PID1" -a env -i PATH="$BOX_PATH" HOME=/root LANG=C.UTF-8 sh -c "$1"; }
pass "systemd $(box 'systemctl --version | sed -n "1s/^systemd \([0-9]*\).*/\1/p"') booted as PID 1 ($state) at $(elapsed)"

# The box's HTTP client (it has no curl): q.js get URL | status NAME | members | peer-services
cat >"$ROOT/root/q.js" <<'EOF'
const [cmd, arg] = process.argv.slice(2)
const api = process.env.API ?? 'http://127.0.0.1:7777'
const main = async () => {
  if (cmd === 'get') { const r = await fetch(arg); const body = await r.text(); if (!r.ok) throw new Error(`${r.status} ${body}`); return body.trim() }
  const doc = await (await fetch(`${api}/services.json`)).json()
  if (cmd === 'status') return (doc.Services[arg] ?? []).map(s => s.Status).join(',')
  if (cmd === 'members') return Object.keys(doc.ClusterMembers ?? {}).sort().join(',')
  if (cmd === 'health') return (await (await fetch(`${api}/health`)).json()).status
  throw new Error(`unknown ${cmd}`)
}
main().then(out => console.log(out), err => { console.log(`error: ${err.cause?.code ?? err.message}`); process.exitCode = 1 })
EOF
q() { box "API=${API:-http://127.0.0.1:7777} node /root/q.js $*" 2>/dev/null || true; }
# until SECONDS CMD...: true once CMD is, checked every half second
until_ok() { local n=$(($1 * 2)); shift; for _ in $(seq "$n"); do "$@" && return 0; sleep 0.5; done; return 1; }
is() { [ "$(q "${@:2}")" = "$1" ]; }
prop() { box "systemctl show -p $1 --value sidecar"; }
invocation_log() { box "journalctl --no-pager -o cat _SYSTEMD_INVOCATION_ID=\$(systemctl show -p InvocationID --value sidecar)"; }
peer_id() { box "journalctl --no-pager -o cat -u sidecar" | sed -n 's|.*gossip on .*/p2p/\([A-Za-z0-9]*\) .*|\1|p' | tail -1; }

# --- the unit's header, step by step ------------------------------------------------------
cat >"$ROOT/root/sidecar.toml" <<'EOF'
# The box's own config: static discovery (and docker, when a socket is bound in), loopback.
[sidecar]
bind_ip = "127.0.0.1"
advertise_ip = "127.0.0.1"
discovery = ["static"]

[static_discovery]
config_file = "static.json"
EOF
if [ ${#BIND[@]} -gt 0 ]; then sed -i 's/^discovery = .*/discovery = ["static", "docker"]/' "$ROOT/root/sidecar.toml"; fi
cat >"$ROOT/root/static.json" <<'EOF'
[
  { "Service": { "Name": "web", "Image": "web", "Ports": [{ "Type": "tcp", "Port": 8081, "ServicePort": 9081 }], "ProxyMode": "http" },
    "Check": { "Type": "HttpGet", "Args": "http://{{ host }}:8081/" } },
  { "Service": { "Name": "ext", "Image": "none" },
    "Check": { "Type": "External", "Args": "test -w /tmp && test -r /etc/sidecar/sidecar.toml && test -d /var/lib/sidecar" } },
  { "Service": { "Name": "daemonizes", "Image": "none" },
    "Check": { "Type": "External", "Args": "setsid -f sleep 300; true" } }
]
EOF
# The backend behind "web", a unit of its own (root, no sandbox)
box 'systemd-run -q --unit=backend node -e "require(\"http\").createServer((q, s) => s.end(\"hello from the backend\")).listen(8081, \"127.0.0.1\")"'

DOCKER_STEP=
if [ ${#BIND[@]} -gt 0 ]; then
  # The socket's group, under the name the header's `usermod -aG docker` expects
  box "groupadd -g $(stat -c %g "$DOCKER_SOCK") docker"
  DOCKER_STEP='usermod -aG docker sidecar &&'
fi
say "the unit's header steps at $(elapsed)"
if box "set -e; cd /root
  useradd --system --home-dir /var/lib/sidecar --shell /usr/sbin/nologin sidecar
  $DOCKER_STEP true
  install -D -m 0644 sidecar.toml /etc/sidecar/sidecar.toml
  install -m 0644 static.json /etc/sidecar/static.json
  install -m 0600 /dev/null /etc/sidecar/env
  cp sidecar.service /etc/systemd/system/ && systemctl enable --now sidecar"; then
  pass "useradd, install, cp sidecar.service, systemctl enable --now sidecar"
else
  fail "the unit's header steps"; exit 1
fi

# --- as a user would check it --------------------------------------------------------------
active() { [ "$(box 'systemctl is-active sidecar' || true)" = active ]; }
alive() { is 0 status "$1"; }
# active, and still the same process 3 s later: a unit that fails and is restarted is "active" in between
steady() { local pid; active || return 1; pid=$(prop MainPID); sleep 3; active && [ "$(prop MainPID)" = "$pid" ] && [ "$(prop NRestarts)" = 0 ]; }
check "systemctl is-active sidecar: active, the same main pid 3 s later, not restarted" until_ok 5 steady
check "/health: ok" until_ok 30 is ok health
if [ "$FAILS" -gt 0 ]; then
  say "the daemon does not stay up: nothing more to check; the journal of sidecar.service:"
  box 'journalctl --no-pager -o short-precise -u sidecar | head -60' || true
  exit 1
fi
check "static service web: ALIVE (HttpGet)" until_ok 30 alive web
check "proxy port 9081 forwards to web's backend" until_ok 10 is "hello from the backend" get http://127.0.0.1:9081/
check "External check spawns /bin/sh under the sandbox: ext ALIVE" until_ok 30 alive ext
strays() { invocation_log | grep 'killed 1 process left running by the health check' >/dev/null; }
check "what an External check daemonizes is found in /proc (ProtectProc=invisible) and killed" until_ok 15 strays
# The sandbox is in force, not just configured (seccomp in a container could be missing)
MAIN=$(prop MainPID)
sandboxed() {
  local st mi missing=(); st=$(box "cat /proc/$MAIN/status"); mi=$(box "cat /proc/$MAIN/mountinfo")
  grep -E '^Seccomp:\s+2$' <<<"$st" >/dev/null || missing+=(seccomp)
  grep -E '^NoNewPrivs:\s+1$' <<<"$st" >/dev/null || missing+=(NoNewPrivs)
  grep -E '^CapBnd:\s+0+$' <<<"$st" >/dev/null || missing+=(CapBnd)
  grep -E '^Uid:\s+[1-9]' <<<"$st" >/dev/null || missing+=(non-root)
  grep -E '^\S+ \S+ \S+ \S+ /proc .*hidepid=invisible' <<<"$mi" >/dev/null || missing+=(hidepid)
  grep -E '^\S+ \S+ \S+ \S+ / ro,' <<<"$mi" >/dev/null || missing+=(read-only-root)
  [ ${#missing[@]} -eq 0 ] || { echo "  not in force: ${missing[*]}"; grep -E ' / | /proc ' <<<"$mi" | sed 's/^/  /'; return 1; }
}
check "the sandbox is in force: seccomp filter, NoNewPrivs, no capabilities, not root, /proc hidepid=invisible, / read-only" sandboxed
KEYFILE=$(box 'ls /var/lib/sidecar/.sidecar/*/peer.key' || true)
key_mode() { [ "$(box "stat -c '%U %a' $KEYFILE")" = "sidecar 600" ]; }
check "the node key is in the StateDirectory: ${KEYFILE:-none}, sidecar's, mode 600 (UMask=0077)" key_mode
KEYSUM=$(box "sha256sum $KEYFILE" || true)
PEER=$(peer_id)
if [ ${#BIND[@]} -gt 0 ]; then
  docker_ok() { invocation_log | grep 'connected to Docker at unix:///var/run/docker.sock' >/dev/null; }
  check "docker discovery reads the socket (group docker, AF_UNIX, ProtectSystem=strict)" until_ok 20 docker_ok
else
  say "no Docker socket at ${DOCKER_SOCK:-(none set)}: docker discovery not checked"
fi

# A second daemon, outside the sandbox, joins by gossip: each lists the other's services
mkdir -p "$ROOT/etc/peer2"
cat >"$ROOT/etc/peer2/peer2.toml" <<'EOF2'
[sidecar]
hostname = "peer2"
bind_ip = "127.0.0.2"
advertise_ip = "127.0.0.2"
seeds = ["127.0.0.1"]
discovery = ["static"]
data_dir = "/var/lib/peer2"
[static_discovery]
config_file = "static.json"
EOF2
echo '[{ "Service": { "Name": "p2svc", "Image": "none" }, "Check": { "Type": "AlwaysSuccessful" } }]' >"$ROOT/etc/peer2/static.json"
box 'systemd-run -q --unit=peer2 sidecar --config-file /etc/peer2/peer2.toml'
check "gossip: the sandboxed daemon lists peer2's service ALIVE" until_ok 40 alive p2svc
peer2_sees() { API=http://127.0.0.2:7777 is 0 status web; }
check "gossip: peer2 lists the sandboxed daemon's service ALIVE" until_ok 40 peer2_sees
quic() { invocation_log | grep '/udp/7946/quic-v1/p2p/' >/dev/null; }
check "QUIC's native module loads and listens (gossip on .../udp/7946/quic-v1)" quic
say "checked the running service at $(elapsed)"

# restart: same key, same peer id
box 'systemctl restart sidecar'
check "systemctl restart: active again" until_ok 20 active
check "after restart: /health ok" until_ok 30 is ok health
same_peer() { [ -n "$PEER" ] && [ "$(peer_id)" = "$PEER" ] && [ "$(box "sha256sum $KEYFILE")" = "$KEYSUM" ]; }
check "after restart: same key file, same peer id ($PEER)" until_ok 10 same_peer

# reload: SIGHUP re-reads the static file
node_edit='const fs=require("fs");const f="/etc/sidecar/static.json";const j=JSON.parse(fs.readFileSync(f));j.push({Service:{Name:"added",Image:"none"},Check:{Type:"AlwaysSuccessful"}});fs.writeFileSync(f,JSON.stringify(j))'
box "node -e '$node_edit' && systemctl reload sidecar"
sighup() { invocation_log | grep 'SIGHUP received: re-reading the static discovery file /etc/sidecar/static.json' >/dev/null; }
check "systemctl reload: the daemon logs SIGHUP, re-reading /etc/sidecar/static.json" until_ok 10 sighup
check "systemctl reload: the service added to the file is ALIVE" until_ok 15 alive added
check "systemctl reload: the daemon is still active" active

# crash: kill -9 of the main pid is restarted (Restart=on-failure), with the same identity
MAIN=$(prop MainPID)
box "kill -9 $MAIN"
restarted() { local pid; pid=$(prop MainPID); [ "$pid" != 0 ] && [ "$pid" != "$MAIN" ] && active; }
check "kill -9 $MAIN: restarted (Restart=on-failure, NRestarts=1)" until_ok 20 restarted
check "after the crash: NRestarts=1" [ "$(prop NRestarts)" = 1 ]
check "after the crash: /health ok, same peer id" until_ok 30 same_peer
check "after the crash: web ALIVE again" until_ok 30 alive web

# stop: SIGTERM, exit 0 well within TimeoutStopSec
STOP0=$(date +%s%N)
box 'systemctl stop sidecar'
STOP_MS=$((($(date +%s%N) - STOP0) / 1000000))
stopped_clean() { [ "$(prop Result)" = success ] && [ "$(prop ExecMainStatus)" = 0 ] && [ "$(prop ExecMainCode)" = 1 ]; }
check "systemctl stop: exit 0 (Result=success), in $STOP_MS ms (TimeoutStopSec=15)" stopped_clean
stopped_log() { invocation_log | grep '^\[.*\] INFO: stopped$' >/dev/null; }
check "systemctl stop: the journal says SIGTERM received ... stopped" stopped_log
say "restart, reload, crash, stop at $(elapsed)"

# The same again with the filter set to kill: a call outside it would end the daemon (SIGSYS)
mkdir -p "$ROOT/etc/systemd/system/sidecar.service.d"
printf '[Service]\n# empty: the default action, kill the process (SIGSYS)\nSystemCallErrorNumber=\n' >"$ROOT/etc/systemd/system/sidecar.service.d/sigsys.conf"
box 'systemctl daemon-reload && systemctl start sidecar'
check "SIGSYS mode: active" until_ok 20 active
check "SIGSYS mode: in force (SystemCallErrorNumber=$(prop SystemCallErrorNumber), systemd's kill value)" [ "$(prop SystemCallErrorNumber)" = 2147483646 ]
all_alive() { is ok health && alive web && alive ext; }
check "SIGSYS mode: /health ok, web and ext ALIVE" until_ok 30 all_alive
check "SIGSYS mode: proxy forwards" until_ok 10 is "hello from the backend" get http://127.0.0.1:9081/
check "SIGSYS mode: peer2 lists this host's service again" until_ok 40 peer2_sees
box 'systemctl reload sidecar'; sleep 2
MAIN=$(prop MainPID)
box "kill -9 $MAIN"
check "SIGSYS mode: a crash is restarted" until_ok 20 restarted
check "SIGSYS mode: after restart, health checks and the proxy again" until_ok 30 alive web
sleep 5 # several External check rounds
box 'systemctl stop sidecar'
check "SIGSYS mode: stop, exit 0 (no call outside @system-service ~@privileged on these paths)" stopped_clean
no_sigsys() { ! box 'journalctl --no-pager -o cat -u sidecar' | grep -E 'status=31/SYS|Bad system call' >/dev/null; }
check "SIGSYS mode: no status=31/SYS in the journal" no_sigsys
rm "$ROOT/etc/systemd/system/sidecar.service.d/sigsys.conf"
box 'systemctl daemon-reload'

# A bad configuration: exit 2, not restarted (RestartPreventExitStatus=2)
box "cp /etc/sidecar/sidecar.toml /root/good.toml && printf '[sidecar]\nno_such_key = 1\n' >>/etc/sidecar/sidecar.toml && systemctl start sidecar" || true
failed() { [ "$(box 'systemctl is-active sidecar' || true)" = failed ]; }
check "bad config: the unit fails" until_ok 20 failed
sleep 5 # RestartSec=2: a restart would have happened by now
not_restarted() { [ "$(prop ExecMainStatus)" = 2 ] && [ "$(prop NRestarts)" = 0 ] && failed; }
check "bad config: exit status 2, not restarted (ExecMainStatus=$(prop ExecMainStatus), NRestarts=$(prop NRestarts), 5 s later)" not_restarted
bad_log() { box 'journalctl --no-pager -o cat -u sidecar -n 20' | grep 'sidecar.toml' >/dev/null; }
check "bad config: the journal names the file" bad_log
box 'cp /root/good.toml /etc/sidecar/sidecar.toml && systemctl reset-failed sidecar && systemctl start sidecar'
check "good config back: active" until_ok 20 active
check "good config back: /health ok" until_ok 30 is ok health
box 'systemctl stop sidecar'

# A start that fails every time (exit 1: the API port held by another program): tried
# StartLimitBurst times, then left failed, not started every 2 s for good
box 'systemctl reset-failed sidecar; systemd-run -q --unit=porthog node -e "require(\"net\").createServer().listen(7777, \"127.0.0.1\")"'
sleep 1
box 'systemctl start sidecar' || true
# (systemd 252 keeps Result=exit-code, the last start's, and says so in the journal)
limit_hit() { failed && box 'journalctl --no-pager -o cat -u sidecar -n 20' | grep 'Start request repeated too quickly' >/dev/null; }
check "API port held: the unit gives up (failed, \"Start request repeated too quickly\") within 120 s" until_ok 120 limit_hit
TRIES=$(prop NRestarts)
gave_up() { [ "$(prop ExecMainStatus)" = 1 ] && [ "$TRIES" -ge 5 ] && [ "$TRIES" -le 10 ]; }
check "API port held: exit status 1 ($(prop ExecMainStatus)), restarted $TRIES times before it gave up (StartLimitBurst=$(prop StartLimitBurst))" gave_up
sleep 5 # RestartSec=2: a restart would have happened by now
still_failed() { [ "$(prop NRestarts)" = "$TRIES" ] && failed; }
check "API port held: not started again 5 s later (NRestarts still $TRIES)" still_failed
box 'systemctl stop porthog && systemctl reset-failed sidecar && systemctl start sidecar'
check "port free, reset-failed and start: active" until_ok 20 active
check "port free, reset-failed and start: /health ok" until_ok 30 is ok health
box 'systemctl stop sidecar'

# What the sandbox refused, if anything
REFUSED=$(box 'journalctl --no-pager -o cat -u sidecar' | grep -E 'EPERM|EACCES|EROFS|Operation not permitted|Permission denied|Read-only file system' || true)
check "no EPERM/EACCES/EROFS in the daemon's journal${REFUSED:+: $REFUSED}" [ -z "$REFUSED" ]

say "done in $(elapsed): $FAILS failed"
if [ "$FAILS" -gt 0 ]; then
  say "the journal of sidecar.service:"
  box 'journalctl --no-pager -o short-precise -u sidecar' | tail -80
  exit 1
fi
