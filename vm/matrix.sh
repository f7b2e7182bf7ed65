#!/bin/bash
# vm/matrix.sh - every guest of the environment matrix, one after the
# other, then the README's table from their runs (vm/table.sh).  Exit
# status: 0 when every guest passed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
# ARCH KERNEL GLIBC SMP MAXCPUS NUMA LABELS(all|quick)
guests=(
	"x86_64 6.1 2.36 2 - 0 all"
	"x86_64 6.12 2.41 2 - 0 all"
	"x86_64 7.3 2.36 2 - 0 all"
	"x86_64 7.3 2.41 2 - 0 all"
	"arm64 6.1 2.36 2 - 0 quick"
	"arm64 7.3 2.41 2 - 0 quick"
	"x86_64 6.12 2.41 16 - 0 quick"
	"x86_64 6.12 2.41 4 16 0 quick"
	"x86_64 6.12 2.41 4 - 2 quick"
)
fail=0
for g in "${guests[@]}"; do
	read -r arch kernel glibc smp max numa labels <<<"$g"
	[ "$max" = - ] && max=
	[ "$labels" = all ] && labels=
	ARCH=$arch KERNEL=$kernel GLIBC=$glibc SMP=$smp MAXCPUS=$max NUMA=$numa \
		LABELS=$labels "$here/test-vm.sh" || fail=1
done
"$here/table.sh"
exit $fail
