#!/usr/bin/env bash
# Runs the README's two commands where they never ran: in a fresh Debian 12 (bookworm) root made
# with mmdebstrap (variant apt: Essential packages and apt, nothing else), with Node.js and npm
# copied from this machine (CI machines come with Node 20 and npm; Debian 12's own nodejs is 18),
# on a fresh clone of this repository's HEAD. Prints how long each command took, cold and warm.
#   sudo .ci/fresh-debian.sh [install|main|ci|appliance]
#     install: scripts/install.sh (cold, then warm), then scripts/test.sh --install (twice)
#     main (default): scripts/test.sh main first, without install.sh (the test command alone on a
#       fresh machine), then scripts/install.sh after it
#     ci: .ci/run, i.e. scripts/install.sh then scripts/test.sh (both passes, with the image caches
#       cold: the root's own /var/cache/intercom-image), then each command again (warm), the
#       appliance pass on its own
#     appliance: scripts/install.sh, then scripts/test.sh appliance (the image caches cold)
# Environment given to the tests: INTERCOM_QEMU_TONE_ROUNDS, if set.
# The root lives in $WORK (default /tmp/intercom-fresh-debian) and is removed at the end unless
# KEEP=1. Mounts are made in a private mount namespace and vanish with it. Needs mmdebstrap.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-main}
case "$what" in install|main|ci|appliance) ;; *) echo "usage: $0 [install|main|ci|appliance]" >&2; exit 1 ;; esac
work=${WORK:-/tmp/intercom-fresh-debian}
root="$work/root"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
command -v node >/dev/null || { echo "this machine needs the Node.js to copy into the root" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
# What the run leaves for a look afterwards (test artifacts such as the boot test's recordings, the
# appliance build's log) is copied out into this checkout's test-artifacts/ before the root goes.
keep_artifacts() {
  local into="$repo/test-artifacts/fresh-debian-$what"
  rm -rf "$into" && mkdir -p "$into"
  [ -d "$root/work/pi-intercom/test-artifacts" ] && cp -a "$root/work/pi-intercom/test-artifacts/." "$into/"
  cp -a "$root"/work/pi-intercom/build/*.log "$into/" 2>/dev/null || true
}
cleanup() {
  [ -d "$root/work/pi-intercom" ] && keep_artifacts
  [ "${KEEP:-}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

log "making a fresh Debian 12 root (mmdebstrap --variant=apt bookworm)"
mmdebstrap --quiet --mode=root --variant=apt --arch="$(dpkg --print-architecture)" bookworm "$root"

# Node.js 20 and npm as the CI machine has them: the binary, its headers (node-gyp builds the
# addons against them, offline) and npm, under the same paths as here.
node_bin=$(readlink -f "$(command -v node)")
node_prefix=$(dirname "$(dirname "$node_bin")")
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
log "copying Node.js $(node --version) ($node_bin) and npm $(npm --version) ($npm_dir) into the root"
mkdir -p "$root$node_prefix/bin" "$root$node_prefix/include" "$root$(dirname "$npm_dir")"
cp -a "$node_bin" "$root$node_prefix/bin/node"
cp -a "$node_prefix/include/node" "$root$node_prefix/include/"
cp -a "$npm_dir" "$root$npm_dir"
ln -sf "$npm_dir/bin/npm-cli.js" "$root$node_prefix/bin/npm"
ln -sf "$npm_dir/bin/npx-cli.js" "$root$node_prefix/bin/npx"

log "cloning $(git -C "$repo" rev-parse --short HEAD) into /work/pi-intercom"
mkdir -p "$root/work"
git clone --quiet --no-hardlinks "$repo" "$root/work/pi-intercom"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# The machine's own trust: certificate authorities it added (an egress proxy's, say) and npm's
# cafile setting, as a CI machine that reaches the npm registry has them. Nothing else of npm's
# configuration is copied.
if compgen -G '/usr/local/share/ca-certificates/*' >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates" "$root/etc/ssl/certs"
  cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  cafile=$(npm config get cafile 2>/dev/null || true)
  [ -n "$cafile" ] && [ "$cafile" != null ] && echo "cafile=$cafile" > "$root/root/.npmrc"
fi

# A fresh machine's first run of each command, then a second run (warm: apt, npm and the native
# build have nothing left to do).
steps=$(cat <<'STEPS'
set -euo pipefail
cd /work/pi-intercom
timed() { local started=$(date +%s); "$@"; echo "TIMING $* : $(( $(date +%s) - started )) s" >&2; }
# The service install.sh starts stays up during the tests, as on CI; it goes at the end.
trap '[ -f /run/intercom.pid ] && kill "$(cat /run/intercom.pid)" 2>/dev/null || true' EXIT
healthy() { curl -fsS http://127.0.0.1:5000/api/health >&2; echo >&2; }
STEPS
)
case "$what" in
  install) steps+=$'\ntimed scripts/install.sh; healthy; timed scripts/install.sh; timed scripts/test.sh --install; timed scripts/test.sh --install' ;;
  main) steps+=$'\ntimed scripts/test.sh main; timed scripts/install.sh; healthy' ;;
  ci) steps+=$'\ntimed .ci/run; healthy; timed scripts/install.sh; timed scripts/test.sh --install; timed scripts/test.sh appliance' ;;
  appliance) steps+=$'\ntimed scripts/install.sh; healthy; timed scripts/test.sh appliance' ;;
esac

log "running the two commands in the root"
unshare --mount --propagation private bash -c '
  set -e
  root=$1
  # The root a mount point of its own, as / is on a machine: `ip netns` (the site tests) makes /
  # a slave mount inside its namespaces and fails on a plain directory.
  mount --bind "$root" "$root"
  mount -t proc proc "$root/proc"
  mount -t sysfs sys "$root/sys"
  mount --rbind /dev "$root/dev"
  mount -t tmpfs tmpfs "$root/dev/shm"
  mount -t tmpfs tmpfs "$root/run"
  mount -t tmpfs tmpfs "$root/tmp"
  chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb \
    ${INTERCOM_QEMU_TONE_ROUNDS:+INTERCOM_QEMU_TONE_ROUNDS=$INTERCOM_QEMU_TONE_ROUNDS} \
    bash -c "$2"
' fresh-debian "$root" "$steps"
log "done"
