#!/bin/bash
# vm/binfmt.sh on|off - run arm64 programs on this host through a static
# qemu-aarch64 (from Debian's qemu-user-static package, unpacked, not
# installed), registered with binfmt_misc's F flag: mmdebstrap needs it to
# set up an arm64 root.
set -euo pipefail
V=${PCPU_VM_DIR:?}
Q=$V/qemu-static/usr/bin/qemu-aarch64-static
B=/proc/sys/fs/binfmt_misc
[ -e $B/register ] || mount -t binfmt_misc binfmt_misc $B
case ${1:-on} in
on)
	if [ ! -x "$Q" ]; then
		mkdir -p "$V/debs" "$V/qemu-static"
		(cd "$V/debs" && apt-get download qemu-user-static)
		dpkg-deb -x "$V"/debs/qemu-user-static_*.deb "$V/qemu-static"
	fi
	[ -e $B/qemu-aarch64 ] && echo -1 >$B/qemu-aarch64
	printf '%s' ":qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:$Q:OCF" >$B/register
	;;
off)
	[ -e $B/qemu-aarch64 ] && echo -1 >$B/qemu-aarch64
	;;
esac
