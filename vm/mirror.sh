#!/bin/bash
# vm/mirror.sh - the Debian mirror this machine's own apt sources name.
set -euo pipefail
m=$({ grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/ \
	/etc/apt/sources.list 2>/dev/null || true; } | head -n 1 | tr -d ' ')
[ -n "$m" ] || { echo "vm: no Debian mirror in this machine's apt sources" >&2; exit 1; }
echo "${m%/}"
