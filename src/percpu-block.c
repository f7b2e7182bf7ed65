// SPDX-License-Identifier: MIT
/*
 * percpu-block.c - the block hints of the area allocator (pcpu_block_md).
 *
 * Every page of a chunk (a block) and the chunk as a whole keep hints
 * about their free space: the largest free run (contig_hint), a bound of
 * the runs before it (scan_hint), the free runs at both edges and the
 * first free bit, as the kernel's mm/percpu.c does.  The allocator
 * (percpu.c) searches with them and calls pcpu_block_update_hint_alloc()
 * and pcpu_block_update_hint_free() after every change to the allocation
 * map; this file owns keeping them exact, cheaply.
 */
#include "percpu-internal.h"

void pcpu_init_md_block(struct pcpu_block_md *md, int nr_bits)
{
	md->scan_hint = 0;
	md->contig_hint = nr_bits;
	md->contig_hint_start = 0;
	md->left_free = nr_bits;
	md->right_free = nr_bits;
	md->first_free = 0;
	md->nr_bits = nr_bits;
}

static void pcpu_reset_md(struct pcpu_block_md *md)
{
	int nr_bits = md->nr_bits;

	memset(md, 0, sizeof(*md));
	md->nr_bits = nr_bits;
	md->first_free = nr_bits;
}

/*
 * pcpu_block_update - fold the maximal free run [@start, @end) into @md.
 *
 * The run is exact (it cannot be extended on either side), so the edge and
 * first-free hints stay exact; the contig hint keeps the first run of the
 * largest size, and the scan hint stays an upper bound of the runs before
 * the contig hint.
 */
static void pcpu_block_update(struct pcpu_block_md *md, int start, int end)
{
	int contig = end - start;

	if (start < md->first_free)
		md->first_free = start;
	if (start == 0)
		md->left_free = contig;
	if (end == md->nr_bits)
		md->right_free = contig;

	if (contig > md->contig_hint ||
	    (contig == md->contig_hint && start < md->contig_hint_start)) {
		/* the old largest run now lies before the new one */
		if (md->contig_hint_start < start &&
		    md->contig_hint > md->scan_hint)
			md->scan_hint = md->contig_hint;
		md->contig_hint = contig;
		md->contig_hint_start = start;
	} else if (start < md->contig_hint_start && contig > md->scan_hint) {
		md->scan_hint = contig;
	}
}

/* Recompute the hints of the @md describing bits [base, base + nr_bits). */
void pcpu_md_scan(const unsigned long *map, int base, struct pcpu_block_md *md)
{
	int rs, re, end = base + md->nr_bits;

	pcpu_reset_md(md);
	pcpu_for_each_run (map, base, end, rs, re, true)
		pcpu_block_update(md, rs - base, re - base);
}

static void pcpu_block_refresh_hint(struct pcpu_chunk *chunk, int index)
{
	pcpu_md_scan(chunk->alloc_map, index * pcpu_geo.block_bits,
		     &chunk->md_blocks[index]);
}

/* Fold a maximal free run into the chunk-wide hints during a refresh;
 * *@seen bounds every run met so far, wherever it lies. */
static void pcpu_chunk_fold_run(struct pcpu_block_md *md, int start, int len,
				int *seen)
{
	if (start == 0)
		md->left_free = len;
	if (start + len == md->nr_bits)
		md->right_free = len;
	if (len > md->contig_hint) {
		md->scan_hint = *seen;
		md->contig_hint = len;
		md->contig_hint_start = start;
	}
	*seen = max_int(*seen, len);
}

/*
 * pcpu_chunk_refresh_hint - rebuild the chunk-wide hints from the blocks'.
 * A free run crossing block boundaries is carried from one block's right
 * edge through free blocks to the next block's left edge; runs are met in
 * address order, so the scan hint (the largest bound met before the contig
 * run) bounds every run before it, including the runs inside blocks that
 * only the blocks' own hints describe.
 */
