#!/bin/sh
# The shared library exports pcpu_* only, every one under a version node
# of src/libpcpu.map (PCPU_<major>.<minor>).  $1: libpcpu.so
set -e
lib="$1"
syms=$(nm -D --defined-only "$lib" | awk '{print $3}')
bad=0
for s in $syms; do
	case "$s" in
	PCPU_[0-9]*.[0-9]*) ;;
	pcpu_*@@PCPU_[0-9]*.[0-9]*) ;;
	*) echo "exported without the pcpu_ prefix or the version node: $s"; bad=1 ;;
	esac
done
# nothing test-only: injection, resets, faked capabilities
for s in $syms; do
	case "$s" in
	*inject* | *test* | *force* | *fake*)
		echo "test-only symbol exported: $s"; bad=1 ;;
	esac
done
n=$(echo "$syms" | grep -c '^pcpu_' || true)
echo "$n pcpu_ symbols exported"
echo "$syms" | sed 's/@@.*//' | grep '^pcpu_' | sort | tr '\n' ' '; echo
[ "$n" -gt 10 ] && [ $bad -eq 0 ]
