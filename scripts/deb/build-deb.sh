#!/usr/bin/env bash
# Builds build/deb/intercom_<version>_<arch>.deb (run as root, from anywhere):
#   scripts/deb/build-deb.sh [amd64|arm64]        (default: this machine's architecture)
# INTERCOM_PACKAGE_DIST=dir uses that compiled TypeScript (tsc --sourceMap false) instead of compiling.
# The app goes to /usr/lib/intercom with its production node_modules. Native addons are compiled
# for the target: on this machine for its own architecture, and for arm64 inside a Debian trixie
# arm64 build root run through qemu-user (image/rootfs.sh build arm64, cached), with trixie's
# Node and -dev packages, so they link what a Raspberry Pi running the image has.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=image/common.sh
source "$repo/image/common.sh"

host_arch=$(dpkg --print-architecture)
arch=${1:-$host_arch}
version=$(node -p "require('$repo/package.json').version")
app=/usr/lib/intercom
out_dir="$repo/build/deb"
work="$out_dir/work-$arch"
stage="$work/stage"
deb="$out_dir/intercom_${version}_${arch}.deb"
started=$(date +%s)

[ "$(id -u)" -eq 0 ] || die "run as root (files are packaged as root:root, arm64 builds use chroot)"
case "$arch" in amd64|arm64) ;; *) die "unsupported architecture $arch" ;; esac

rm -rf "$work"
mkdir -p "$stage$app" "$out_dir"

if [ -n "${INTERCOM_PACKAGE_DIST:-}" ]; then
  # scripts/build-appliance.sh compiles once for both architectures' packages.
  log "taking the compiled TypeScript from $INTERCOM_PACKAGE_DIST"
  cp -a "$INTERCOM_PACKAGE_DIST" "$stage$app/dist"
else
  log "compiling TypeScript into the package"
  (cd "$repo" && npx tsc -p tsconfig.json --outDir "$stage$app/dist" --sourceMap false)
fi
[ -f "$stage$app/dist/main.js" ] || die "dist/main.js is missing: the build did not produce the service"

