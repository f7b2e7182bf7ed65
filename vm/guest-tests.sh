#!/bin/sh
# vm/guest-tests.sh BUILD JOBS LABELS - run inside a test guest: the
# project's ctest suite of BUILD (built on the host for this guest's
# architecture), the cases labelled LABELS ("quick", or "" for all), never
# the memcheck ones or those that need the host's tools ("host").  Prints
# what the guest is and which modes libpcpu runs in first.
set -u
build=$1 jobs=$2 labels=$3
# TCG runs 3-60x slower than this host: the long loops are shortened as
# under memcheck (the same contracts, fewer iterations).  AArch64 under TCG
# is the slowest: there, with another guest sharing this host's two cores,
# the atomic-fallback cases (ops_exact_without_rseq,
# ops_exact_with_fewer_units_than_cpus) ran out of their 600 s at 10^5.
ops=100000
[ "$(uname -m)" = aarch64 ] && ops=40000
export PCPU_TEST_SCALE=${PCPU_TEST_SCALE:-5} PCPU_TEST_OPS=${PCPU_TEST_OPS:-$ops}
cd "$build" || exit 1
# MAXCPUS guests: all but the first pcpu_online CPUs go offline
online=$(sed -n 's/.*pcpu_online=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "$online" ]; then
	for c in /sys/devices/system/cpu/cpu[0-9]*; do
		[ "${c##*cpu}" -ge "$online" ] && echo 0 >"$c/online"
	done
fi
echo "guest: Linux $(uname -r) $(uname -m); $(ldd --version 2>&1 | head -n 1)"
echo "guest: CPUs online $(cat /sys/devices/system/cpu/online), possible $(cat /sys/devices/system/cpu/possible); NUMA nodes $(cat /sys/devices/system/node/online 2>/dev/null || echo 0)"
# the case lists: written by the programs themselves (a cross build could
# not run them on the host)
for f in tests/*_tests.cmake; do
	p=${f%_tests.cmake}
	[ -x "$p" ] && "$p" --list "$p.cases"
done
echo "guest: status lines:"
PCPU_SHOW_STATS=1 examples/pcpu-demo 2>&1 >/dev/null | head -n 5 | sed 's/^/  /'
start=$(cut -d' ' -f1 /proc/uptime)
if [ -n "$labels" ]; then
	ctest --output-on-failure -j "$jobs" -L "$labels" -LE "memcheck|host"
else
	ctest --output-on-failure -j "$jobs" -LE "memcheck|host"
fi
rc=$?
# On AArch64 the rseq critical sections have run nowhere else: the delay-
# injection and re-check builds too, whatever the labels.
if [ "$(uname -m)" = aarch64 ] && [ -n "$labels" ]; then
	ctest --output-on-failure -R '^ops_exact_under_migration_(injected|rechecked)(_by_mm_cid)?$' || rc=1
fi
echo "guest: ctest took $(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN{printf "%.0f", b-a}') s, exit $rc"
exit $rc
