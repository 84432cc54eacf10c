#!/usr/bin/env bash
# Builds build/image/intercom-<version>-rpi-arm64.img, a Raspberry Pi (3, 4, 400, CM4, Zero 2 W)
# SD-card image of Debian trixie arm64 with the intercom package installed (run as root):
#   image/build-image.sh            (npm run image)
# Beside the image it leaves the kernel and initrd it boots (…-vmlinuz, …-initrd.img), which the
# QEMU boot test uses. No loop devices and no mounts: the FAT boot partition is made with
# mkfs.vfat + mcopy, the ext4 root with mke2fs -d, the partition table with sfdisk.
# INTERCOM_ARM64_DEB=path uses an already built arm64 package instead of building one.
set -euo pipefail
# Standard output carries only the image's path (the caller reads it); what the tools print
# (dpkg's "Selecting previously unselected package", mke2fs) goes to the log on stderr.
exec 3>&1 1>&2
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=image/common.sh
source "$repo/image/common.sh"

[ "$(id -u)" -eq 0 ] || die "run as root (the root file system keeps its owners; dpkg runs in a chroot)"
for tool in mmdebstrap arch-test mkfs.vfat mcopy sfdisk mke2fs qemu-aarch64-static; do
  command -v "$tool" >/dev/null || die "$tool is missing: apt-get install mmdebstrap arch-test dosfstools mtools fdisk e2fsprogs qemu-user-static binfmt-support"
done

version=$(node -p "require('$repo/package.json').version")
out_dir="$repo/build/image"
name="intercom-$version-rpi-arm64"
work="$out_dir/work"
root="$work/root"
boot_mib=256
started=$(date +%s)
step_started=$started
step() { local now; now=$(date +%s); log "step done in $((now - step_started)) s: $*"; step_started=$now; }

mkdir -p "$out_dir"
rm -rf "$work"
mkdir -p "$root"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# The runtime rootfs and the arm64 package (its build root, then its addons compiled under
# qemu-user) share nothing: on a cold cache each is a one-core job of ~10 minutes and more, so
# they run side by side.
rootfs_log="$work/rootfs.log"
"$repo/image/rootfs.sh" runtime arm64 > "$work/rootfs.path" 2> "$rootfs_log" &
rootfs_pid=$!
deb=${INTERCOM_ARM64_DEB:-}
if [ -z "$deb" ]; then
  deb=$("$repo/scripts/deb/build-deb.sh" arm64) || { kill "$rootfs_pid" 2>/dev/null; wait "$rootfs_pid" 2>/dev/null; die "the arm64 package did not build"; }
  step "intercom arm64 package"
fi
wait "$rootfs_pid" || { cat "$rootfs_log" >&2; die "the runtime rootfs did not build"; }
cat "$rootfs_log" >&2
rootfs_tar=$(cat "$work/rootfs.path")
step "runtime rootfs"

tar -C "$root" --numeric-owner --xattrs --xattrs-include='*' -xpf "$rootfs_tar"
step "unpacked the rootfs"

enable_foreign_binfmt arm64
cp "$deb" "$root/tmp/intercom.deb"
cp -a "$repo/image/overlay/." "$root/"
# /etc/default/raspi-firmware is the package's conffile: edit it, do not replace it.
sed -i -e 's/^#\?ROOTPART=.*/ROOTPART=LABEL=RASPIROOT/' "$root/etc/default/raspi-firmware"
grep -q '^ROOTPART=LABEL=RASPIROOT' "$root/etc/default/raspi-firmware" || echo 'ROOTPART=LABEL=RASPIROOT' >> "$root/etc/default/raspi-firmware"
unshare --mount --propagation private bash -c '
  set -e
  mount -t proc proc "$1/proc"
  chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 bash -ec "
    dpkg -i /tmp/intercom.deb
    rm /tmp/intercom.deb
    # The person with a key or password from intercom.txt logs in as admin; locked until then.
    useradd --create-home --shell /bin/bash --groups sudo,audio,gpio --comment \"unit administrator\" admin
    chmod 0440 /etc/sudoers.d/50-intercom-admin
    systemctl enable systemd-networkd.service systemd-resolved.service systemd-timesyncd.service \
      intercom-grow-root.service intercom-setup.service ssh.service avahi-daemon.service intercom.service
    # The buttons, LED and relay of the shipped configuration, with their pulls and levels, into
    # /etc/default/raspi-firmware-custom, which the kernel hook appends to config.txt.
    # (No apostrophes in here: this script is one single-quoted string.)
    node /usr/lib/intercom-image/settings.mjs --gpio-boot-config
    # Rewrites config.txt and cmdline.txt in /boot/firmware with ROOTPART from /etc/default/raspi-firmware.
    DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware
  "
' image-chroot "$root"
# Each unit makes its own identity at first boot: no shared machine id, no shared ssh host keys.
rm -f "$root"/etc/ssh/ssh_host_*
echo uninitialized > "$root/etc/machine-id"
# A first boot must not stop at systemd-firstboot's console questions (locale, root password):
# nobody is at the console; intercom.txt is the first-boot configuration.
ln -sf /dev/null "$root/etc/systemd/system/systemd-firstboot.service"
rm -f "$root/var/lib/dbus/machine-id"
echo intercom > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tintercom\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log "$root"/tmp/* "$root"/var/tmp/*
grep -q 'root=LABEL=RASPIROOT' "$root/boot/firmware/cmdline.txt" || die "cmdline.txt does not name LABEL=RASPIROOT: $(cat "$root/boot/firmware/cmdline.txt")"
grep -q '^gpio=.*=ip,p[ud]$' "$root/boot/firmware/config.txt" || die "config.txt sets no pull for the buttons: $(cat "$root/boot/firmware/config.txt")"
step "installed the package and configured the system"

kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -n1)
cp "$kernel" "$out_dir/$name-vmlinuz"
cp "$initrd" "$out_dir/$name-initrd.img"

# Boot partition: FAT32 holding what raspi-firmware put in /boot/firmware, plus intercom.txt.
mkfs.vfat -F 32 -n RASPIFIRM -C "$work/boot.img" $((boot_mib * 1024)) >/dev/null
mcopy -s -p -m -i "$work/boot.img" "$root"/boot/firmware/* ::
find "$root/boot/firmware" -mindepth 1 -delete
# Root partition: the tree's size plus room for the first boot, before it grows to fill the card.
root_mib=$(( $(du -s --block-size=1M "$root" | cut -f1) * 115 / 100 + 200 ))
mke2fs -q -t ext4 -L RASPIROOT -d "$root" -E root_owner=0:0 "$work/root.img" "${root_mib}M"
step "made the boot (${boot_mib} MiB) and root (${root_mib} MiB) file systems"

image="$out_dir/$name.img"
offset_mib=4
total_mib=$((offset_mib + boot_mib + root_mib))
rm -f "$image"
truncate -s "${total_mib}M" "$image"
sfdisk --quiet "$image" <<EOF
label: dos
unit: sectors
start=$((offset_mib * 2048)), size=$((boot_mib * 2048)), type=c, bootable
start=$(((offset_mib + boot_mib) * 2048)), size=$((root_mib * 2048)), type=83
EOF
dd if="$work/boot.img" of="$image" bs=1M seek=$offset_mib conv=notrunc,sparse status=none
dd if="$work/root.img" of="$image" bs=1M seek=$((offset_mib + boot_mib)) conv=notrunc,sparse status=none
step "assembled the partitioned image"
log "built $image ($total_mib MiB) in $(( $(date +%s) - started )) s"
echo "$image" >&3
