// SPDX-License-Identifier: MIT
/*
 * percpu-verify.c - the invariant checker of PCPU_DEBUG builds.
 *
 * pcpu_chunk_verify() recomputes a chunk's block hints, counters and slot
 * from its maps and aborts with a message on the first difference;
 * pcpu_verify_all() checks the global counters against the chunks.  Debug
 * builds run it after every operation (PCPU_VERIFY); the tests call it
 * directly.  It only reads the allocator's state.
 */
#include <stdio.h>
#include <stdlib.h>

#include "percpu-internal.h"

static void __attribute__((noreturn, cold))
pcpu_verify_fail(const struct pcpu_chunk *chunk, const char *what, int a, int b)
{
	fprintf(stderr, "libpcpu: invariant broken in chunk %p: %s (%d, %d)\n",
		chunk ? (void *)chunk->base_addr : NULL, what, a, b);
	abort();
}

#define VERIFY(cond, chunk, what, a, b)                      \
	do {                                                 \
		if (!(cond))                                 \
			pcpu_verify_fail(chunk, what, a, b); \
	} while (0)

static void pcpu_verify_block(const struct pcpu_chunk *chunk, int i)
{
	const struct pcpu_block_md *b = &chunk->md_blocks[i];
	struct pcpu_block_md t = {.nr_bits = pcpu_geo.block_bits};

	pcpu_md_scan(chunk->alloc_map, i * pcpu_geo.block_bits, &t);
	VERIFY(b->contig_hint == t.contig_hint, chunk, "block contig_hint", i,
	       b->contig_hint);
	VERIFY(!t.contig_hint || b->contig_hint_start == t.contig_hint_start,
	       chunk, "block contig_hint_start", i, b->contig_hint_start);
	VERIFY(b->left_free == t.left_free, chunk, "block left_free", i,
	       b->left_free);
	VERIFY(b->right_free == t.right_free, chunk, "block right_free", i,
	       b->right_free);
	VERIFY(b->first_free == t.first_free, chunk, "block first_free", i,
	       b->first_free);
	VERIFY(b->scan_hint >= t.scan_hint, chunk, "block scan_hint", i,
	       b->scan_hint);
}

/* The chunk-wide hints, recomputed from the blocks', must match. */
static void pcpu_verify_chunk_md(struct pcpu_chunk *chunk, bool whole)
{
	struct pcpu_block_md t = chunk->chunk_md;

	pcpu_chunk_refresh_hint(chunk);
	VERIFY(t.contig_hint == chunk->chunk_md.contig_hint, chunk,
	       "chunk contig_hint", t.contig_hint, chunk->chunk_md.contig_hint);
	VERIFY(t.first_free == chunk->chunk_md.first_free, chunk,
	       "chunk first_free", t.first_free, chunk->chunk_md.first_free);
	VERIFY(t.left_free == chunk->chunk_md.left_free &&
		       t.right_free == chunk->chunk_md.right_free,
	       chunk, "chunk left/right_free", t.left_free, t.right_free);
	if (whole) {
		int rs, re, before = 0;

		pcpu_for_each_run (chunk->alloc_map, 0, t.contig_hint_start, rs,
				   re, true)
			before = max_int(before, re - rs);
		VERIFY(t.scan_hint >= before, chunk, "chunk scan_hint",
		       t.scan_hint, before);
	}
	VERIFY(find_next_bit(chunk->alloc_map,
			     t.contig_hint_start + t.contig_hint,
			     t.contig_hint_start) >=
		       t.contig_hint_start + t.contig_hint,
	       chunk, "chunk contig region not free", t.contig_hint_start,
	       t.contig_hint);
	chunk->chunk_md = t;
}

