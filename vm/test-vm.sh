#!/bin/bash
# vm/test-vm.sh - build (once, cached under build/vm/) a Debian guest, boot
# it under qemu and run the project's tests inside, against a build for the
# guest's architecture made on this host; print ctest's summary.
#
#   KERNEL=6.1|6.12|7.3 (or a Debian version prefix)   default 6.1
#   ARCH=x86_64|arm64                                   default x86_64
#   GLIBC=2.36|2.41 (Debian 12 or 13 user space)        default 2.36
#   SMP=N  MAXCPUS=M (possible CPUs > online)  NUMA=0|N (nodes)  MEM=4G
#   LABELS=quick|"" (all)                               default quick
#   TIMEOUT=seconds for the guest                       default 3600
#   GUEST_RUN="command" runs that (in the project's directory, against the
#   same build) instead of the tests: make bench-vm-index
#
# Exit status: ctest's in the guest; 99 when the guest timed out or died.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
KERNEL=${KERNEL:-6.1} ARCH=${ARCH:-x86_64} GLIBC=${GLIBC:-2.36}
export SMP=${SMP:-2} MAXCPUS=${MAXCPUS:-} NUMA=${NUMA:-0} MEM=${MEM:-4G}
LABELS=${LABELS-quick} TIMEOUT=${TIMEOUT:-3600}
export PCPU_VM_DIR=$top/build/vm
V=$PCPU_VM_DIR

case $ARCH in
x86_64) debarch=amd64 ;;
arm64 | aarch64) ARCH=arm64 debarch=arm64 ;;
*) echo "vm: ARCH is x86_64 or arm64" >&2; exit 2 ;;
esac
case $GLIBC in
2.36) suite=bookworm native=6.1 ;;
2.41) suite=trixie native=6.12 ;;
*) echo "vm: GLIBC is 2.36 (bookworm) or 2.41 (trixie)" >&2; exit 2 ;;
esac
mkdir -p "$V"
root=$V/root-$debarch-$suite

# the root file system, with its own kernel
if [ ! -d "$root" ]; then
	echo "vm: building the $suite $debarch root (once)" >&2
	"$here/rootfs.sh" "$debarch" "$suite" "$root"
fi
# the kernel: the root's own, or one from Debian's archive
kd=$V/kernel-$debarch-$suite-$KERNEL
if [ ! -f "$kd/vmlinuz" ]; then
	mkdir -p "$kd"
	if [ "$KERNEL" = "$native" ]; then
		k=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n 1)
		cp "$k" "$kd/vmlinuz"
		cp "$root/boot/initrd.img-${k##*/vmlinuz-}" "$kd/initrd.img"
		echo "${k##*/vmlinuz-}" >"$kd/release"
	else
		"$here/kernel.sh" "$debarch" "$KERNEL" "$root" "$kd"
	fi
fi
# the disk image, remade when the root changed (the guest runs on a
# snapshot of it: nothing it writes stays)
img=$V/root-$debarch-$suite.ext4
if [ ! -f "$img" ] || [ -n "$(find "$root" -newer "$img" -print -quit)" ]; then
	install -m 755 "$here/guest-init.sh" "$root/sbin/pcpu-vm-init"
	rm -f "$img"
	mkfs.ext4 -q -F -L pcpuroot -d "$root" "$img" 3G
fi

# the build for the guest
if [ "$ARCH" = x86_64 ]; then
	build=$top/build/debug
	make -C "$top" build >&2
else
	build=$V/build-aarch64
	[ -f "$build/CMakeCache.txt" ] ||
		cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
			-DCMAKE_TOOLCHAIN_FILE="$here/aarch64-linux-gnu.cmake" >&2
	cmake --build "$build" -j "$(nproc)" >&2
fi

name=$ARCH-$KERNEL-glibc$GLIBC-smp$SMP${MAXCPUS:+-max$MAXCPUS}$(if [ "$NUMA" -gt 1 ]; then echo "-numa$NUMA"; fi)
runs=$V/runs/$name
mkdir -p "$runs"
if [ -n "${GUEST_RUN:-}" ]; then
	name=$name-run
	runs=$V/runs/$name
	mkdir -p "$runs"
	cat >"$runs/run.sh" <<RUN
cd "$top" && BUILD="$build" exec sh -c '$GUEST_RUN'
RUN
else
	cat >"$runs/run.sh" <<RUN
exec sh "$here/guest-tests.sh" "$build" "$SMP" "$LABELS"
RUN
fi
echo "vm: $name: Linux $(cat "$kd/release"), tests of $build" >&2
start=$(date +%s)
set +e
"$here/boot.sh" "$ARCH" "$img" "$kd/vmlinuz" "$kd/initrd.img" "$top" \
	"$runs/run.sh" "$TIMEOUT" >"$runs/console.log" 2>&1
rc=$?
set -e
wall=$(($(date +%s) - start))
echo "== $name ($(cat "$kd/release")): exit $rc, wall $wall s"
if [ -n "${GUEST_RUN:-}" ]; then
	cat "$runs/run.sh.log" 2>/dev/null || tail -n 30 "$runs/console.log"
	exit $rc
fi
if [ -f "$runs/run.sh.log" ]; then
	grep -E '^guest:|^  (this-CPU|NUMA|guard|presence|batched)' "$runs/run.sh.log" || true
	sed -n '/tests passed\|tests failed/,$p' "$runs/run.sh.log" |
		grep -v '^Label Time\|sec\*proc\|^$' || true
else
	tail -n 30 "$runs/console.log"
fi
echo "$name $rc $wall" >>"$V/runs/summary.txt"
"$here/row.sh" "$runs" "$ARCH" "$GLIBC" "$SMP" "$MAXCPUS" "$NUMA" \
	"${LABELS:-all}" "$rc" "$wall" >"$runs/row.md"
exit $rc