log "staging the app and its production dependencies"
cp -a "$repo/package.json" "$repo/package-lock.json" "$repo/config" "$stage$app/"
[ -d "$repo/web" ] && cp -a "$repo/web" "$stage$app/"
[ -f "$repo/README.md" ] && cp -a "$repo/README.md" "$stage$app/"
# The sources the native build needs; removed again after it.
mkdir -p "$stage$app/scripts" "$stage$app/src/codec/opus-native" "$stage$app/src/audio/alsa-engine" "$stage$app/src/audio-processing/speex-native"
cp -a "$repo"/scripts/build-native.mjs "$repo"/scripts/node-gyp.mjs "$stage$app/scripts/"
[ -f "$repo/scripts/build-naudiodon.mjs" ] && cp -a "$repo/scripts/build-naudiodon.mjs" "$stage$app/scripts/"
cp -a "$repo"/src/codec/opus-native/binding.gyp "$repo"/src/codec/opus-native/*.c "$stage$app/src/codec/opus-native/"
cp -a "$repo"/src/audio/alsa-engine/binding.gyp "$repo"/src/audio/alsa-engine/*.c "$repo"/src/audio/alsa-engine/*.h "$stage$app/src/audio/alsa-engine/"
cp -a "$repo"/src/audio-processing/speex-native/binding.gyp "$repo"/src/audio-processing/speex-native/*.c "$stage$app/src/audio-processing/speex-native/"
# Pure download: no install scripts run here, whatever the target architecture.
(cd "$stage$app" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >&2)

# Every package with a binding.gyp is compiled with node-gyp, except naudiodon, which
# scripts/build-naudiodon.mjs (run by build-native.mjs) links to the system PortAudio.
native_build='set -e
cd "$1"
# The package links Debian'"'"'s PortAudio (a Depends, security-updated) on every architecture,
# not the x86-64 copy naudiodon bundles.
export INTERCOM_NAUDIODON_SYSTEM_PORTAUDIO=1
# naudiodon 2.3.6 uses std::string without including <string>; GCC 13+ (Debian trixie) no longer
# pulls it in through other headers, so the build fails there without this.
export CXXFLAGS="${CXXFLAGS:-} -include string"
# Every core: under qemu-user one compiler is one core, and naudiodon has a dozen C++ files.
export JOBS=max
# Headers of the Node that will run the addons, never a download (node-gyp reads npm_config_nodedir).
prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
[ -f "$prefix/include/node/node_api.h" ] && export npm_config_nodedir="$prefix"
gyp=$(node -e "for (const c of [\"/usr/share/nodejs/node-gyp/bin/node-gyp.js\", require(\"path\").join(require(\"path\").dirname(process.execPath), \"../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js\")]) if (require(\"fs\").existsSync(c)) { console.log(c); break }")
for gypfile in $(find node_modules -name binding.gyp -not -path "*/naudiodon/*" -not -path "*/node-addon-api/*" -not -path "*/nan/*"); do
  dir=$(dirname "$gypfile")
  echo "node-gyp: $dir" >&2
  (cd "$dir" && node "$gyp" rebuild --release >/dev/null)
done
if [ ! -f scripts/build-naudiodon.mjs ] && [ -d node_modules/naudiodon ]; then
  echo "node-gyp: node_modules/naudiodon (its bundled build; scripts/build-naudiodon.mjs is missing)" >&2
  (cd node_modules/naudiodon && node "$gyp" rebuild --release >/dev/null) ||
    echo "WARNING: naudiodon did not build: this package will run without sound" >&2
fi
node scripts/build-native.mjs --force'

if [ "$arch" = "$host_arch" ]; then
  log "compiling native addons for $arch on this machine"
  bash -c "$native_build" native-build "$stage$app"
else
  buildroot_tar=$("$repo/image/rootfs.sh" build "$arch")
  buildroot="$work/buildroot"
  log "compiling native addons for $arch in a $SUITE $arch build root (qemu-user)"
  enable_foreign_binfmt "$arch"
  mkdir -p "$buildroot"
  tar -C "$buildroot" --numeric-owner -xpf "$buildroot_tar"
  mkdir -p "$buildroot/build"
  cp -a "$stage$app" "$buildroot/build/app"
  cp -L /etc/resolv.conf "$buildroot/etc/resolv.conf" 2>/dev/null || true
  # A private mount namespace: /proc for the compilers goes away with the command, nothing to unmount.
  unshare --mount --propagation private bash -c '
    mount -t proc proc "$1/proc"
    chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp bash -c "$2" native-build /build/app
  ' chroot-build "$buildroot" "$native_build"
  rm -rf "$stage$app"
  mv "$buildroot/build/app" "$stage$app"
  rm -rf "$buildroot"
fi

log "checking the addons are $arch code"
expected_machine=$([ "$arch" = arm64 ] && echo 'ARM aarch64' || echo 'x86-64')
while IFS= read -r addon; do
  file -b "$addon" | grep -q "$expected_machine" || die "$addon is not $arch code: $(file -b "$addon")"
done < <(find "$stage$app" -name '*.node' -path '*/Release/*')

# Keep the compiled addons, drop compiler output, sources and the build helpers.
# (Relative paths: the staging directory itself lies under build/.)
(cd "$stage$app" && find . -type d -path '*/build/*' \( -name obj.target -o -name .deps \) -prune -exec rm -rf {} +)
(cd "$stage$app" && find . -type f -path '*/build/*' \( -name Makefile -o -name '*.mk' -o -name config.gypi -o -name '*.o' -o -name '*.d' \) -delete)
rm -rf "$stage$app/node_modules/naudiodon/portaudio/bin" "$stage$app/node_modules/naudiodon/portaudio/bin_armhf"
rm -rf "$stage$app/scripts" "$stage$app/src/codec/opus-native"/*.c "$stage$app/src/codec/opus-native/binding.gyp"
rm -f "$stage$app/src/audio/alsa-engine"/*.c "$stage$app/src/audio/alsa-engine"/*.h "$stage$app/src/audio/alsa-engine/binding.gyp"
rm -f "$stage$app/src/audio-processing/speex-native"/*.c "$stage$app/src/audio-processing/speex-native/binding.gyp"

log "laying out the package"
install -D -m 0644 /dev/stdin "$stage/usr/lib/systemd/system/intercom.service" \
  < <(sed "s#@APP_DIR@#$app#g" "$repo/systemd/intercom.service")
install -D -m 0644 "$repo/systemd/intercom.sysusers" "$stage/usr/lib/sysusers.d/intercom.conf"
install -D -m 0644 "$repo/systemd/60-intercom-gpio.rules" "$stage/usr/lib/udev/rules.d/60-intercom-gpio.rules"
install -D -m 0755 /dev/stdin "$stage/usr/bin/intercom" <<EOF
#!/bin/sh
# pi-intercom's command line (send, recv, devices, serve) with the unit's configuration.
export NODE_CONFIG_DIR="\${NODE_CONFIG_DIR:-$app/config:/etc/intercom}"
exec /usr/bin/node $app/dist/cli/intercom.js "\$@"
EOF
install -D -m 0644 "$repo/scripts/deb/local.json" "$stage/etc/intercom/local.json"
install -D -m 0644 "$repo/scripts/deb/README.etc" "$stage/etc/intercom/README"

mkdir -p "$stage/DEBIAN"
installed_kib=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_kib/" \
  "$repo/scripts/deb/control.in" > "$stage/DEBIAN/control"
(cd "$stage" && find etc -type f | sed 's#^#/#' | sort) > "$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "$repo/scripts/deb/$script" "$stage/DEBIAN/$script"
done

dpkg-deb --root-owner-group -Zgzip --build "$stage" "$deb" >/dev/null
rm -rf "$work"
log "built $deb ($(du -h "$deb" | cut -f1)) in $(( $(date +%s) - started )) s"
echo "$deb"
