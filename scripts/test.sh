#!/usr/bin/env bash
# Installs what the tests need (Debian packages, the npm development dependencies), builds, and
# runs the whole test suite: type checks and the main ava pass (`npm run test:main`), then the
# serial appliance pass that installs the Debian package in a clean root and boots the Raspberry
# Pi image in QEMU (`npm run test:appliance`):
#   sudo scripts/test.sh              everything
#   sudo scripts/test.sh main         only the main pass
#   sudo scripts/test.sh appliance    only the appliance pass
#   sudo scripts/test.sh --install    only install and build
# Works with or without scripts/install.sh having run first; it does not start the service.
# Once it has run, single files run with `npx ava test/x/y.test.ts`.
#
# The appliance pass needs the Debian packages and the image built (on a cold cache ~25 minutes
# of mostly one-core work under qemu-user). They are built in the background, at the lowest CPU
# and I/O priority, while the main pass runs (which mostly waits on real-time audio), and the
# appliance pass tests what they built. Their log: build/appliance-build.log.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

what=${1:-all}
case "$what" in all|main|appliance|--install) ;; *) die "usage: $0 [main|appliance|--install]" ;; esac
require_root
apt_install unit test
build_from_source

started=$(date +%s)
elapsed() { echo "$(( ($(date +%s) - started) / 60 )) min $(( ($(date +%s) - started) % 60 )) s"; }
build_pid=
build_env=build/appliance.env
build_log=build/appliance-build.log
stop_build() {
  if [ -n "$build_pid" ] && kill -0 "$build_pid" 2>/dev/null; then kill -- -"$build_pid" 2>/dev/null || true; fi
}
trap stop_build EXIT

if [ "$what" = all ] || [ "$what" = appliance ]; then
  mkdir -p build
  rm -f "$build_env"
  # Its own process group (setsid), so that a failed main pass can stop all of it.
  setsid nice -n 19 ionice -c 3 scripts/build-appliance.sh "$build_env" > "$build_log" 2>&1 &
  build_pid=$!
  echo "test.sh: building the Debian packages and the Raspberry Pi image in the background (log: $build_log)" >&2
fi
if [ "$what" = all ] || [ "$what" = main ]; then
  npm run test:main
  echo "test.sh: main pass passed after $(elapsed)" >&2
fi
if [ -n "$build_pid" ]; then
  if ! wait "$build_pid"; then
    tail -n 60 "$build_log" >&2
    die "the appliance build failed (whole log: $build_log)"
  fi
  build_pid=
  echo "test.sh: appliance build ready after $(elapsed)" >&2
  # INTERCOM_DEB and INTERCOM_IMAGE: the appliance pass tests what was just built.
  set -a
  # shellcheck disable=SC1090
  source "$build_env"
  set +a
  npm run test:appliance
  echo "test.sh: appliance pass passed after $(elapsed)" >&2
fi