void pcpu_chunk_refresh_hint(struct pcpu_chunk *chunk)
{
	struct pcpu_block_md *md = &chunk->chunk_md;
	int bits = pcpu_geo.block_bits, run_start = 0, run = 0, seen = 0, i;

	pcpu_reset_md(md);
	for (i = 0; i < pcpu_nr_blocks(); i++) {
		struct pcpu_block_md *b = &chunk->md_blocks[i];
		int bstart = i * bits;

		if (md->first_free == md->nr_bits && b->first_free < bits)
			md->first_free = bstart + b->first_free;
		if (pcpu_block_is_free(b)) {
			if (!run)
				run_start = bstart;
			run += bits;
			continue;
		}
		if (b->left_free) {
			if (!run)
				run_start = bstart;
			run += b->left_free;
		}
		if (run)
			pcpu_chunk_fold_run(md, run_start, run, &seen);
		seen = max_int(seen, b->scan_hint);
		if (b->contig_hint && b->contig_hint_start &&
		    b->contig_hint_start + b->contig_hint < bits)
			pcpu_chunk_fold_run(md, bstart + b->contig_hint_start,
					    b->contig_hint, &seen);
		seen = max_int(seen, b->contig_hint);
		run = b->right_free;
		run_start = bstart + bits - run;
	}
	if (run)
		pcpu_chunk_fold_run(md, run_start, run, &seen);
}

/* The first free bit of [from, end) in the allocation map, or end. */
static int pcpu_next_free_bit(const struct pcpu_chunk *chunk, int from, int end)
{
	return find_next_zero_bit(chunk->alloc_map, end, from);
}

/*
 * pcpu_md_alloc_update - [@as, @ae) (relative) was just allocated out of
 * @md, whose bits start at @base.  Keeps the exact hints exact without a
 * rescan where possible.  Return: true when the contig hint was broken and
 * the caller must rescan.
 */
static bool pcpu_md_alloc_update(const struct pcpu_chunk *chunk,
				 struct pcpu_block_md *md, int base, int as,
				 int ae)
{
	if (as <= md->first_free && md->first_free < ae)
		md->first_free = pcpu_next_free_bit(chunk, base + ae,
						    base + md->nr_bits) -
				 base;
	if (as < md->left_free)
		md->left_free = as;
	if (ae > md->nr_bits - md->right_free)
		md->right_free = md->nr_bits - ae;
	if (as >= md->contig_hint_start + md->contig_hint ||
	    ae <= md->contig_hint_start)
		return false;
	/*
	 * The common case, filling the free tail from its start: what is left
	 * of the tail is still the largest run if it beats every run before
	 * it (the scan hint bounds those; nothing lies after the tail).
	 */
	if (as == md->contig_hint_start &&
	    md->contig_hint_start + md->contig_hint == md->nr_bits &&
	    md->nr_bits - ae > md->scan_hint) {
		md->contig_hint = md->nr_bits - ae;
		md->contig_hint_start = ae;
		return false;
	}
	return true;
}

/* Candidate runs met in address order while looking for a new contig. */
struct pcpu_contig_search {
	int best, best_start; /* the first largest run met */
	int scan; /* bounds every run met before best */
	int seen; /* bounds every run met so far */
};

static void pcpu_contig_meet(struct pcpu_contig_search *cs, int start, int len)
{
	if (len > cs->best) {
		cs->scan = cs->seen;
		cs->best = len;
		cs->best_start = start;
	}
	cs->seen = max_int(cs->seen, len);
}

/*
 * pcpu_block_contig_cut - the allocation [@as, @ae) (relative to the
 * block at bit @base) cut the block's largest run; find the new one
 * without rescanning the block where possible.
 *
 * Runs before the old contig run are bounded by the scan hint and are
 * shorter than it (it was the first largest); the pieces left of it are
 * shorter too.  So walk forward from its end: a run of the old length ends
 * the search at once (nothing later can beat it), and whatever is found is
 * exact if it beats the scan hint.  With holes of one size (a block
 * refilled after frees) this touches the next hole only.
 *
 * Return: true if @md is exact again; false if the caller must rescan.
 */
static bool pcpu_block_contig_cut(const unsigned long *map, int base,
				  struct pcpu_block_md *md, int as, int ae)
{
	int cs = md->contig_hint_start, ce = cs + md->contig_hint;
	int old = md->contig_hint, end = base + md->nr_bits, rs, re;
	struct pcpu_contig_search s = {0, 0, md->scan_hint, md->scan_hint};

