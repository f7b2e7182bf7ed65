// SPDX-License-Identifier: MIT
/*
 * percpu-clean.c - the cleaner: zero freed areas where they can be dirty.
 *
 * Memory handed out must read zero in every unit, but clearing a freed
 * area in every unit would fault in the page of every possible CPU.  So
 * pcpu_free() only marks the area dirty, and the cleaner (called by the
 * allocator's pcpu_clean_chunk(), from the balance work or from an
 * allocation that would otherwise need a new chunk) asks the kernel which
 * unit pages exist and clears the dirty bytes in those only.  The
 * allocator then returns the areas to the free map; this file owns only
 * the zeroing.
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
int pcpu_clean_units(struct pcpu_chunk *chunk, const unsigned long *dirty)
{
	struct pcpu_clean_ctx ctx = {chunk, dirty};

	lockdep_assert_held_mutex();
	return pcpu_os_scan_present(chunk->base_addr + pcpu_geo.unit_size,
				    pcpu_geo.chunk_size - pcpu_geo.unit_size,
				    pcpu_clean_present, &ctx);
}
