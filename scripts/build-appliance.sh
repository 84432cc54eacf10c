#!/usr/bin/env bash
# Builds what the appliance pass (npm run test:appliance) tests, independent jobs side by side:
#  - the amd64 Debian package, and the clean Debian root it is installed into (image/rootfs.sh debtest);
#  - the Raspberry Pi image (its arm64 package and its runtime rootfs, themselves side by side).
# Then writes ENV_FILE: INTERCOM_DEB (the amd64 package) and INTERCOM_IMAGE, which the tests use
# instead of building again. Run as root:  scripts/build-appliance.sh ENV_FILE
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=image/common.sh
source image/common.sh
env_file=${1:?usage: scripts/build-appliance.sh ENV_FILE}
started=$(date +%s)
mkdir -p build
amd64_out=$(mktemp)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -f "$amd64_out"' EXIT

# The TypeScript once, for both packages.
log "compiling TypeScript for the packages"
rm -rf build/package-dist
npx tsc -p tsconfig.json --outDir build/package-dist --sourceMap false
export INTERCOM_PACKAGE_DIST=$PWD/build/package-dist

(
  deb=$(scripts/deb/build-deb.sh amd64)
  image/rootfs.sh debtest amd64 > /dev/null
  log "amd64 package and its test root ready after $(( $(date +%s) - started )) s"
  echo "$deb" > "$amd64_out"
) &
amd64_pid=$!
image=$(image/build-image.sh)
wait "$amd64_pid" || die "the amd64 package or its test root did not build"
deb=$(cat "$amd64_out")
[ -f "$deb" ] && [ -f "$image" ] || die "missing: $deb $image"
printf 'INTERCOM_DEB=%q\nINTERCOM_IMAGE=%q\n' "$deb" "$image" > "$env_file"
log "appliance build done in $(( $(date +%s) - started )) s: $deb, $image"
