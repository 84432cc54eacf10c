# Shared settings and helpers of the image and .deb build scripts (sourced, not run).
SUITE=${INTERCOM_SUITE:-trixie}
# Outside the repository so that clean checkouts (CI) reuse it; override with INTERCOM_CACHE_DIR.
CACHE_DIR=${INTERCOM_CACHE_DIR:-${XDG_CACHE_HOME:-/var/cache}/intercom-image}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Lets this amd64 machine run arm64 programs (dpkg maintainer scripts, the compiler) through
# qemu-user-static: binfmt_misc must be mounted before the handler can be enabled.
enable_foreign_binfmt() {
  local arch=$1 qemu_arch
  case "$arch" in
    arm64) qemu_arch=aarch64 ;;
    *) die "no qemu-user mapping for $arch" ;;
  esac
  command -v "qemu-$qemu_arch-static" >/dev/null || die "install qemu-user-static and binfmt-support"
  # Two builds may get here at once (image/build-image.sh runs two side by side): whoever loses
  # the race finds it done.
  if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || [ -e /proc/sys/fs/binfmt_misc/status ] ||
      die "cannot mount binfmt_misc"
  fi
  if [ ! -e "/proc/sys/fs/binfmt_misc/qemu-$qemu_arch" ]; then
    update-binfmts --enable "qemu-$qemu_arch" >/dev/null 2>&1 || [ -e "/proc/sys/fs/binfmt_misc/qemu-$qemu_arch" ] ||
      die "update-binfmts could not enable qemu-$qemu_arch"
  fi
}
