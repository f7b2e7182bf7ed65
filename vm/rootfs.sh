#!/bin/bash
# vm/rootfs.sh ARCH SUITE DIR - a minimal Debian root filesystem for the test
# guests, from Debian's archive (the mirror this machine's apt already uses):
# the suite's kernel, ctest (cmake) to run the suite, kmod and procps.  The
# initramfs holds only virtio, ext4 and 9p (small, and quick to build for
# arm64 under qemu-user).  ARCH: amd64 | arm64; SUITE: bookworm (glibc 2.36)
# | trixie (glibc 2.41).
set -euo pipefail
arch=$1 suite=$2 dir=$3
here=$(cd "$(dirname "$0")" && pwd)
mirror=$("$here/mirror.sh")
[ "$arch" = amd64 ] || "$here/binfmt.sh" on
hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/etc/initramfs-tools/hooks"
echo MODULES=list > "$1/etc/initramfs-tools/conf.d/pcpu-vm.conf"
cat > "$1/etc/initramfs-tools/hooks/pcpu-vm" <<"H"
#!/bin/sh
case "$1" in prereqs) exit 0;; esac
. /usr/share/initramfs-tools/hook-functions
for m in virtio_pci virtio_blk virtio_mmio ext4 9pnet_virtio 9p; do force_load $m; done
H
chmod +x "$1/etc/initramfs-tools/hooks/pcpu-vm"'
rm -rf "$dir.tmp"
mmdebstrap --arch="$arch" --variant=minbase \
	--include="linux-image-$arch,cmake,kmod,procps,initramfs-tools" \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--essential-hook="$hook" \
	"$suite" "$dir.tmp" "$mirror"
install -m 755 "$here/guest-init.sh" "$dir.tmp/sbin/pcpu-vm-init"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
