#!/bin/bash
# vm/matrix.sh - every guest of the environment matrix, one after the
# other; writes build/vm/matrix.md (one row per guest: kernel, arch, glibc,
# shape, the status lines libpcpu printed there, ctest's summary, wall
# time).  Exit status: 0 when every guest passed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
out=$top/build/vm/matrix.md
# ARCH KERNEL GLIBC SMP MAXCPUS NUMA LABELS(all|quick)
guests=(
	"x86_64 6.1 2.36 2 - 0 all"
	"x86_64 6.12 2.41 2 - 0 all"
	"x86_64 7.3 2.36 2 - 0 all"
	"x86_64 7.3 2.41 2 - 0 all"
	"arm64 6.1 2.36 2 - 0 quick"
	"arm64 7.3 2.41 2 - 0 quick"
	"x86_64 7.3 2.41 16 - 0 quick"
	"x86_64 6.12 2.41 4 16 0 quick"
	"x86_64 6.12 2.41 4 - 2 quick"
)
mkdir -p "$(dirname "$out")"
{
	echo "| kernel | arch | glibc | CPUs | this-CPU operations | guard regions | presence scan | NUMA placement | ctest | wall |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
} >"$out"
fail=0
for g in "${guests[@]}"; do
	read -r arch kernel glibc smp max numa labels <<<"$g"
	[ "$max" = - ] && max=
	[ "$labels" = all ] && labels=
	log=$(mktemp)
	ARCH=$arch KERNEL=$kernel GLIBC=$glibc SMP=$smp MAXCPUS=$max NUMA=$numa \
		LABELS=$labels "$here/test-vm.sh" | tee "$log"
	rc=${PIPESTATUS[0]}
	[ "$rc" = 0 ] || fail=1
	line() { grep -m1 "^  $1" "$log" | sed "s/^  $1: //"; }
	rel=$(sed -n 's/^guest: Linux \([^ ]*\) .*/\1/p' "$log" | head -n 1)
	sum=$(grep -m1 'tests passed' "$log" | sed 's/,.*failed out of/ of/; s/ tests passed//')
	wall=$(sed -n 's/.*wall \([0-9]*\) s.*/\1/p' "$log" | head -n 1)
	cpus="$smp${max:+ (possible $max)}$([ "$numa" -gt 1 ] && echo ", $numa nodes")"
	echo "| ${rel:-$kernel} | $arch | $glibc | $cpus | $(line 'this-CPU operations') | $(line 'guard regions') | $(line 'presence scan') | $(line 'NUMA placement') | ${sum:-exit $rc}${labels:+ (quick)} | ${wall:-?} s |" >>"$out"
	rm -f "$log"
done
cat "$out"
exit $fail
