#!/bin/sh
# PID 1 of a test guest (kernel command line: init=/sbin/pcpu-vm-init
# pcpu_share=HOSTPATH pcpu_run=SCRIPT).  Mounts the host's share (9p tag
# "pcpu") at the same path it has on the host, so that the build's absolute
# paths hold; runs SCRIPT (a path under the share) with its output on the
# console and in SCRIPT.log; writes its exit status to SCRIPT.rc; powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -o remount,rw / 2>/dev/null
hostname pcpu-guest
for a in $(cat /proc/cmdline); do
	case $a in
	pcpu_share=*) share=${a#pcpu_share=} ;;
	pcpu_run=*) run=${a#pcpu_run=} ;;
	esac
done
echo "pcpu-vm: init up at $(cut -d' ' -f1 /proc/uptime) s"
modprobe 9pnet_virtio 2>/dev/null
modprobe 9p 2>/dev/null
mkdir -p "$share"
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 pcpu "$share"; then
	(sh "$run"; echo $? >"$run.rc") 2>&1 | tee "$run.log"
	echo "pcpu-vm: $run exit status $(cat "$run.rc")"
	sync
	umount "$share"
else
	echo "pcpu-vm: 9p mount of $share failed"
fi
echo "pcpu-vm: done at $(cut -d' ' -f1 /proc/uptime) s"
sync
echo o >/proc/sysrq-trigger
sleep 5
poweroff -f
