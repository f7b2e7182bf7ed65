/* SPDX-License-Identifier: MIT */
/*
 * pcpu/stats.h - allocator statistics in the kernel's percpu_stats format.
 */
#ifndef PCPU_STATS_H
#define PCPU_STATS_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef PCPU_API
#define PCPU_API __attribute__((visibility("default")))
#endif

/**
 * struct pcpu_stats_info - the allocator's counters, for programs
 * @nr_alloc: allocations made
 * @nr_dealloc: frees
 * @nr_cur_alloc: live allocations
 * @nr_chunks: chunks
 * @nr_populated_pages: populated pages (each counts once for all units)
 * @empty_pop_pages: populated pages with no allocation
 * @dirty_bytes: freed bytes (per unit) not yet cleaned for reuse
 * @nr_units: units per chunk
 * @unit_size: bytes per unit
 * @units_with_pages: units that have a page in some chunk (written since
 *                    the page was last given back), or -1 where the kernel
 *                    offers no presence scan
 * @max_unit_with_pages: the highest such unit, -1 if none or unknown: with
 *                       units numbered by concurrency ID (PCPU_INDEX=cid)
 *                       it stays below the number of threads that wrote
 * @nr_cached: small clean areas the threads' caches hold, allocated in the
 *             chunks but not to the program (the counts above leave them
 *             out; a thread's go back when it exits or calls
 *             pcpu_balance(); at most 4 KiB a unit per thread)
 */
struct pcpu_stats_info {
	unsigned long long nr_alloc;
	unsigned long long nr_dealloc;
	unsigned long long nr_cur_alloc;
	unsigned long nr_chunks;
	unsigned long nr_populated_pages;
	unsigned long empty_pop_pages;
	size_t dirty_bytes;
	unsigned int nr_units;
	size_t unit_size;
	int units_with_pages;
	int max_unit_with_pages;
	unsigned long nr_cached;
};

PCPU_API int pcpu_stats_print(FILE *out);
PCPU_API int pcpu_stats_get(struct pcpu_stats_info *info);
/* which mode each capability runs in, one line each (the first lines of
 * pcpu_stats_print()) */
PCPU_API int pcpu_status_print(FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* PCPU_STATS_H */
