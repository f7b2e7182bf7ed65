// SPDX-License-Identifier: MIT
/*
 * percpu-stats.c - the allocator's statistics, printed in the layout of
 * the kernel's percpu_stats debugfs file: allocation info, global
 * counters, then one block per chunk.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pcpu.h>
#include <pcpu/ops.h>

#include "percpu-internal.h"

#define P(out, name, val) \
	fprintf(out, "  %-20s: %12lld\n", name, (long long)(val))

static const char pcpu_stats_rule[] =
	"----------------------------------------\n";

struct pcpu_chunk_stats {
	int nr_alloc, empty_pop_pages, first_bit, free_bytes, contig_bytes;
	int dirty_bytes, sum_frag, max_frag, cur_min, cur_med, cur_max;
	size_t max_alloc_size;
};

static int pcpu_cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/*
 * Walk the maps up to the last allocated bit: allocations by their
 * boundaries, free fragments between them.  Context: pcpu_g.lock.
 */
static void pcpu_chunk_stats(const struct pcpu_chunk *chunk, int *sizes,
			     struct pcpu_chunk_stats *st)
{
	int map_bits = pcpu_geo.unit_map_bits, last, start = 0, n = 0;

	memset(st, 0, sizeof(*st));
	last = find_prev_bit_from(chunk->alloc_map, 0, map_bits) + 1;
	while (start < last) {
		int end;

		if (test_bit(start, chunk->alloc_map)) {
			end = find_next_bit(chunk->bound_map, last, start + 1);
			sizes[n++] = (end - start) * PCPU_MIN_ALLOC_SIZE;
		} else {
			int frag;

			end = find_next_bit(chunk->alloc_map, last, start + 1);
			frag = (end - start) * PCPU_MIN_ALLOC_SIZE;
			st->sum_frag += frag;
			if (frag > st->max_frag)
				st->max_frag = frag;
		}
		start = end;
	}
	qsort(sizes, n, sizeof(int), pcpu_cmp_int);
	if (n) {
		st->cur_min = sizes[0];
		st->cur_med = sizes[(n - 1) / 2];
		st->cur_max = sizes[n - 1];
	}
	st->nr_alloc = chunk->nr_alloc;
	st->max_alloc_size = chunk->max_alloc_size;
	st->empty_pop_pages = chunk->nr_empty_pop_pages;
	st->first_bit = chunk->chunk_md.first_free;
	st->free_bytes = chunk->free_bytes;
	st->contig_bytes = chunk->chunk_md.contig_hint * PCPU_MIN_ALLOC_SIZE;
	st->dirty_bytes = chunk->dirty_bytes;
}

static void pcpu_chunk_stats_print(FILE *out, const struct pcpu_chunk_stats *st)
{
	P(out, "nr_alloc", st->nr_alloc);
	P(out, "max_alloc_size", st->max_alloc_size);
	P(out, "empty_pop_pages", st->empty_pop_pages);
	P(out, "first_bit", st->first_bit);
	P(out, "free_bytes", st->free_bytes);
	P(out, "contig_bytes", st->contig_bytes);
	P(out, "sum_frag", st->sum_frag);
	P(out, "max_frag", st->max_frag);
	P(out, "cur_min_alloc", st->cur_min);
	P(out, "cur_med_alloc", st->cur_med);
	P(out, "cur_max_alloc", st->cur_max);
	P(out, "memcg_aware", 0);
	P(out, "dirty_bytes", st->dirty_bytes);
	fputc('\n', out);
}

static const char *pcpu_chunk_label(int slot)
{
	if (slot == pcpu_geo.to_depopulate_slot)
		return "Chunk (to_depopulate)\n";
	if (slot == pcpu_geo.sidelined_slot)
		return "Chunk (sidelined):\n";
	return "Chunk:\n";
}

/* The chunks and their slots, snapshotted.  Context: alloc_mutex. */
static size_t pcpu_stats_chunks(struct pcpu_chunk ***chunksp, int **slotsp)
{
	size_t n = 0, cap = pcpu_g.lookup_used ? pcpu_g.lookup_used : 1;
	struct pcpu_chunk **chunks = calloc(cap, sizeof(*chunks)), *c;
	int *slots = calloc(cap, sizeof(*slots)), slot;

	if (!chunks || !slots) {
		free(chunks);
		free(slots);
		return (size_t)-1;
	}
	pcpu_lock();
	for (slot = 0; slot < pcpu_geo.nr_slots; slot++)
		list_for_each_entry (c, &pcpu_g.chunk_lists[slot], list)
			if (n < cap) {
				chunks[n] = c;
				slots[n++] = slot;
			}
	pcpu_unlock();
	*chunksp = chunks;
	*slotsp = slots;
	return n;
}