/* The counters, recounted from the maps, must match. */
static void pcpu_verify_counts(const struct pcpu_chunk *chunk)
{
	int B = pcpu_geo.block_bits, map_bits = pcpu_geo.unit_map_bits, i;
	int nr_empty = 0, words = BITS_TO_LONGS(map_bits);

	VERIFY(chunk->free_bytes ==
		       (map_bits -
			bitmap_weight_range(chunk->alloc_map, 0, map_bits)) *
			       PCPU_MIN_ALLOC_SIZE,
	       chunk, "free_bytes", chunk->free_bytes, 0);
	VERIFY(chunk->dirty_bytes ==
		       bitmap_weight_range(chunk->dirty_map, 0, map_bits) *
			       PCPU_MIN_ALLOC_SIZE,
	       chunk, "dirty_bytes", chunk->dirty_bytes, 0);
	for (i = 0; i < words; i++)
		VERIFY(!(chunk->dirty_map[i] & ~chunk->alloc_map[i]), chunk,
		       "dirty area not allocated", i, 0);
	VERIFY(test_bit(map_bits, chunk->bound_map), chunk, "end bound", 0, 0);
	VERIFY(chunk->nr_populated == bitmap_weight_range(chunk->populated, 0,
							  chunk->nr_pages),
	       chunk, "nr_populated", chunk->nr_populated, 0);
	for (i = 0; i < pcpu_nr_blocks(); i++)
		if (test_bit(i, chunk->populated) &&
		    find_next_bit(chunk->alloc_map, (i + 1) * B, i * B) >=
			    (i + 1) * B)
			nr_empty++;
	VERIFY(chunk->nr_empty_pop_pages == nr_empty, chunk,
	       "nr_empty_pop_pages", chunk->nr_empty_pop_pages, nr_empty);
	VERIFY(chunk->isolated || chunk->slot < 0 /* not registered */ ||
		       chunk->slot == pcpu_chunk_slot(chunk) ||
		       chunk->slot == 0,
	       chunk, "slot", chunk->slot, pcpu_chunk_slot(chunk));
}

/**
 * pcpu_chunk_verify - check a chunk's invariants, abort on a broken one
 * @chunk: the chunk
 * @bit_start: first bit of the region just changed
 * @bit_end: end of that region
 *
 * The blocks over [@bit_start, @bit_end) are rescanned and compared with
 * their hints (exact, except the scan hint which must be an upper bound);
 * the chunk's hints are rebuilt and compared; the byte and page counters
 * are recounted (after a local change, one check in 16: that pass reads
 * every map); dirty areas must be allocated.  Runs after every operation
 * in PCPU_DEBUG builds.
 *
 * Context: pcpu_g.lock.
 */
void pcpu_chunk_verify(struct pcpu_chunk *chunk, int bit_start, int bit_end)
{
	int B = pcpu_geo.block_bits, i;
	bool whole = bit_start == 0 && bit_end == pcpu_geo.unit_map_bits;
	static unsigned int ops;

	for (i = bit_start / B; i < pcpu_nr_blocks() && i * B < bit_end; i++)
		pcpu_verify_block(chunk, i);
	pcpu_verify_chunk_md(chunk, whole);
	/* the chunk-wide recounts cost a pass over every map: after a local
	 * change, do them on every 16th check only */
	if (whole || !(++ops % 16))
		pcpu_verify_counts(chunk);
}

/**
 * pcpu_verify_all - check every chunk and the global counters
 *
 * Context: pcpu_g.alloc_mutex; takes pcpu_g.lock.
 */
void pcpu_verify_all(void)
{
	int empty = 0, populated = 0;
	size_t i, dirty = 0, used = 0;

	pcpu_lock();
	for (i = 0; i < pcpu_g.lookup_cap; i++) {
		struct pcpu_chunk *c = pcpu_g.lookup[i];

		if (!c)
			continue;
		pcpu_chunk_verify(c, 0, pcpu_geo.unit_map_bits);
		if (!c->isolated)
			empty += c->nr_empty_pop_pages;
		populated += c->nr_populated;
		dirty += (size_t)c->dirty_bytes;
		used += pcpu_geo.unit_size - (size_t)c->free_bytes;
	}
	for (int slot = 0; slot < pcpu_geo.nr_slots; slot++)
		VERIFY(!(pcpu_g.slot_mask & (1UL << slot)) ==
			       list_empty(&pcpu_g.chunk_lists[slot]),
		       NULL, "slot_mask", slot,
		       (int)((pcpu_g.slot_mask >> slot) & 1));
	VERIFY(empty == pcpu_g.nr_empty_pop_pages, NULL, "nr_empty_pop_pages",
	       empty, pcpu_g.nr_empty_pop_pages);
	VERIFY(populated == pcpu_g.nr_populated, NULL, "nr_populated",
	       populated, pcpu_g.nr_populated);
	VERIFY(dirty == pcpu_g.dirty_bytes && used == pcpu_g.used_bytes, NULL,
	       "dirty/used bytes", (int)dirty, (int)used);
	pcpu_unlock();
}
