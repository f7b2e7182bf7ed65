#!/bin/bash
# vm/row.sh RUNDIR ARCH GLIBC SMP MAXCPUS NUMA LABELS RC WALL - the README
# table's row for one guest run, from what the guest printed.
set -uo pipefail
runs=$1 arch=$2 glibc=$3 smp=$4 max=$5 numa=$6 labels=$7 rc=$8 wall=$9
log=$runs/run.sh.log
line() { grep -a -m1 "^  $1: " "$log" 2>/dev/null | sed "s/^  $1: //"; }
rel=$(sed -n 's/^guest: Linux \([^ ]*\) .*/\1/p' "$log" 2>/dev/null | head -n 1)
sum=$(grep -a 'tests passed' "$log" 2>/dev/null | sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests failed out of ([0-9]+)/\1 \2/' |
	awk '{f += $1; n += $2} END {if (n) printf "%d/%d", n - f, n}')
cpus=$smp
[ -n "$max" ] && cpus="$cpus of $max possible"
[ "$numa" -gt 1 ] && cpus="$cpus, $numa nodes"
printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s (%s) | %s s |\n' \
	"${rel:-?}" "$arch" "$glibc" "$cpus" "$(line 'this-CPU operations')" \
	"$(line 'NUMA placement')" "$(line 'guard regions')" \
	"$(line 'presence scan')" "$(line 'batched advice')" \
	"${sum:-none}$([ "$rc" = 0 ] || echo " (exit $rc)")" "$labels" "$wall"
