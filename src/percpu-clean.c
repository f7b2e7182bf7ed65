// SPDX-License-Identifier: MIT
/*
 * percpu-clean.c - the cleaner: zero freed areas where they can be dirty,
 * then give them back to the free map.
 *
 * Memory handed out must read zero in every unit, but clearing a freed
 * area in every unit would fault in the page of every possible CPU.  So
 * pcpu_free() only marks the area dirty, and the cleaner (pcpu_clean_all(),
 * from the balance work or from an allocation that would otherwise need a
 * new chunk) asks the kernel which unit pages exist, clears the dirty bytes
 * in those only, then frees the areas (pcpu_free_area()) and puts the
 * chunk on the slot, the free list or the reclaim list its new state calls
 * for.
 */
#include <stdint.h>
#include <string.h>

#include "percpu-internal.h"
#include "sanitize.h"

struct pcpu_clean_ctx {
	struct pcpu_chunk *chunk;
	const unsigned long *dirty;
};

static bool pcpu_mem_is_zero(const char *p, size_t len)
{
	size_t i = 0;
	uint32_t h;
	uint64_t w;

	/* areas are 4-byte granular: one 4-byte head, then whole words */
	if (((uintptr_t)p & 7) && len >= 4) {
		memcpy(&h, p, 4);
		if (h)
			return false;
		i = 4;
	}
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		if (w)
			return false;
	}
	if (i < len) {
		memcpy(&h, p + i, 4);
		return h == 0;
	}
	return true;
}

/* Clear the dirty bytes of the unit pages [start, end), which exist. */
static void pcpu_clean_present(char *start, char *end, void *arg)
{
	struct pcpu_clean_ctx *ctx = arg;
	char *base = ctx->chunk->base_addr;
	int B = pcpu_geo.block_bits;
	char *page;

	for (page = start; page < end; page += pcpu_geo.page_size) {
		size_t off = (size_t)(page - base);
		char *unit = base + (off & ~(pcpu_geo.unit_size - 1));
		int pg = (int)((off & (pcpu_geo.unit_size - 1)) >>
			       pcpu_geo.page_shift);
		int rs, re;

		if (unit == base)
			continue; /* the guard unit */
		pcpu_for_each_run (ctx->dirty, pg * B, (pg + 1) * B, rs, re,
				   false) {
			char *p = unit + ((size_t)rs << PCPU_MIN_ALLOC_SHIFT);
			size_t len = (size_t)(re - rs) << PCPU_MIN_ALLOC_SHIFT;

			/* never write a page that already reads zero: on
			 * kernels with a shared zero page that write would
			 * allocate it */
			if (pcpu_san_active())
				pcpu_san_open(p, len);
			if (!pcpu_mem_is_zero(p, len))
				memset(p, 0, len);
			if (pcpu_san_active())
				pcpu_san_close(p, len);
		}
	}
}

/**
 * pcpu_clean_units - zero the areas of @dirty in every unit page of
 * @chunk that exists
 * @chunk: the chunk
 * @dirty: a copy of its dirty map (the areas stay allocated meanwhile, so
 *         nobody else writes them)
 *
 * One presence scan over the chunk's units; a page that was never touched
 * is neither read nor written, and a range that already reads zero is not
 * written (on kernels with a shared zero page that write would allocate
 * it).
 *
 * Context: pcpu_g.alloc_mutex; makes a system call; takes no spin lock.
 * Return: 0, or a negative errno when the kernel could not say which
 * pages exist (nothing was written).
 */
static int pcpu_clean_units(struct pcpu_chunk *chunk,
			    const unsigned long *dirty)
{
	struct pcpu_clean_ctx ctx = {chunk, dirty};

	lockdep_assert_held_mutex();
	return pcpu_os_scan_present(chunk->base_addr + pcpu_geo.unit_size,
				    pcpu_geo.chunk_size - pcpu_geo.unit_size,
				    pcpu_clean_present, &ctx);
}

