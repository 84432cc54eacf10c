#!/usr/bin/env bash
# Installs everything pi-intercom needs on Debian or Raspberry Pi OS (run as root, from the
# repository), builds it, and starts the service on its default configuration.
#   sudo scripts/install.sh
# INTERCOM_NO_START=1 skips starting the service.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo scripts/install.sh)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_packages=(
  # build: native addons (our Opus addon, naudiodon, onoff, segfault-handler)
  build-essential python3 pkg-config libopus-dev libasound2-dev portaudio19-dev
  # run: ALSA tools and libraries, the system PortAudio (naudiodon links it on arm64)
  alsa-utils libopus0 libportaudio2 curl ca-certificates
  # tests: GStreamer interop, headless Chromium for the panel, network namespaces (DNS-SD)
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-alsa
  chromium fonts-dejavu-core iproute2 procps
  # tests: units whose wall clocks disagree, as Pis without a real-time clock do
  faketime
  # tests and builds of the appliance: Debian package, Raspberry Pi image, QEMU boot
  systemd mmdebstrap qemu-user-static binfmt-support qemu-system-arm dosfstools mtools fdisk e2fsprogs file openssh-client
)
if [ "$(dpkg --print-architecture)" = amd64 ]; then
  # tests on x86-64 build machines: the GPIO adapter on a real kernel (gpio-sim in QEMU)
  apt_packages+=(qemu-system-x86)
fi
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  apt_packages+=(nodejs npm)
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "install.sh: Node.js 20 or newer is needed, found $(node --version) (Debian trixie ships 20)" >&2
  exit 1
fi

# --ignore-scripts + an explicit native build: one path for npm 10 and 11 and for arm64, where
# naudiodon's own build script links an x86-64 library (see scripts/build-naudiodon.mjs).
npm ci --ignore-scripts --no-audit --no-fund
node scripts/build-native.mjs
npm run build

# `intercom send|recv|devices` on the PATH, for use over ssh.
cat > /usr/local/bin/intercom <<WRAPPER
#!/bin/sh
exec node "$(pwd)/dist/cli/intercom.js" "\$@"
WRAPPER
chmod 755 /usr/local/bin/intercom

if [ "${INTERCOM_NO_START:-}" = "1" ]; then
  exit 0
fi
scripts/start-service.sh