struct pcpu_units_seen {
	char *base;
	unsigned char *seen; /* one byte per unit */
};

/* a run of present pages of one chunk: mark the units it covers */
static void pcpu_units_run(char *start, char *end, void *arg)
{
	struct pcpu_units_seen *s = arg;
	size_t first = (size_t)(start - s->base) / pcpu_geo.unit_size;
	size_t last = (size_t)(end - 1 - s->base) / pcpu_geo.unit_size;

	for (size_t u = first; u <= last; u++)
		if (u >= 1 && u <= pcpu_geo.nr_units)
			s->seen[u - 1] = 1;
}

/*
 * How many units have a page in some chunk, and the highest one; -1, -1
 * where the kernel cannot say (asking costs one scan per chunk; nothing
 * is read).  The chunks are walked through the reverse lookup, which only
 * changes under the mutex; nothing is allocated (a child forked meanwhile,
 * or an allocator that does not lock across fork, is not disturbed).
 * Context: takes pcpu_g.alloc_mutex.
 */
static void pcpu_stats_units(int *nr, int *max)
{
	static unsigned char seen[PCPU_MAX_UNITS]; /* under the mutex */
	struct pcpu_units_seen s = {NULL, seen};
	bool ok = true;

	*nr = *max = -1;
	if (!pcpu_geo.caps.pagemap_scan && !pcpu_geo.caps.pagemap_read)
		return;
	pcpu_mutex_lock();
	memset(seen, 0, pcpu_geo.nr_units);
	for (size_t i = 0; ok && i < pcpu_g.lookup_cap; i++) {
		struct pcpu_chunk *c = pcpu_g.lookup[i];

		if (!c)
			continue;
		s.base = c->base_addr;
		ok = !pcpu_os_scan_present(s.base + pcpu_geo.unit_size,
					   (size_t)pcpu_geo.nr_units *
						   pcpu_geo.unit_size,
					   pcpu_units_run, &s);
	}
	if (ok) {
		*nr = 0;
		for (unsigned int u = 0; u < pcpu_geo.nr_units; u++)
			if (seen[u]) {
				++*nr;
				*max = (int)u;
			}
	}
	pcpu_mutex_unlock();
}

static const char *pcpu_errno_name(int err)
{
	switch (err) {
	case EPERM:
		return "EPERM";
	case ENOSYS:
		return "ENOSYS";
	case EINVAL:
		return "EINVAL";
	case EFAULT:
		return "EFAULT";
	default:
		return "refused";
	}
}

/* Which placement runs: "mbind" (PCPU_NUMA=bind), or first touch and why.
 * Context: pcpu_g.alloc_mutex. */
static void pcpu_status_placement(FILE *out)
{
	lockdep_assert_held_mutex();
	if (pcpu_g.numa_fallback_err)
		fprintf(out, "NUMA placement: first touch (mbind: %s)\n",
			pcpu_errno_name(pcpu_g.numa_fallback_err));
	else if (pcpu_geo.unit_node && pcpu_geo.numa_bind)
		fprintf(out, "NUMA placement: mbind (PCPU_NUMA=bind)\n");
	else if (pcpu_geo.caps.nr_nodes <= 1)
		fprintf(out, "NUMA placement: first touch (one node)\n");
	else if (!pcpu_geo.numa_bind)
		fprintf(out, "NUMA placement: first touch (%d nodes)\n",
			pcpu_geo.caps.nr_nodes);
	else
		fprintf(out, "NUMA placement: first touch (CPUs interleaved "
			     "over nodes)\n");
}

/* The modes the process runs in, one line each.  Context: alloc_mutex. */
static void pcpu_status_lines(FILE *out)
{
	const struct pcpu_os_caps *caps = &pcpu_geo.caps;
	const char *why;

	if (pcpu_ops_mode(&why) == PCPU_OPS_RSEQ)
		fprintf(out, "this-CPU operations: rseq (%s)\n", why);
	else
		fprintf(out, "this-CPU operations: atomic (reason: %s)\n", why);
	pcpu_status_placement(out);
	fprintf(out, "guard regions: %s\n",
		caps->guard_regions ? "guard markers"
		: pcpu_geo.strict_refused
			? "mprotect fallback (strict mode refused)"
			: "mprotect fallback");
	fprintf(out, "presence scan: %s\n",
		caps->pagemap_scan   ? "PAGEMAP_SCAN"
		: caps->pagemap_read ? "pagemap"
				     : "none (sums and the cleaner read every "
				       "unit)");
	fprintf(out, "batched advice: %s\n",
		caps->batch_advice ? "process_madvise"
				   : "none (one madvise per unit)");
}

