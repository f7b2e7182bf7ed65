#!/bin/bash
# vm/kernel.sh DEBARCH VERSION ROOT OUT - a Debian kernel other than the
# root's own: downloaded through a private apt configuration (the system's
# sources are not touched) from bookworm, trixie, their backports, forky,
# sid; unpacked into ROOT without dpkg (its modules are needed there to
# build the initramfs); a small initramfs (virtio, ext4, 9p) built with
# ROOT's own tools.  VERSION is a package version prefix: 6.12, 7.3, or a
# whole one such as 7.3.4+deb13.  Writes OUT/vmlinuz and OUT/initrd.img.
set -euo pipefail
arch=$1 want=$2 root=$3 out=$4
here=$(cd "$(dirname "$0")" && pwd)
A=${PCPU_VM_DIR:?}/apt
mirror=$("$here/mirror.sh")
[ "$arch" = amd64 ] || "$here/binfmt.sh" on
mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/etc" "$out"
: >"$A/etc/sources.list"
for s in bookworm bookworm-updates bookworm-backports trixie trixie-updates \
	trixie-backports forky sid; do
	echo "deb [arch=amd64,arm64] $mirror $s main" >>"$A/etc/sources.list"
done
cat >"$A/apt.conf" <<CONF
Dir::Etc::SourceList "$A/etc/sources.list";
Dir::Etc::SourceParts "/nonexistent";
Dir::State::Lists "$A/lists";
Dir::Cache "$A/cache";
APT::Architectures { "amd64"; "arm64"; };
CONF
export APT_CONFIG=$A/apt.conf
[ -n "$(ls "$A"/lists/*Packages 2>/dev/null)" ] || apt-get update -qq
# the newest kernel ABI whose version starts with $want
ver=$(apt-cache search --names-only "^linux-(image|binary)-$want[^ ]*-$arch\$" |
	awk '{print $1}' | sed -E "s/^linux-(image|binary)-//; s/-$arch\$//" |
	grep -v -- '-rt$\|-cloud$' | sort -V | tail -n 1)
[ -n "$ver" ] || { echo "vm: no Debian kernel $want for $arch" >&2; exit 1; }
echo "vm: kernel $ver ($arch)" >&2
debs=$out/debs
rm -rf "$debs"
mkdir -p "$debs"
case $ver in
7.*) pkgs=("linux-base-$ver-$arch:$arch" "linux-binary-$ver-$arch:$arch"
	"linux-modules-$ver-$arch:$arch") ;;
*) pkgs=("linux-image-$ver-$arch:$arch") ;;
esac
(cd "$debs" && apt-get download -qq "${pkgs[@]}")
for d in "$debs"/*.deb; do
	dpkg-deb --fsys-tarfile "$d" | tar -x --keep-directory-symlink -C "$root"
done
kdir=$(ls -d "$root"/usr/lib/modules/"$ver"*/ | head -n 1)
kver=$(basename "$kdir")
vmlinuz=$root/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || vmlinuz=$kdir/vmlinuz
[ -f "$root/boot/config-$kver" ] || cp "$kdir/config" "$root/boot/config-$kver"
chroot "$root" depmod "$kver"
mount -t proc proc "$root/proc"
trap 'umount "$root/proc"' EXIT
chroot "$root" mkinitramfs -o "/tmp/initrd.img-$kver" "$kver"
mv "$root/tmp/initrd.img-$kver" "$out/initrd.img"
cp "$vmlinuz" "$out/vmlinuz"
echo "$kver" >"$out/release"
rm -rf "$debs"