static bool pcpu_should_reclaim_chunk(const struct pcpu_chunk *chunk)
{
	return (chunk->isolated && chunk->nr_empty_pop_pages) ||
	       (pcpu_g.nr_empty_pop_pages >
			PCPU_EMPTY_POP_PAGES_HIGH + chunk->nr_empty_pop_pages &&
		chunk->nr_empty_pop_pages >= chunk->nr_pages / 4);
}

/*
 * pcpu_clean_chunk - clear and free every area of @chunk that was dirty
 * when called.
 *
 * Context: pcpu_g.alloc_mutex; takes pcpu_g.lock; makes system calls.
 * Return: 0, or a negative errno when the kernel could not say which pages
 * exist (the areas then stay dirty, and nothing changed).
 */
static int pcpu_clean_chunk(struct pcpu_chunk *chunk)
{
	int map_bits = pcpu_geo.unit_map_bits, rs, re, oslot, ret, freed = 0;

	lockdep_assert_held_mutex();
	pcpu_lock();
	memcpy(pcpu_g.scratch, chunk->dirty_map,
	       BITS_TO_LONGS(map_bits) * sizeof(long));
	pcpu_unlock();

	ret = pcpu_clean_units(chunk, pcpu_g.scratch);
	if (ret)
		return ret;

	pcpu_lock();
	oslot = pcpu_chunk_slot(chunk);
	pcpu_for_each_run (pcpu_g.scratch, 0, map_bits, rs, re, false) {
		bitmap_clear(chunk->dirty_map, rs, re - rs);
		pcpu_free_area(chunk, rs, re - rs);
		freed += (re - rs) * PCPU_MIN_ALLOC_SIZE;
	}
	WRITE_ONCE(chunk->dirty_bytes, chunk->dirty_bytes - freed);
	WRITE_ONCE(pcpu_g.dirty_bytes, pcpu_g.dirty_bytes - (size_t)freed);
	if (chunk->free_bytes == (int)pcpu_geo.unit_size) {
		/* a wholly free chunk goes to the free slot, even from
		 * reclaim: a second one there is surplus, which the balance
		 * work destroys with a single munmap */
		if (!list_empty(&pcpu_g.chunk_lists[pcpu_geo.free_slot]))
			pcpu_balance_schedule();
		if (chunk->isolated)
			pcpu_reintegrate_chunk(chunk);
		else
			pcpu_chunk_relocate(chunk, oslot);
	} else if (pcpu_should_reclaim_chunk(chunk)) {
		pcpu_isolate_chunk(chunk);
		pcpu_balance_schedule();
	} else {
		pcpu_chunk_relocate(chunk, oslot);
	}
	PCPU_VERIFY(chunk, 0, map_bits);
	pcpu_unlock();
	return 0;
}

/*
 * pcpu_clean_all - clean every chunk with dirty areas.
 *
 * Context: pcpu_g.alloc_mutex (chunks cannot come or go meanwhile).
 */
void pcpu_clean_all(void)
{
	size_t i;

	lockdep_assert_held_mutex();
	if (!READ_ONCE(pcpu_g.dirty_bytes))
		return;
	for (i = 0; i < pcpu_g.lookup_cap; i++) {
		struct pcpu_chunk *c = pcpu_g.lookup[i];

		if (c && READ_ONCE(c->dirty_bytes))
			(void)pcpu_clean_chunk(c);
	}
}

/*
 * pcpu_clean_worthwhile - does cleaning beat a new chunk?  It does once
 * enough is dirty to pay for the presence scan.
 *
 * Context: any; reads the byte counts without a lock (a hint).
 * Return: true to clean first.
 */
bool pcpu_clean_worthwhile(void)
{
	size_t dirty = READ_ONCE(pcpu_g.dirty_bytes);

	return dirty >= pcpu_geo.unit_size &&
	       dirty >= READ_ONCE(pcpu_g.used_bytes) / 8;
}