/**
 * pcpu_stats_summary - the status lines and the statistics in brief
 * @out: the stream
 *
 * What PCPU_SHOW_STATS=1 prints at exit: the lines of pcpu_status_print(),
 * then one line of objects (live, allocated, freed, cached in the threads'
 * caches), one of memory (chunks, populated pages a unit, units with pages,
 * the highest one).  PCPU_SHOW_STATS=2 prints pcpu_stats_print() instead.
 *
 * Context: takes pcpu_g.alloc_mutex and pcpu_g.lock.
 * Return: 0, or -errno.
 */
int pcpu_stats_summary(FILE *out)
{
	struct pcpu_stats_info info;
	int ret = pcpu_stats_get(&info);

	if (ret)
		return ret;
	pcpu_mutex_lock();
	pcpu_status_lines(out);
	pcpu_mutex_unlock();
	fprintf(out,
		"objects: %llu live (%llu allocated, %llu freed), %lu in "
		"thread caches\n",
		info.nr_cur_alloc, info.nr_alloc, info.nr_dealloc,
		info.nr_cached);
	fprintf(out,
		"memory: %lu chunks of %u units x %zu KiB, %lu pages "
		"populated a unit, %d units with pages (highest %d)\n",
		info.nr_chunks, info.nr_units, info.unit_size >> 10,
		info.nr_populated_pages, info.units_with_pages,
		info.max_unit_with_pages);
	return ferror(out) ? -EIO : 0;
}

/**
 * pcpu_status_print - say which mode each capability runs in
 * @out: the stream
 *
 * Five lines: "this-CPU operations: rseq (cpu_id)" or "atomic (reason:
 * ...)" (see pcpu_ops_mode()), "NUMA placement: first touch (...)" or
 * "mbind (PCPU_NUMA=bind)", "guard regions: guard markers" or "mprotect
 * fallback", "presence scan: PAGEMAP_SCAN", "pagemap" or "none (...)", "batched
 * advice: process_madvise" or "none (...)".  Every capability was verified by
 * its effect at start-up; pcpu_stats_print() begins with the same lines.
 *
 * Context: takes pcpu_g.alloc_mutex.
 * Return: 0, or -errno (-EINVAL for a NULL @out, -ENOMEM if the allocator
 * cannot start, -EIO if @out failed).
 */
int pcpu_status_print(FILE *out)
{
	if (!out)
		return -EINVAL;
	if (pcpu_ensure_init())
		return -ENOMEM;
	pcpu_mutex_lock();
	pcpu_status_lines(out);
	pcpu_mutex_unlock();
	return ferror(out) ? -EIO : 0;
}

/**
 * pcpu_stats_print - write the allocator's statistics
 * @out: the stream
 *
 * The lines of pcpu_status_print(), then the kernel's percpu_stats
 * text: "Percpu Memory Statistics", the
 * allocation info, the global stats (nr_alloc, nr_dealloc, nr_cur_alloc,
 * nr_max_alloc, nr_chunks, nr_max_chunks, min_alloc_size, max_alloc_size,
 * empty_pop_pages) and per-chunk stats with the kernel's fields, plus
 * libpcpu's own lines (nr_units; units_with_pages and max_unit_with_pages,
 * -1 without a presence scan; dirty_bytes: freed bytes awaiting the
 * cleaner).  Nothing is printed while a lock is held.
 *
 * Context: takes pcpu_g.alloc_mutex and, briefly, pcpu_g.lock.
 * Return: 0, or -errno (-EINVAL for a NULL @out, -ENOMEM if the allocator
 * cannot start or the report finds no memory, -EIO if @out failed).
 */
