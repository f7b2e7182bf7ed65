#!/bin/bash
# vm/table.sh - the README's table of test guests, from the last run of
# each guest under build/vm/runs/ (vm/row.sh), written between the
# README's "vm-table" markers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
t=$(mktemp)
{
	echo "| kernel | arch | glibc | CPUs | this-CPU operations | NUMA placement | guard regions | presence scan | batched advice | cases passed (labels) | wall |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	cat "$top"/build/vm/runs/*/row.md 2>/dev/null | sort -V
} >"$t"
awk -v t="$t" '
	/<!-- vm-table begin -->/ { print; while ((getline l < t) > 0) print l; skip = 1; next }
	/<!-- vm-table end -->/ { skip = 0 }
	!skip' "$top/README.md" >"$top/README.md.new"
mv "$top/README.md.new" "$top/README.md"
cat "$t"
rm -f "$t"
