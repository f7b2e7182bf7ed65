#!/bin/sh
# The USDT probes are in the ELF notes of the shared library.  $1: lib
set -e
for p in percpu_alloc_percpu percpu_alloc_percpu_fail percpu_free_percpu \
	 percpu_create_chunk percpu_destroy_chunk percpu_populate percpu_depopulate; do
	readelf -n "$1" | grep -q "Name: $p\$" || { echo "missing probe $p"; exit 1; }
	echo "probe libpcpu:$p"
done
