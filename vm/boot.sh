#!/bin/bash
# vm/boot.sh ARCH IMAGE KERNEL INITRD SHARE SCRIPT TIMEOUT - boot a test
# guest headless under qemu's TCG (KVM does not boot guests on these
# machines) and have it run SCRIPT (a path under SHARE, which the guest
# mounts at the same path over 9p).  SMP, MAXCPUS, MEM and NUMA (0 or a
# node count) shape the guest.  Exit status: SCRIPT's, or 99 when the guest
# never said (timeout, panic).
set -uo pipefail
arch=$1 img=$2 kernel=$3 initrd=$4 share=$5 script=$6 tmo=$7
smp=${SMP:-2} mem=${MEM:-4G} numa=${NUMA:-0}
rm -f "$script.rc" "$script.log"
cpus=$smp online=
if [ -n "${MAXCPUS:-}" ]; then
	# possible CPUs > online: Linux 6.9+ does not count qemu's absent
	# hot-pluggable CPUs as possible (no "online capable" flag), so the
	# guest boots MAXCPUS and takes all but SMP offline before the tests
	cpus=$MAXCPUS
	online="pcpu_online=$smp"
fi
args=(-smp "$cpus" -m "$mem" -nographic -no-reboot
	-kernel "$kernel" -initrd "$initrd"
	-drive "file=$img,if=virtio,format=raw,cache=unsafe,snapshot=on"
	-virtfs "local,path=$share,mount_tag=pcpu,security_model=none,id=pcpu"
	-nic none)
if [ "$numa" -gt 1 ]; then
	# NUMA nodes of equal memory, each with a contiguous range of CPUs
	total=${MAXCPUS:-$smp} per=$((${mem%G} * 1024 / numa))
	for ((n = 0; n < numa; n++)); do
		lo=$((n * total / numa)) hi=$(((n + 1) * total / numa - 1))
		args+=(-object "memory-backend-ram,id=m$n,size=${per}M"
			-numa "node,nodeid=$n,cpus=$lo-$hi,memdev=m$n")
	done
fi
append="root=/dev/vda rw init=/sbin/pcpu-vm-init panic=-1 $online pcpu_share=$share pcpu_run=$script"
case $arch in
x86_64)
	# tsc=reliable: on a loaded host the clocksource watchdog otherwise
	# marks the TSC unstable, and the code patching that follows has
	# crashed 7.x guests under multi-threaded TCG
	cmd=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max -M q35
		"${args[@]}" -append "console=ttyS0 tsc=reliable $append")
	;;
arm64)
	# pauth-impdef: the cheap pointer-authentication algorithm (boots in
	# 5 s instead of 24 s)
	cmd=(qemu-system-aarch64 -M virt -accel tcg,thread=multi
		-cpu max,pauth-impdef=on "${args[@]}"
		-append "console=ttyAMA0 $append")
	;;
*)
	echo "vm: unknown ARCH $arch" >&2
	exit 2
	;;
esac
echo "+ ${cmd[*]}" >&2
start=$(date +%s)
timeout --foreground -k 10 "$tmo" "${cmd[@]}" </dev/null
qrc=$?
# the guest's status, once the share shows it (an empty read was seen once)
rc=
for try in 1 2 3 4 5; do
	rc=$(cat "$script.rc" 2>/dev/null)
	[ -n "$rc" ] && break
	sleep 1
done
echo "vm: qemu exit $qrc after $(($(date +%s) - start)) s; guest status: ${rc:-none}" >&2
case $rc in
'' | *[!0-9]*) exit 99 ;;
*) exit "$rc" ;;
esac
