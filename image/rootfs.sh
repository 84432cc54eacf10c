#!/usr/bin/env bash
# Builds (or finds in the cache) a Debian trixie root file system tarball from one of the package
# lists beside this script, and prints the tarball's path.
#   image/rootfs.sh runtime|build [arm64|amd64]
# The cache key is a hash of everything that shapes the tarball (the suite and mmdebstrap's
# options: architecture, package list, hooks), so an unchanged recipe is reused across builds and
# CI steps, a changed one rebuilds, and edits elsewhere in this script do not.
# The mmdebstrap run takes ~10 minutes for arm64 on 2 cores (most of it is dpkg under qemu-user).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=image/common.sh
source "$here/common.sh"

kind=${1:?usage: rootfs.sh runtime|build [arch]}
arch=${2:-arm64}
list="$here/packages-$kind.txt"
[ -f "$list" ] || die "no package list $list"

packages=$(sed -e 's/#.*//' "$list" | tr -s ' \n' '\n' | sed '/^$/d' | sort -u | paste -sd, -)
recipe=(
  --variant=apt --arch="$arch"
  --components=main,contrib,non-free,non-free-firmware
  --include="$packages"
  --aptopt='Acquire::Languages "none"'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
  --customize-hook='rm -f "$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/*_Packages'
)
if [[ ",$packages," == *,initramfs-tools,* ]]; then
  # One initramfs, made at the end: otherwise the kernel's postinst makes one and the packages
  # installed after it trigger a second (each several minutes of mkinitramfs under qemu-user).
  recipe+=(
    --essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs && printf "#!/bin/sh\n# image/rootfs.sh makes the initramfs once, at the end\nexit 0\n" > "$1/usr/sbin/update-initramfs" && chmod 755 "$1/usr/sbin/update-initramfs"'
    --customize-hook='rm "$1/usr/sbin/update-initramfs" && chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs && for version in $(ls "$1/lib/modules"); do chroot "$1" update-initramfs -c -k "$version"; done'
  )
fi
key=$(printf '%s\n' "$SUITE" "${recipe[@]}" | sha256sum | cut -c1-16)
tarball="$CACHE_DIR/rootfs-$kind-$SUITE-$arch-$key.tar"

if [ -s "$tarball" ]; then
  log "rootfs cache hit: $tarball"
  echo "$tarball"
  exit 0
fi

mkdir -p "$CACHE_DIR"
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
  # mmdebstrap only recommends arch-test, and stops without it ("install arch-test for foreign
  # architecture support"): say which package, before minutes of downloads.
  command -v arch-test >/dev/null || die "arch-test is missing (apt-get install arch-test): mmdebstrap needs it for $arch"
  enable_foreign_binfmt "$arch"
fi
mode=unshare
[ "$(id -u)" -eq 0 ] && mode=root
log "building the $kind rootfs ($SUITE $arch, mode $mode): $packages"
started=$(date +%s)
# Keep old tarballs of this kind only while they are the newest two: the cache must not grow forever.
# A partial name of this process's own: two builds of one recipe at once never share a file.
partial="$tarball.$$.partial"
trap 'rm -f "$partial"' EXIT
mmdebstrap --mode="$mode" "${recipe[@]}" --format=tar "$SUITE" "$partial" >&2
mv "$partial" "$tarball"
log "rootfs built in $(( $(date +%s) - started )) s: $(du -h "$tarball" | cut -f1)"
ls -1t "$CACHE_DIR"/rootfs-"$kind"-"$SUITE"-"$arch"-*.tar 2>/dev/null | tail -n +3 | xargs -r rm -f
echo "$tarball"
