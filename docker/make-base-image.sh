#!/usr/bin/env bash
# Makes a local stand-in for the official node:24 slim image, for machines that cannot pull
# from a registry: a rootfs holding the Node binary this project already runs with (.ci/node,
# else the node on PATH), the shared libraries it links (ldd), npm, a static busybox for
# /bin/sh, and a `node` user (uid/gid 1000, as in the official image), then `docker import`s it.
#
#   bash docker/make-base-image.sh [TAG]      # default TAG: sidecar-local/node:24-slim
#   docker build -f docker/Dockerfile --build-arg BASE_IMAGE=sidecar-local/node:24-slim .
#
# Idempotent: an existing TAG is kept (FORCE=1 remakes it). Uses DOCKER_HOST like the docker CLI.
# Needs: docker CLI, ldd, tar, a static busybox (Debian: busybox-static), Node >= 22.20, npm.
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${1:-sidecar-local/node:24-slim}

say() { printf 'make-base-image: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  say "$TAG exists (FORCE=1 remakes it)"; exit 0
fi

# The Node binary: the project's own (.ci/run installs it there when the machine's is too old).
NODE=${NODE:-}
if [ -z "$NODE" ]; then
  for cand in .ci/node/node_modules/.bin/node node_modules/.bin/node "$(command -v node || true)"; do
    [ -n "$cand" ] && [ -x "$cand" ] || continue
    if "$cand" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=20)?0:1)' 2>/dev/null; then
      NODE=$("$cand" -p process.execPath); break
    fi
  done
fi
[ -n "$NODE" ] && [ -x "$NODE" ] || die "no Node >= 22.20 found (.ci/node, node_modules/.bin, PATH); set NODE=/path/to/node"
NPM_DIR=${NPM_DIR:-$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")}
[ -f "$NPM_DIR/bin/npm-cli.js" ] || die "npm not found (looked in $NPM_DIR); set NPM_DIR to npm's package folder"
BUSYBOX=${BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] && ! ldd "$BUSYBOX" >/dev/null 2>&1 || die "$BUSYBOX is missing or not static (Debian: apt-get install busybox-static)"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
R=$WORK/root
mkdir -p "$R"/{bin,usr/bin,usr/local/bin,usr/local/lib/node_modules,etc,tmp,home/node,root}
chmod 1777 "$R/tmp"
chmod 700 "$R/root"

cp "$NODE" "$R/usr/local/bin/node"
# The libraries Node links, at the paths the dynamic loader looks for them, and the loader itself.
# libgcc_s/libstdc++/libm/libc also serve the native QUIC module (@chainsafe/libp2p-quic).
ldd "$NODE" | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' | while read -r lib; do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done

cp -a "$NPM_DIR" "$R/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$R/usr/local/bin/npx"

cp "$BUSYBOX" "$R/bin/busybox"
for applet in sh ls cat cp mv rm mkdir chmod chown ln env id stat sleep test true false echo grep sed tar wget; do
  ln -s busybox "$R/bin/$applet"
done
ln -s ../../bin/env "$R/usr/bin/env" # npm's "#!/usr/bin/env node"

cat >"$R/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000::/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat >"$R/etc/group" <<'G'
root:x:0:
node:x:1000:
nogroup:x:65534:
G
echo 'hosts: files dns' >"$R/etc/nsswitch.conf"
# This machine's CA certificates, so npm inside trusts what npm outside trusts (a network
# that inspects TLS adds its own CA to the system store; the official image relies on Node's
# built-in list instead). The global npmrc points npm at them, as the host's npm does.
CA=/etc/ssl/certs/ca-certificates.crt
if [ -f "$CA" ]; then
  mkdir -p "$R/etc/ssl/certs" "$R/usr/local/etc"
  cp -L "$CA" "$R$CA"
  echo "cafile=$CA" >"$R/usr/local/etc/npmrc"
fi
chown -R 1000:1000 "$R/home/node"

VERSION=$("$NODE" --version)
tar -C "$R" -cf "$WORK/rootfs.tar" .
say "importing $TAG (node $VERSION, npm $(cat "$NPM_DIR/package.json" | "$NODE" -p 'JSON.parse(require("fs").readFileSync(0)).version'), $(du -sh "$WORK/rootfs.tar" | cut -f1))"
docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change "ENV NODE_VERSION=${VERSION#v}" \
  --change 'CMD ["node"]' \
  "$WORK/rootfs.tar" "$TAG" >/dev/null
say "made $TAG"