	if (as > cs)
		pcpu_contig_meet(&s, cs, as - cs);
	if (ae < ce)
		pcpu_contig_meet(&s, ae, ce - ae);
	pcpu_for_each_run (map, base + ce, end, rs, re, true) {
		pcpu_contig_meet(&s, rs - base, re - rs);
		if (re - rs == old)
			break;
	}
	if (s.best <= md->scan_hint && md->scan_hint)
		return false;
	md->contig_hint = s.best;
	md->contig_hint_start = s.best ? s.best_start : 0;
	md->scan_hint = s.best ? s.scan : 0;
	return true;
}

/*
 * pcpu_block_update_hint_alloc - update the hints after allocating
 * [@bit_off, @bit_off + @bits): blocks fully covered become full, the edge
 * blocks are updated (or rescanned when their largest run was cut), and so
 * is the chunk; empty populated pages taken are counted.
 */
void pcpu_block_update_hint_alloc(struct pcpu_chunk *chunk, int bit_off,
				  int bits)
{
	int B = pcpu_geo.block_bits, end = bit_off + bits;
	int s_index = bit_off / B, e_index = (end - 1) / B, i, nr_empty = 0;

	for (i = s_index; i <= e_index; i++) {
		struct pcpu_block_md *b = &chunk->md_blocks[i];
		int as = max_int(bit_off - i * B, 0);
		int ae = min_int(end - i * B, B);

		if (pcpu_block_is_free(b) && test_bit(i, chunk->populated))
			nr_empty++;
		if (as == 0 && ae == B) {
			pcpu_reset_md(b);
			continue;
		}
		if (pcpu_md_alloc_update(chunk, b, i * B, as, ae) &&
		    !pcpu_block_contig_cut(chunk->alloc_map, i * B, b, as, ae))
			pcpu_block_refresh_hint(chunk, i);
	}
	if (nr_empty)
		pcpu_update_empty_pages(chunk, -nr_empty);
	if (pcpu_md_alloc_update(chunk, &chunk->chunk_md, 0, bit_off, end))
		pcpu_chunk_refresh_hint(chunk);
}

/* The last set bit in [lo, end), or lo - 1. */
static int pcpu_prev_set_bit(const unsigned long *map, int lo, int end)
{
	int b = find_prev_bit_from(map, lo, end);

	return b >= lo ? b : lo - 1;
}

/*
 * pcpu_block_update_hint_free - update the hints after freeing
 * [@bit_off, @bit_off + @bits): find the whole free run around it (the
 * edge blocks by their bitmap, further blocks by their exact edge hints),
 * fold it into every block it touches and into the chunk, and count the
 * populated pages that became empty.
 */
void pcpu_block_update_hint_free(struct pcpu_chunk *chunk, int bit_off,
				 int bits)
{
	int B = pcpu_geo.block_bits, nr_blocks = pcpu_nr_blocks();
	int end = bit_off + bits, start = bit_off;
	int s_index = bit_off / B, e_index = (end - 1) / B, i, nr_empty = 0;

	/* extend left: inside the first block by bitmap, then by hints */
	start = pcpu_prev_set_bit(chunk->alloc_map, s_index * B, start) + 1;
	while (start % B == 0 && start > 0) {
		struct pcpu_block_md *b = &chunk->md_blocks[start / B - 1];

		if (!pcpu_block_is_free(b)) {
			start -= b->right_free;
			break;
		}
		start -= B;
	}
	/* extend right the same way */
	end = find_next_bit(chunk->alloc_map, (e_index + 1) * B, end);
	while (end % B == 0 && end / B < nr_blocks) {
		struct pcpu_block_md *b = &chunk->md_blocks[end / B];

		if (!pcpu_block_is_free(b)) {
			end += b->left_free;
			break;
		}
		end += B;
	}

	for (i = s_index; i <= e_index; i++) {
		struct pcpu_block_md *b = &chunk->md_blocks[i];

		pcpu_block_update(b, max_int(start - i * B, 0),
				  min_int(end - i * B, B));
		if (pcpu_block_is_free(b) && test_bit(i, chunk->populated))
			nr_empty++;
	}
	if (nr_empty)
		pcpu_update_empty_pages(chunk, nr_empty);
	pcpu_block_update(&chunk->chunk_md, start, end);
}
