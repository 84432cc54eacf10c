#!/bin/sh
# Runs test/gpio/onoff-adapter.test.ts against a real Linux kernel's sysfs GPIO, with simulated
# lines (gpio-sim) that raise real edge interrupts, on an x86-64 build machine without GPIO.
#
# Debian's kernels (bookworm amd64 6.1, trixie arm64 6.12) are built without CONFIG_GPIO_SIM and
# CONFIG_IRQ_SIM, so this builds gpio-sim (with irq_sim folded in) as an out-of-tree module from
# the matching Debian kernel source, then boots that kernel in QEMU (TCG: nested KVM hangs on the
# CI machines) with an initramfs holding this machine's node and the project.
#
# Needs: root, apt-get, gcc-12, make, qemu-system-x86 (apt). Usage: test/gpio/run-onoff-adapter-in-vm.sh
# Exit status: the test run's. WORK (default /tmp/intercom-gpio-vm) caches the downloads.
set -eu

PROJECT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-/tmp/intercom-gpio-vm}
mkdir -p "$WORK"
cd "$WORK"

KPKG=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
KVER=${KPKG#linux-image-}            # e.g. 6.1.0-56-amd64
KSERIES=$(echo "$KVER" | cut -d. -f1-2)  # e.g. 6.1
ABI=${KVER%-amd64}                   # e.g. 6.1.0-56
echo "kernel $KVER"

for pkg in "linux-image-$KVER" "linux-headers-$KVER" "linux-headers-$ABI-common" "linux-kbuild-$KSERIES" "linux-source-$KSERIES" busybox-static; do
  ls "${pkg}"_*.deb >/dev/null 2>&1 || apt-get download "$pkg"
done

# ---- gpio-sim as an out-of-tree module -----------------------------------------------------------
if [ ! -f mod/gpio-sim.ko ]; then
  rm -rf hdr src mod && mkdir -p hdr src mod
  for pkg in "linux-headers-$KVER" "linux-headers-$ABI-common" "linux-kbuild-$KSERIES"; do dpkg-deb -x "${pkg}"_*.deb hdr; done
  # The headers' Makefile includes the common tree by absolute path; point it at our copy.
  sed -i "s#/usr/src/linux-headers-$ABI-common#$WORK/hdr/usr/src/linux-headers-$ABI-common#" "hdr/usr/src/linux-headers-$KVER/Makefile"
  dpkg-deb --fsys-tarfile "linux-source-${KSERIES}"_*.deb | tar -x -C src "./usr/src/linux-source-$KSERIES.tar.xz"
  tar -x -C src -f "src/usr/src/linux-source-$KSERIES.tar.xz" \
    "linux-source-$KSERIES/drivers/gpio/gpio-sim.c" "linux-source-$KSERIES/drivers/gpio/gpiolib.h" "linux-source-$KSERIES/kernel/irq/irq_sim.c"
  cp "src/linux-source-$KSERIES/drivers/gpio/gpio-sim.c" mod/gpio-sim-main.c
  cp "src/linux-source-$KSERIES/drivers/gpio/gpiolib.h" "src/linux-source-$KSERIES/kernel/irq/irq_sim.c" mod/
  # irq_to_desc() is not exported to modules; generic_handle_irq_safe() runs the same handler.
  sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq_safe(irqnum);/' mod/irq_sim.c
  printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-main.o irq_sim.o\n' > mod/Kbuild
  make -s -C "hdr/usr/src/linux-headers-$KVER" M="$WORK/mod" modules
  rm -rf src
fi

# ---- initramfs: busybox, node, the project -------------------------------------------------------
rm -rf root bb kimg && mkdir -p root/bin root/proc root/sys root/dev root/tmp root/lib/modules root/usr/bin root/work
dpkg-deb -x busybox-static_*.deb bb && cp bb/bin/busybox root/bin/
dpkg-deb -x "linux-image-$KVER"_*.deb kimg
cp "kimg/boot/vmlinuz-$KVER" vmlinuz
cp "kimg/lib/modules/$KVER/kernel/fs/configfs/configfs.ko" mod/gpio-sim.ko root/lib/modules/
NODE=$(command -v node)
cp "$NODE" root/usr/bin/node
for lib in $(ldd "$NODE" | grep -o '/lib[^ ]*'); do mkdir -p "root$(dirname "$lib")"; cp -L "$lib" "root$lib"; done
mkdir -p root/work/project
cp -a "$PROJECT/package.json" "$PROJECT/tsconfig.json" "$PROJECT/config" "$PROJECT/src" "$PROJECT/test" "$PROJECT/node_modules" root/work/project/
rm -rf root/work/project/node_modules/typescript root/work/project/node_modules/playwright-core
cat > root/init <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
insmod /lib/modules/configfs.ko
mount -t configfs none /sys/kernel/config
insmod /lib/modules/gpio-sim.ko
cd /work/project
node node_modules/ava/entrypoints/cli.mjs test/gpio/onoff-adapter.test.ts --verbose 2>&1
echo "AVA-EXIT=$?"
echo "left behind: exported [$(ls /sys/class/gpio | grep -v -e export -e gpiochip | tr '\n' ' ')] gpio-sim [$(ls /sys/kernel/config/gpio-sim | tr '\n' ' ')]"
poweroff -f
EOF
chmod +x root/init
(cd root && find . | ../bb/bin/busybox cpio -o -H newc > ../initrd.cpio 2>/dev/null)

# ---- boot ----------------------------------------------------------------------------------------
timeout 900 qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 2048 -nographic -no-reboot \
  -kernel vmlinuz -initrd initrd.cpio -append "console=ttyS0 rdinit=/init panic=-1 quiet" | tr -d '\r' | tee vm.log
status=$(sed -n 's/^AVA-EXIT=\([0-9]*\).*/\1/p' vm.log)
[ -n "$status" ] || { echo "the test run did not finish in the VM" >&2; exit 1; }
exit "$status"
