#!/bin/sh
# First boot: the image's root partition is as small as its contents; make it fill the card.
set -eu
root_dev=$(findmnt -no SOURCE /)
part_name=$(basename "$root_dev")
part_num=$(cat "/sys/class/block/$part_name/partition")
disk=/dev/$(basename "$(readlink -f "/sys/class/block/$part_name/..")")
echo "growing partition $part_num of $disk ($root_dev)"
# The disk is in use: write the table only, then tell the kernel the new size of this one partition.
echo ", +" | sfdisk --no-reread --no-tell-kernel -N "$part_num" "$disk"
partx -u -n "$part_num" "$disk"
resize2fs "$root_dev"
mkdir -p /var/lib/intercom-image
touch /var/lib/intercom-image/root-grown