int pcpu_stats_print(FILE *out)
{
	struct pcpu_chunk **chunks = NULL;
	struct pcpu_chunk_stats st;
	struct pcpu_stats s;
	int *slots = NULL, *sizes, empty, units, max_unit;
	unsigned long cached, frees;
	size_t n, i;

	if (!out)
		return -EINVAL;
	if (pcpu_ensure_init())
		return -ENOMEM;
	pcpu_stats_units(&units, &max_unit);
	sizes = malloc((size_t)pcpu_geo.unit_map_bits * sizeof(int));
	if (!sizes)
		return -ENOMEM;
	pcpu_mutex_lock();
	n = pcpu_stats_chunks(&chunks, &slots);
	if (n == (size_t)-1) {
		pcpu_mutex_unlock();
		free(sizes);
		return -ENOMEM;
	}
	pcpu_lock();
	s = pcpu_g.stats;
	cached = pcpu_tcache_count(&frees);
	empty = pcpu_g.nr_empty_pop_pages;
	pcpu_unlock();
	/* what the program holds: the thread caches' areas left out, their
	 * buffered frees counted */
	s.nr_alloc -= cached;
	s.nr_dealloc += frees;
	s.nr_cur_alloc -= cached + frees;

	pcpu_status_lines(out);
	fprintf(out, "\nPercpu Memory Statistics\nAllocation Info:\n%s",
		pcpu_stats_rule);
	P(out, "unit_size", pcpu_geo.unit_size);
	P(out, "static_size", 0);
	P(out, "reserved_size", 0);
	P(out, "dyn_size", pcpu_geo.unit_size);
	P(out, "atom_size", pcpu_geo.page_size);
	P(out, "alloc_size", pcpu_geo.unit_size);
	P(out, "nr_units", pcpu_geo.nr_units);
	fprintf(out, "\nGlobal Stats:\n%s", pcpu_stats_rule);
	P(out, "nr_alloc", s.nr_alloc);
	P(out, "nr_dealloc", s.nr_dealloc);
	P(out, "nr_cur_alloc", s.nr_cur_alloc);
	P(out, "nr_max_alloc", s.nr_max_alloc);
	P(out, "nr_chunks", s.nr_chunks);
	P(out, "nr_max_chunks", s.nr_max_chunks);
	P(out, "min_alloc_size", s.min_alloc_size);
	P(out, "max_alloc_size", s.max_alloc_size);
	P(out, "empty_pop_pages", empty);
	P(out, "units_with_pages", units);
	P(out, "max_unit_with_pages", max_unit);
	P(out, "nr_cached", cached);
	fprintf(out, "\nPer Chunk Stats:\n%s", pcpu_stats_rule);
	for (i = 0; i < n; i++) {
		pcpu_lock();
		pcpu_chunk_stats(chunks[i], sizes, &st);
		pcpu_unlock();
		fputs(pcpu_chunk_label(slots[i]), out);
		pcpu_chunk_stats_print(out, &st);
	}
	pcpu_mutex_unlock();
	free(chunks);
	free(slots);
	free(sizes);
	return ferror(out) ? -EIO : 0;
}

/**
 * pcpu_stats_get - read the allocator's counters
 * @info: filled in
 *
 * The units with pages are asked of the kernel (one presence scan per
 * chunk); no unit page is read.
 *
 * Context: takes pcpu_g.lock briefly, then pcpu_g.alloc_mutex.
 * Return: 0, -EINVAL for a NULL @info, or -ENOMEM if the allocator cannot
 * start.
 */
int pcpu_stats_get(struct pcpu_stats_info *info)
{
	unsigned long frees;

	if (!info)
		return -EINVAL;
	if (pcpu_ensure_init())
		return -ENOMEM;
	pcpu_lock();
	info->nr_cached = pcpu_tcache_count(&frees);
	info->nr_alloc = pcpu_g.stats.nr_alloc - info->nr_cached;
	info->nr_dealloc = pcpu_g.stats.nr_dealloc + frees;
	info->nr_cur_alloc =
		pcpu_g.stats.nr_cur_alloc - info->nr_cached - frees;
	info->nr_chunks = pcpu_g.stats.nr_chunks;
	info->nr_populated_pages = (unsigned long)pcpu_g.nr_populated;
	info->empty_pop_pages = (unsigned long)pcpu_g.nr_empty_pop_pages;
	info->dirty_bytes = pcpu_g.dirty_bytes;
	pcpu_unlock();
	info->nr_units = pcpu_geo.nr_units;
	info->unit_size = pcpu_geo.unit_size;
	pcpu_stats_units(&info->units_with_pages, &info->max_unit_with_pages);
	return 0;
}
