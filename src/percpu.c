// SPDX-License-Identifier: MIT
/*
 * percpu.c - the per-CPU allocator: chunks, slots, the bitmap area
 * allocator with block hints, population, balance and reclaim, the reverse
 * lookup and the public entry points.
 *
 * The algorithm is the Linux kernel's (mm/percpu.c), rebuilt for userspace:
 *
 * - A chunk's units are described by one allocation map with a bit per 4
 *   bytes, a boundary map marking where allocations start and end (so a
 *   free needs no size and a bad pointer is recognised), and one
 *   pcpu_block_md of hints per page plus one for the chunk.
 * - Chunks sit on slot lists keyed by their largest free run; an
 *   allocation tries the slots that can fit it, then the sidelined chunks,
 *   then the free ones, and takes the first fit inside a chunk.
 * - Pages are populated on demand for the allocated range only; the balance
 *   work keeps a few empty populated pages for pcpu_alloc_nowait(),
 *   reclaims surplus ones and destroys surplus free chunks.
 *
 * What userspace adds is zeroing without touching idle CPUs.  The kernel
 * clears a new allocation in every unit; here that would fault in the page
 * of every possible CPU.  Instead, memory handed out is zero because it is
 * either fresh or cleaned: pcpu_free() only marks the area dirty (no system
 * call), and the cleaner (balance work, or an allocation that would
 * otherwise need a new chunk) asks the kernel which unit pages exist,
 * clears the dirty bytes in those, and only then frees the bits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pcpu.h>
#include <pcpu/ops.h>

#include "percpu-internal.h"
#include "sanitize.h"
#include "trace.h"

struct pcpu_global pcpu_g = {
	.alloc_mutex = PTHREAD_MUTEX_INITIALIZER,
	.balance_lock = PTHREAD_MUTEX_INITIALIZER,
	.balance_cond = PTHREAD_COND_INITIALIZER,
};

size_t pcpu_unit_stride;

struct pcpu_nofork_shard pcpu_nofork[PCPU_NOFORK_SHARDS];
int pcpu_fork_pending;
__thread unsigned int pcpu_nofork_depth
	__attribute__((tls_model("initial-exec")));
__thread unsigned int pcpu_lock_depth
	__attribute__((tls_model("initial-exec")));

static pthread_mutex_t pcpu_init_mutex = PTHREAD_MUTEX_INITIALIZER;

/* The start-up lock; a signal handler on top of it sees pcpu_lock_depth. */
static void pcpu_init_lock(void)
{
	pcpu_lock_depth++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pthread_mutex_lock(&pcpu_init_mutex);
}

static void pcpu_init_unlock(void)
{
	pthread_mutex_unlock(&pcpu_init_mutex);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pcpu_lock_depth--;
}

#define PCPU_BALANCE_PERIOD_MS 100
#define PCPU_BALANCE_BUSY_MS 1
#define PCPU_BALANCE_BUSY_POLLS 200

static inline int pcpu_fls(unsigned int x)
{
	return x ? 32 - __builtin_clz(x) : 0;
}

static inline int min_int(int a, int b)
{
	return a < b ? a : b;
}

static inline int max_int(int a, int b)
{
	return a > b ? a : b;
}

static inline int pcpu_nr_blocks(void)
{
	return pcpu_g.unit_pages;
}

/* Bits of allocation per byte count, rounded up. */
static inline int pcpu_size_to_bits(size_t size)
{
	return (int)((size + PCPU_MIN_ALLOC_SIZE - 1) >> PCPU_MIN_ALLOC_SHIFT);
}

/* ---------------------------------------------------------------------
 * Slots
 */

static int __pcpu_size_to_slot(int size)
{
	return max_int(pcpu_fls((unsigned int)size) - PCPU_SLOT_BASE_SHIFT + 2,
		       1);
}

static int pcpu_size_to_slot(int size)
{
	if ((size_t)size == pcpu_g.unit_size)
		return pcpu_g.free_slot;
	return __pcpu_size_to_slot(size);
}

/**
 * pcpu_chunk_slot - the slot a chunk belongs on, from its largest free run
 * @chunk: the chunk
 *
 * Context: pcpu_g.lock.
 * Return: the slot index.
 */
int pcpu_chunk_slot(const struct pcpu_chunk *chunk)
{
	const struct pcpu_block_md *md = &chunk->chunk_md;

	if (chunk->free_bytes < PCPU_MIN_ALLOC_SIZE || md->contig_hint == 0)
		return 0;
	return pcpu_size_to_slot(md->contig_hint * PCPU_MIN_ALLOC_SIZE);
}

static void __pcpu_chunk_move(struct pcpu_chunk *chunk, int slot,
			      bool move_front)
{
	if (move_front)
		list_move(&chunk->list, &pcpu_g.chunk_lists[slot]);
	else
		list_move_tail(&chunk->list, &pcpu_g.chunk_lists[slot]);
	chunk->slot = slot;
}

static void pcpu_chunk_move(struct pcpu_chunk *chunk, int slot)
{
	__pcpu_chunk_move(chunk, slot, true);
}

/*
 * pcpu_chunk_relocate - put @chunk on the slot its hints call for; a chunk
 * that gained space goes to the front of its list, one that lost space to
 * the back.  Isolated chunks stay where reclaim keeps them.
 */
static void pcpu_chunk_relocate(struct pcpu_chunk *chunk, int oslot)
{
	int nslot = pcpu_chunk_slot(chunk);

	if (!chunk->isolated && oslot != nslot)
		__pcpu_chunk_move(chunk, nslot, oslot < nslot);
}

static void pcpu_update_empty_pages(struct pcpu_chunk *chunk, int nr)
{
	chunk->nr_empty_pop_pages += nr;
	if (!chunk->isolated)
		WRITE_ONCE(pcpu_g.nr_empty_pop_pages,
			   pcpu_g.nr_empty_pop_pages + nr);
}

/* Take @chunk off the allocation path, for reclaim. */
static void pcpu_isolate_chunk(struct pcpu_chunk *chunk)
{
	if (!chunk->isolated) {
		chunk->isolated = true;
		WRITE_ONCE(pcpu_g.nr_empty_pop_pages,
			   pcpu_g.nr_empty_pop_pages -
				   chunk->nr_empty_pop_pages);
	}
	pcpu_chunk_move(chunk, pcpu_g.to_depopulate_slot);
}

static void pcpu_reintegrate_chunk(struct pcpu_chunk *chunk)
{
	if (chunk->isolated) {
		chunk->isolated = false;
		WRITE_ONCE(pcpu_g.nr_empty_pop_pages,
			   pcpu_g.nr_empty_pop_pages +
				   chunk->nr_empty_pop_pages);
		pcpu_chunk_relocate(chunk, -1);
	}
}

/* ---------------------------------------------------------------------
 * Block hints
 */

static bool pcpu_block_is_free(const struct pcpu_block_md *md)
{
	return md->contig_hint == md->nr_bits;
}

static void pcpu_init_md_block(struct pcpu_block_md *md, int nr_bits)
{
	md->scan_hint = 0;
	md->scan_hint_start = 0;
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
		    md->contig_hint > md->scan_hint) {
			md->scan_hint = md->contig_hint;
			md->scan_hint_start = md->contig_hint_start;
		}
		md->contig_hint = contig;
		md->contig_hint_start = start;
	} else if (start < md->contig_hint_start && contig > md->scan_hint) {
		md->scan_hint = contig;
		md->scan_hint_start = start;
	}
}

/* Recompute the hints of the @md describing bits [base, base + nr_bits). */
static void pcpu_md_scan(const unsigned long *map, int base,
			 struct pcpu_block_md *md)
{
	int rs, re, end = base + md->nr_bits;

	pcpu_reset_md(md);
	pcpu_for_each_run (map, base, end, rs, re, true)
		pcpu_block_update(md, rs - base, re - base);
}

static void pcpu_block_refresh_hint(struct pcpu_chunk *chunk, int index)
{
	pcpu_md_scan(chunk->alloc_map, index * pcpu_g.block_bits,
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
static void pcpu_chunk_refresh_hint(struct pcpu_chunk *chunk)
{
	struct pcpu_block_md *md = &chunk->chunk_md;
	int bits = pcpu_g.block_bits, run_start = 0, run = 0, seen = 0, i;

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

/* The first free bit of [from, end) using block hints, or end. */
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
static void pcpu_block_update_hint_alloc(struct pcpu_chunk *chunk, int bit_off,
					 int bits)
{
	int B = pcpu_g.block_bits, end = bit_off + bits;
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
static void pcpu_block_update_hint_free(struct pcpu_chunk *chunk, int bit_off,
					int bits)
{
	int B = pcpu_g.block_bits, nr_blocks = pcpu_nr_blocks();
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

/* ---------------------------------------------------------------------
 * Area allocation
 */

static inline int pcpu_align_up(int v, int align)
{
	return (v + align - 1) & ~(align - 1);
}

/*
 * pcpu_find_zero_area_small - pcpu_find_zero_area() for @nr and @align up
 * to a word: a word at a time, the positions where @nr free bits start are
 * found with shifts over a two-word window and masked to the alignment, so
 * a map full of holes too small to fit costs one step per word, not per
 * hole.
 */
static int pcpu_find_zero_area_small(const unsigned long *map, int start,
				     int end, int nr, int align)
{
	static const unsigned long patterns[] = {~0UL,
						 0x5555555555555555UL,
						 0x1111111111111111UL,
						 0x0101010101010101UL,
						 0x0001000100010001UL,
						 0x0000000100000001UL,
						 0x0000000000000001UL};
	unsigned long pattern = patterns[__builtin_ctz((unsigned int)align)];
	int w, last = BIT_WORD(end - 1);

	for (w = BIT_WORD(start); w <= last; w++) {
		unsigned long lo = ~map[w], hi;
		unsigned __int128 x, m;
		unsigned long cand;
		int len = 1;

		if ((w + 1) * BITS_PER_LONG >= end) {
			lo &= BITMAP_LAST_WORD_MASK(end);
			hi = 0;
		} else {
			hi = ~map[w + 1];
		}
		x = (unsigned __int128)lo | ((unsigned __int128)hi << 64);
		m = x;
		while (len < nr) {
			int sh = len < nr - len ? len : nr - len;

			m &= m >> sh;
			len += sh;
		}
		cand = (unsigned long)m & pattern;
		if (w == BIT_WORD(start))
			cand &= BITMAP_FIRST_WORD_MASK(start);
		if (cand) {
			int idx = w * BITS_PER_LONG + __builtin_ctzl(cand);

			return idx + nr <= end ? idx : -1;
		}
	}
	return -1;
}

/*
 * pcpu_find_zero_area - the first @nr clear bits in [start, end) starting
 * at a multiple of @align, or -1.
 */
static int pcpu_find_zero_area(const unsigned long *map, int start, int end,
			       int nr, int align)
{
	bool small = nr <= BITS_PER_LONG && align <= BITS_PER_LONG;

	for (;;) {
		int idx = pcpu_align_up(find_next_zero_bit(map, end, start),
					align);
		int busy;

		if (idx + nr > end)
			return -1;
		busy = find_next_bit(map, idx + nr, idx);
		if (busy >= idx + nr)
			return idx;
		/* the first hole is too small: past it, go a word at a time */
		if (small)
			return pcpu_find_zero_area_small(map, busy + 1, end, nr,
							 align);
		start = busy + 1;
	}
}

/*
 * pcpu_find_block_fit - where to start looking in @chunk for @alloc_bits
 * bits aligned to @align bits
 *
 * Walks the blocks from the chunk's first free bit, carrying free runs
 * across block edges, and stops at the first block whose hints say a fit
 * may start there: either a run crossing into it from the left, or its
 * largest run (starting past the runs the scan hint rules out).  With
 * @pop_only, unpopulated blocks (pages) are skipped.
 *
 * Return: a bit offset to search from, or -1 when no fit exists.
 */
static int pcpu_find_block_fit(const struct pcpu_chunk *chunk, int alloc_bits,
			       int align, bool pop_only)
{
	const struct pcpu_block_md *md = &chunk->chunk_md;
	int B = pcpu_g.block_bits, carry = 0, i;

	if (md->contig_hint < alloc_bits)
		return -1;
	for (i = md->first_free / B; i < pcpu_nr_blocks(); i++) {
		const struct pcpu_block_md *b = &chunk->md_blocks[i];
		int bstart = i * B;

		if (pop_only && !test_bit(i, chunk->populated)) {
			carry = 0;
			continue;
		}
		if (carry &&
		    pcpu_align_up(bstart - carry, align) + alloc_bits <=
			    bstart + b->left_free)
			return bstart - carry;
		if (b->contig_hint >= alloc_bits)
			return bstart + (alloc_bits > b->scan_hint
						 ? b->contig_hint_start
						 : b->first_free);
		carry = pcpu_block_is_free(b) ? carry + B : b->right_free;
	}
	return -1;
}

static bool pcpu_range_populated(const struct pcpu_chunk *chunk, int bit_off,
				 int bits, int *next)
{
	int ps = (bit_off << PCPU_MIN_ALLOC_SHIFT) >> pcpu_g.page_shift;
	int pe = (int)((((size_t)(bit_off + bits) << PCPU_MIN_ALLOC_SHIFT) +
			pcpu_g.page_size - 1) >>
		       pcpu_g.page_shift);
	int rs = find_next_zero_bit(chunk->populated, pe, ps);

	if (rs >= pe)
		return true;
	*next = (rs + 1) * pcpu_g.block_bits;
	return false;
}

/*
 * pcpu_alloc_area - allocate @alloc_bits bits aligned to @align from
 * @chunk, searching from @start; with @pop_only, only inside populated
 * pages.  Sets the maps and updates the hints.
 *
 * Context: pcpu_g.lock.
 * Return: the bit offset, or -1.
 */
static int pcpu_alloc_area(struct pcpu_chunk *chunk, int alloc_bits, int align,
			   int start, bool pop_only)
{
	int end = pcpu_g.unit_map_bits, off;

	for (;;) {
		off = pcpu_find_zero_area(chunk->alloc_map, start, end,
					  alloc_bits, align);
		if (off < 0)
			return -1;
		if (!pop_only ||
		    pcpu_range_populated(chunk, off, alloc_bits, &start))
			break;
	}
	bitmap_set(chunk->alloc_map, off, alloc_bits);
	set_bit(off, chunk->bound_map);
	if (alloc_bits > 1)
		bitmap_clear(chunk->bound_map, off + 1, alloc_bits - 1);
	set_bit(off + alloc_bits, chunk->bound_map);
	chunk->free_bytes -= alloc_bits * PCPU_MIN_ALLOC_SIZE;
	WRITE_ONCE(pcpu_g.used_bytes,
		   pcpu_g.used_bytes +
			   (size_t)alloc_bits * PCPU_MIN_ALLOC_SIZE);
	pcpu_block_update_hint_alloc(chunk, off, alloc_bits);
	return off;
}

/*
 * pcpu_free_area - return [@bit_off, @bit_off + @bits) to @chunk's free
 * map.  The bytes must already be zero in every unit.
 *
 * Context: pcpu_g.lock.
 */
static void pcpu_free_area(struct pcpu_chunk *chunk, int bit_off, int bits)
{
	bitmap_clear(chunk->alloc_map, bit_off, bits);
	chunk->free_bytes += bits * PCPU_MIN_ALLOC_SIZE;
	WRITE_ONCE(pcpu_g.used_bytes,
		   pcpu_g.used_bytes - (size_t)bits * PCPU_MIN_ALLOC_SIZE);
	pcpu_block_update_hint_free(chunk, bit_off, bits);
}

/* ---------------------------------------------------------------------
 * Chunks: metadata, population bookkeeping, reverse lookup
 */

/**
 * pcpu_alloc_chunk - allocate and initialize a chunk's metadata
 *
 * One allocation holds the chunk, its maps and its block hints; every page
 * is free and unpopulated.
 *
 * Context: any; calls calloc().
 * Return: the chunk, or NULL.
 */
struct pcpu_chunk *pcpu_alloc_chunk(void)
{
	int map_longs = BITS_TO_LONGS(pcpu_g.unit_map_bits);
	int bound_longs = BITS_TO_LONGS(pcpu_g.unit_map_bits + 1);
	int pop_longs = BITS_TO_LONGS(pcpu_g.unit_pages);
	size_t head = sizeof(struct pcpu_chunk) + pop_longs * sizeof(long);
	size_t mds = (size_t)pcpu_nr_blocks() * sizeof(struct pcpu_block_md);
	size_t size = head + mds +
		      (2 * (size_t)map_longs + bound_longs) * sizeof(long);
	struct pcpu_chunk *chunk = calloc(1, size);
	char *p;
	int i;

	if (!chunk)
		return NULL;
	p = (char *)chunk + head;
	chunk->md_blocks = (struct pcpu_block_md *)p;
	p += mds;
	chunk->alloc_map = (unsigned long *)p;
	chunk->dirty_map = chunk->alloc_map + map_longs;
	chunk->bound_map = chunk->dirty_map + map_longs;
	INIT_LIST_HEAD(&chunk->list);
	chunk->slot = -1;
	chunk->nr_pages = pcpu_g.unit_pages;
	chunk->free_bytes = (int)pcpu_g.unit_size;
	set_bit(pcpu_g.unit_map_bits, chunk->bound_map);
	for (i = 0; i < pcpu_nr_blocks(); i++)
		pcpu_init_md_block(&chunk->md_blocks[i], pcpu_g.block_bits);
	pcpu_init_md_block(&chunk->chunk_md, pcpu_g.unit_map_bits);
	return chunk;
}

/**
 * pcpu_free_chunk - free a chunk's metadata
 * @chunk: the chunk, or NULL
 *
 * Context: any.
 */
void pcpu_free_chunk(struct pcpu_chunk *chunk)
{
	free(chunk);
}

/* pages [rs, re) became populated: they are free or just allocated */
static void pcpu_chunk_populated(struct pcpu_chunk *chunk, int rs, int re)
{
	int i, nr_empty = 0;

	bitmap_set(chunk->populated, rs, re - rs);
	chunk->nr_populated += re - rs;
	pcpu_g.nr_populated += re - rs;
	for (i = rs; i < re; i++)
		if (pcpu_block_is_free(&chunk->md_blocks[i]))
			nr_empty++;
	pcpu_update_empty_pages(chunk, nr_empty);
}

/* pages [rs, re), all empty, were depopulated */
static void pcpu_chunk_depopulated(struct pcpu_chunk *chunk, int rs, int re)
{
	bitmap_clear(chunk->populated, rs, re - rs);
	chunk->nr_populated -= re - rs;
	pcpu_g.nr_populated -= re - rs;
	pcpu_update_empty_pages(chunk, -(re - rs));
}

static inline size_t pcpu_lookup_hash(const char *base)
{
	uint64_t key = (uintptr_t)base / pcpu_g.unit_size;

	return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20);
}

/* The chunk whose base is @base, or NULL.  Context: pcpu_g.lock. */
static inline struct pcpu_chunk *pcpu_lookup(const char *base)
{
	size_t mask = pcpu_g.lookup_cap - 1, h = pcpu_lookup_hash(base) & mask;
	struct pcpu_chunk *c;

	while ((c = pcpu_g.lookup[h])) {
		if (c->base_addr == base)
			return c;
		h = (h + 1) & mask;
	}
	return NULL;
}

static void pcpu_lookup_insert(struct pcpu_chunk **tab, size_t cap,
			       struct pcpu_chunk *chunk)
{
	size_t h = pcpu_lookup_hash(chunk->base_addr) & (cap - 1);

	while (tab[h])
		h = (h + 1) & (cap - 1);
	tab[h] = chunk;
}

/* Remove with backward shifting, so that probes never meet a hole. */
static void pcpu_lookup_remove(struct pcpu_chunk *chunk)
{
	size_t mask = pcpu_g.lookup_cap - 1;
	size_t h = pcpu_lookup_hash(chunk->base_addr) & mask, j;

	while (pcpu_g.lookup[h] != chunk)
		h = (h + 1) & mask;
	pcpu_g.lookup[h] = NULL;
	for (j = (h + 1) & mask; pcpu_g.lookup[j]; j = (j + 1) & mask) {
		struct pcpu_chunk *c = pcpu_g.lookup[j];
		size_t home = pcpu_lookup_hash(c->base_addr) & mask;

		/* move c into the hole unless its home lies in (h, j] */
		if (((j - home) & mask) >= ((j - h) & mask)) {
			pcpu_g.lookup[h] = c;
			pcpu_g.lookup[j] = NULL;
			h = j;
		}
	}
	pcpu_g.lookup_used--;
}

/*
 * pcpu_chunk_register - make a new chunk findable (reverse lookup) and put
 * it on its slot.
 *
 * Context: pcpu_g.alloc_mutex; takes pcpu_g.lock.
 * Return: 0, or -ENOMEM when the lookup table cannot grow.
 */
static int pcpu_chunk_register(struct pcpu_chunk *chunk)
{
	if ((pcpu_g.lookup_used + 1) * 2 > pcpu_g.lookup_cap) {
		size_t cap = pcpu_g.lookup_cap * 2, i;
		struct pcpu_chunk **tab = calloc(cap, sizeof(*tab)), **old;

		if (!tab)
			return -ENOMEM;
		pcpu_lock();
		for (i = 0; i < pcpu_g.lookup_cap; i++)
			if (pcpu_g.lookup[i])
				pcpu_lookup_insert(tab, cap, pcpu_g.lookup[i]);
		old = pcpu_g.lookup;
		pcpu_g.lookup = tab;
		pcpu_g.lookup_cap = cap;
		pcpu_unlock();
		free(old);
	}
	pcpu_lock();
	pcpu_lookup_insert(pcpu_g.lookup, pcpu_g.lookup_cap, chunk);
	pcpu_g.lookup_used++;
	pcpu_chunk_relocate(chunk, -1);
	pcpu_stats_chunk_alloc();
	pcpu_unlock();
	return 0;
}

/* Unlink @chunk from everything.  Context: pcpu_g.lock. */
static void pcpu_chunk_unregister(struct pcpu_chunk *chunk)
{
	list_del_init(&chunk->list);
	pcpu_lookup_remove(chunk);
	if (!chunk->isolated)
		WRITE_ONCE(pcpu_g.nr_empty_pop_pages,
			   pcpu_g.nr_empty_pop_pages -
				   chunk->nr_empty_pop_pages);
	pcpu_g.nr_populated -= chunk->nr_populated;
	pcpu_stats_chunk_dealloc();
}

/* Create and register a chunk.  Context: pcpu_g.alloc_mutex. */
static struct pcpu_chunk *pcpu_new_chunk(void)
{
	struct pcpu_chunk *chunk = pcpu_create_chunk();

	if (!chunk)
		return NULL;
	if (pcpu_chunk_register(chunk)) {
		pcpu_destroy_chunk(chunk);
		return NULL;
	}
	return chunk;
}

/* ---------------------------------------------------------------------
 * The cleaner: dirty areas -> zero in every unit page that exists -> free
 */

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
	int B = pcpu_g.block_bits;
	char *page;

	for (page = start; page < end; page += pcpu_g.page_size) {
		size_t off = (size_t)(page - base);
		char *unit = base + (off & ~(pcpu_g.unit_size - 1));
		int pg = (int)((off & (pcpu_g.unit_size - 1)) >>
			       pcpu_g.page_shift);
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
	struct pcpu_clean_ctx ctx = {chunk, pcpu_g.scratch};
	int map_bits = pcpu_g.unit_map_bits, rs, re, oslot, ret, freed = 0;

	pcpu_lock();
	memcpy(pcpu_g.scratch, chunk->dirty_map,
	       BITS_TO_LONGS(map_bits) * sizeof(long));
	pcpu_unlock();

	ret = pcpu_os_scan_present(chunk->base_addr + pcpu_g.unit_size,
				   pcpu_g.chunk_size - pcpu_g.unit_size,
				   pcpu_clean_present, &ctx);
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
	if (chunk->free_bytes == (int)pcpu_g.unit_size) {
		/* a wholly free chunk goes to the free slot, even from
		 * reclaim: a second one there is surplus, which the balance
		 * work destroys with a single munmap */
		if (!list_empty(&pcpu_g.chunk_lists[pcpu_g.free_slot]))
			__atomic_store_n(&pcpu_g.balance_pending, 1,
					 __ATOMIC_RELAXED);
		if (chunk->isolated)
			pcpu_reintegrate_chunk(chunk);
		else
			pcpu_chunk_relocate(chunk, oslot);
	} else if (pcpu_should_reclaim_chunk(chunk)) {
		pcpu_isolate_chunk(chunk);
		__atomic_store_n(&pcpu_g.balance_pending, 1, __ATOMIC_RELAXED);
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
static void pcpu_clean_all(void)
{
	size_t i;

	if (!READ_ONCE(pcpu_g.dirty_bytes))
		return;
	for (i = 0; i < pcpu_g.lookup_cap; i++) {
		struct pcpu_chunk *c = pcpu_g.lookup[i];

		if (c && READ_ONCE(c->dirty_bytes))
			(void)pcpu_clean_chunk(c);
	}
}

/* Cleaning beats a new chunk once enough is dirty to pay for the scan. */
static bool pcpu_clean_worthwhile(void)
{
	size_t dirty = READ_ONCE(pcpu_g.dirty_bytes);

	return dirty >= pcpu_g.unit_size &&
	       dirty >= READ_ONCE(pcpu_g.used_bytes) / 8;
}

/* ---------------------------------------------------------------------
 * Balance work
 */

static void pcpu_balance_kick(void);

/*
 * pcpu_balance_free - destroy surplus free chunks, keeping one; with
 * @empty_only, only those with nothing populated.
 */
static void pcpu_balance_free(bool empty_only)
{
	struct list_head *free_head = &pcpu_g.chunk_lists[pcpu_g.free_slot];
	struct pcpu_chunk *chunk, *next;
	struct list_head to_free;

	INIT_LIST_HEAD(&to_free);
	pcpu_lock();
	list_for_each_entry_safe (chunk, next, free_head, list) {
		if (chunk ==
		    list_first_entry(free_head, struct pcpu_chunk, list))
			continue;
		if (!empty_only || chunk->nr_populated == 0) {
			pcpu_chunk_unregister(chunk);
			list_add(&chunk->list, &to_free);
		}
	}
	pcpu_unlock();

	list_for_each_entry_safe (chunk, next, &to_free, list)
		pcpu_destroy_chunk(chunk);
}

/*
 * pcpu_reclaim_populated - depopulate the empty populated pages of the
 * isolated chunks, from the top of each chunk down, flushing once per
 * chunk; then put each chunk back on the allocation path (reintegrate) if
 * it is wholly free or the pool of empty pages ran low, or sideline it.
 */
static void pcpu_reclaim_populated(void)
{
	struct list_head *head = &pcpu_g.chunk_lists[pcpu_g.to_depopulate_slot];
	struct pcpu_chunk *chunk;

	pcpu_lock();
	while (!list_empty(head)) {
		int freed_start = INT32_MAX, freed_end = 0, i, end = -1;
		bool reintegrate = false;

		chunk = list_first_entry(head, struct pcpu_chunk, list);
		for (i = chunk->nr_pages - 1; i >= -1; i--) {
			bool empty = i >= 0 && test_bit(i, chunk->populated) &&
				     pcpu_block_is_free(&chunk->md_blocks[i]);

			if (empty) {
				if (end < 0)
					end = i + 1;
				continue;
			}
			if (end >= 0) {
				/* pages [i + 1, end) are empty and populated;
				 * the chunk is isolated, so no allocation can
				 * land there while the lock is dropped */
				pcpu_unlock();
				pcpu_depopulate_chunk(chunk, i + 1, end);
				pcpu_lock();
				pcpu_chunk_depopulated(chunk, i + 1, end);
				freed_start = min_int(freed_start, i + 1);
				freed_end = max_int(freed_end, end);
				end = -1;
			}
			if (chunk->nr_empty_pop_pages == 0)
				break;
			if (pcpu_g.nr_empty_pop_pages <
			    PCPU_EMPTY_POP_PAGES_HIGH) {
				reintegrate = true;
				break;
			}
		}
		if (freed_start < freed_end) {
			pcpu_unlock();
			pcpu_post_unmap_tlb_flush(chunk, freed_start,
						  freed_end);
			pcpu_lock();
		}
		if (reintegrate || chunk->free_bytes == (int)pcpu_g.unit_size)
			pcpu_reintegrate_chunk(chunk);
		else
			__pcpu_chunk_move(chunk, pcpu_g.sidelined_slot, false);
	}
	pcpu_unlock();
}

/* The first chunk on slots [from, free_slot] with an unpopulated page. */
static struct pcpu_chunk *pcpu_find_unpopulated(int from)
{
	struct pcpu_chunk *chunk;
	int slot;

	for (slot = from; slot <= pcpu_g.free_slot; slot++)
		list_for_each_entry (chunk, &pcpu_g.chunk_lists[slot], list)
			if (chunk->nr_populated < chunk->nr_pages)
				return chunk;
	return NULL;
}

/*
 * pcpu_balance_populated - top the pool of empty populated pages up to
 * PCPU_EMPTY_POP_PAGES_HIGH (all of it after a pcpu_alloc_nowait()
 * failure), creating a chunk if no chunk has room.
 */
static void pcpu_balance_populated(void)
{
	int nr_to_pop, from = pcpu_size_to_slot((int)pcpu_g.page_size);
	bool created = false;

	pcpu_lock();
	if (pcpu_g.atomic_alloc_failed) {
		/* the full refill; populating costs nothing but bookkeeping
		 * outside strict mode, so there it is a chunk's worth */
		nr_to_pop = pcpu_g.strict ? PCPU_EMPTY_POP_PAGES_HIGH
					  : max_int(PCPU_EMPTY_POP_PAGES_HIGH,
						    pcpu_g.unit_pages);
		pcpu_g.atomic_alloc_failed = false;
	} else {
		nr_to_pop =
			PCPU_EMPTY_POP_PAGES_HIGH - pcpu_g.nr_empty_pop_pages;
	}
	while (nr_to_pop > 0) {
		struct pcpu_chunk *chunk = pcpu_find_unpopulated(from);
		int rs, re;

		if (!chunk) {
			pcpu_unlock();
			if (created || !pcpu_new_chunk())
				return;
			created = true;
			pcpu_lock();
			continue;
		}
		pcpu_for_each_run (chunk->populated, 0, chunk->nr_pages, rs, re,
				   true) {
			int nr = min_int(re - rs, nr_to_pop), ret;

			pcpu_unlock();
			ret = pcpu_populate_chunk(chunk, rs, rs + nr);
			pcpu_lock();
			if (ret) {
				nr_to_pop = 0;
				break;
			}
			pcpu_chunk_populated(chunk, rs, rs + nr);
			nr_to_pop -= nr;
			if (!nr_to_pop)
				break;
		}
	}
	pcpu_unlock();
}

/**
 * pcpu_balance_workfn - the balance work, in the kernel's order
 *
 * Clean dirty areas; free surplus free chunks; reclaim empty populated
 * pages of isolated chunks; top up empty populated pages; free chunks left
 * with nothing populated.
 *
 * Context: takes pcpu_g.alloc_mutex and pcpu_g.lock; makes system calls.
 */
void pcpu_balance_workfn(void)
{
	pthread_mutex_lock(&pcpu_g.alloc_mutex);
	(void)pcpu_clean_all();
	pcpu_balance_free(false);
	pcpu_reclaim_populated();
	pcpu_balance_populated();
	pcpu_balance_free(true);
	WRITE_ONCE(pcpu_g.balance_runs, pcpu_g.balance_runs + 1);
#ifdef PCPU_DEBUG
	pcpu_verify_all();
#endif
	pthread_mutex_unlock(&pcpu_g.alloc_mutex);
}

static void *pcpu_balance_thread(void *arg)
{
	int busy_polls = 0;

	(void)arg;
	pthread_mutex_lock(&pcpu_g.balance_lock);
	while (!pcpu_g.balance_stop) {
		struct timespec ts;

		if (!__atomic_load_n(&pcpu_g.balance_pending,
				     __ATOMIC_ACQUIRE)) {
			/* pcpu_free() and pcpu_alloc_nowait() cannot wake us
			 * (no system call): poll, quickly for a while after
			 * work was asked for, slowly when idle */
			long ms = busy_polls > 0 ? PCPU_BALANCE_BUSY_MS
						 : PCPU_BALANCE_PERIOD_MS;

			if (busy_polls > 0)
				busy_polls--;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += ms * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&pcpu_g.balance_cond,
					       &pcpu_g.balance_lock, &ts);
			continue;
		}
		__atomic_store_n(&pcpu_g.balance_pending, 0, __ATOMIC_RELEASE);
		busy_polls = PCPU_BALANCE_BUSY_POLLS;
		pthread_mutex_unlock(&pcpu_g.balance_lock);
		pcpu_balance_workfn();
		pthread_mutex_lock(&pcpu_g.balance_lock);
	}
	pthread_mutex_unlock(&pcpu_g.balance_lock);
	return NULL;
}

/* Start the balance thread (once per process image) with signals blocked. */
static void pcpu_balance_start(void)
{
	pthread_condattr_t ca;
	sigset_t all, old;

	if (!pcpu_g.balance_enabled || pcpu_g.balance_running)
		return;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&pcpu_g.balance_cond);
	pthread_cond_init(&pcpu_g.balance_cond, &ca);
	pthread_condattr_destroy(&ca);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pcpu_g.balance_stop = false;
	if (!pthread_create(&pcpu_g.balance_thread, NULL, pcpu_balance_thread,
			    NULL)) {
		pcpu_g.balance_running = true;
		WRITE_ONCE(pcpu_g.balance_restart, false);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Ask for the balance work now.  May make system calls. */
static void pcpu_balance_kick(void)
{
	__atomic_store_n(&pcpu_g.balance_pending, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&pcpu_g.balance_lock);
	pcpu_balance_start();
	pthread_cond_signal(&pcpu_g.balance_cond);
	pthread_mutex_unlock(&pcpu_g.balance_lock);
}

static void pcpu_balance_stop_thread(void)
{
	pthread_mutex_lock(&pcpu_g.balance_lock);
	if (!pcpu_g.balance_running) {
		pthread_mutex_unlock(&pcpu_g.balance_lock);
		return;
	}
	pcpu_g.balance_stop = true;
	pthread_cond_signal(&pcpu_g.balance_cond);
	pthread_mutex_unlock(&pcpu_g.balance_lock);
	pthread_join(pcpu_g.balance_thread, NULL);
	pcpu_g.balance_running = false;
	pcpu_g.balance_stop = false;
}

/* ---------------------------------------------------------------------
 * Start-up and fork
 */

/*
 * Every lock of the allocator is held across fork(), in its nesting order,
 * so the child finds each one in a known state: the start-up lock, the
 * allocation mutex, the balance thread's lock, the maps' spin lock.  (The
 * locks inside counters and refs are fork-generation locks: see
 * pcpu_obj_lock().)
 */
/* Wait until no other thread is in a no-fork section, and hold new ones. */
static void pcpu_nofork_wait(void)
{
	unsigned int mine = pcpu_nofork_depth, i, n;

	pcpu_nofork_depth++; /* this thread's handlers go on meanwhile */
	__atomic_store_n(&pcpu_fork_pending, 1, __ATOMIC_SEQ_CST);
	do {
		for (n = 0, i = 0; i < PCPU_NOFORK_SHARDS; i++)
			n += __atomic_load_n(&pcpu_nofork[i].running,
					     __ATOMIC_SEQ_CST);
		if (n > mine)
			pcpu_cpu_relax();
	} while (n > mine);
}

static void pcpu_nofork_release(void)
{
	__atomic_store_n(&pcpu_fork_pending, 0, __ATOMIC_RELEASE);
	pcpu_nofork_depth--;
}

static void pcpu_atfork_prepare(void)
{
	pcpu_nofork_wait();
	pcpu_init_lock();
	if (!pcpu_g.initialized)
		return;
	pthread_mutex_lock(&pcpu_g.alloc_mutex);
	pthread_mutex_lock(&pcpu_g.balance_lock);
	pcpu_lock();
}

static void pcpu_atfork_parent(void)
{
	if (pcpu_g.initialized) {
		pcpu_unlock();
		pthread_mutex_unlock(&pcpu_g.balance_lock);
		pthread_mutex_unlock(&pcpu_g.alloc_mutex);
	}
	pcpu_init_unlock();
	pcpu_nofork_release();
}

/*
 * The child has one thread: reset the locks, start a new fork generation,
 * and, if the parent had a balance thread, start the child's own, so that
 * pcpu_alloc_nowait() capacity comes back whatever the child calls (it
 * may only ever call pcpu_alloc_nowait() and pcpu_free(), which make no
 * system call and so cannot start it).
 */
static void pcpu_atfork_child(void)
{
	bool had_balance_thread = pcpu_g.balance_running;

	pthread_mutex_init(&pcpu_init_mutex, NULL);
	pcpu_lock_depth--;
	pcpu_nofork_release();
	if (!pcpu_g.initialized)
		return;
	__atomic_store_n(&pcpu_fork_gen, pcpu_fork_gen + 1, __ATOMIC_RELAXED);
	pthread_mutex_init(&pcpu_g.balance_lock, NULL);
	pthread_cond_init(&pcpu_g.balance_cond, NULL);
	pthread_mutex_init(&pcpu_g.alloc_mutex, NULL);
	pcpu_g.balance_running = false;
	pcpu_g.balance_stop = false;
	pcpu_os_after_fork_child();
	pcpu_unlock(); /* and complete the frees deferred meanwhile */
	/* should the thread fail to start, pcpu_alloc() tries again */
	WRITE_ONCE(pcpu_g.balance_restart, had_balance_thread);
	if (had_balance_thread) {
		pthread_mutex_lock(&pcpu_g.balance_lock);
		pcpu_balance_start();
		pthread_mutex_unlock(&pcpu_g.balance_lock);
	}
}

static void pcpu_exit_stats(void)
{
	if (pcpu_g.initialized && pcpu_g.show_stats)
		pcpu_stats_print(stderr);
}

static int pcpu_setup_units(void)
{
	unsigned int u, runs = 1;

	pcpu_g.unit_node = NULL;
	if (pcpu_g.caps.nr_nodes <= 1 && !pcpu_g.force_numa)
		return 0;
	pcpu_g.unit_node = calloc(pcpu_g.nr_units, sizeof(int));
	if (!pcpu_g.unit_node)
		return -ENOMEM;
	for (u = 0; u < pcpu_g.nr_units; u++) {
		int node = pcpu_os_cpu_to_node(u);

		pcpu_g.unit_node[u] = node > 0 ? node : 0;
		if (u && pcpu_g.unit_node[u] != pcpu_g.unit_node[u - 1])
			runs++;
	}
	/* Each run of units on one node costs a mapping; with CPUs
	 * interleaved across nodes, leave placement to first touch (a unit is
	 * first written by its own CPU) rather than split every chunk. */
	if (runs > 8) {
		free(pcpu_g.unit_node);
		pcpu_g.unit_node = NULL;
	}
	return 0;
}

static int pcpu_setup(const struct pcpu_config *cfg)
{
	static bool atfork_done;
	int ret, i;

	ret = pcpu_os_init(&pcpu_g.caps);
	if (ret)
		return ret;
	pcpu_san_init();
	pcpu_g.page_size = pcpu_g.caps.page_size;
	pcpu_g.page_shift = __builtin_ctzl(pcpu_g.page_size);
	ret = pcpu_options_load(cfg, &pcpu_g);
	if (ret)
		return ret;
	pcpu_g.unit_pages = (int)(pcpu_g.unit_size >> pcpu_g.page_shift);
	pcpu_g.unit_map_bits = (int)(pcpu_g.unit_size >> PCPU_MIN_ALLOC_SHIFT);
	pcpu_g.block_bits = (int)(pcpu_g.page_size >> PCPU_MIN_ALLOC_SHIFT);
	pcpu_g.chunk_size = (size_t)(pcpu_g.nr_units + 1) * pcpu_g.unit_size;

	pcpu_g.sidelined_slot = __pcpu_size_to_slot((int)pcpu_g.unit_size) + 1;
	pcpu_g.free_slot = pcpu_g.sidelined_slot + 1;
	pcpu_g.to_depopulate_slot = pcpu_g.free_slot + 1;
	pcpu_g.nr_slots = pcpu_g.to_depopulate_slot + 1;

	ret = -ENOMEM;
	pcpu_g.chunk_lists = calloc(pcpu_g.nr_slots, sizeof(struct list_head));
	pcpu_g.pages = calloc((size_t)pcpu_g.nr_units * pcpu_g.unit_pages,
			      sizeof(void *));
	pcpu_g.scratch =
		calloc(BITS_TO_LONGS(pcpu_g.unit_map_bits), sizeof(long));
	pcpu_g.lookup_cap = 64;
	pcpu_g.lookup = calloc(pcpu_g.lookup_cap, sizeof(*pcpu_g.lookup));
	if (!pcpu_g.chunk_lists || !pcpu_g.pages || !pcpu_g.scratch ||
	    !pcpu_g.lookup || pcpu_setup_units())
		goto fail;
	for (i = 0; i < pcpu_g.nr_slots; i++)
		INIT_LIST_HEAD(&pcpu_g.chunk_lists[i]);

	if (!atfork_done) {
		pthread_atfork(pcpu_atfork_prepare, pcpu_atfork_parent,
			       pcpu_atfork_child);
		atexit(pcpu_exit_stats);
		atfork_done = true;
	}
	pcpu_unit_stride = pcpu_g.unit_size;
	pcpu_ops_init();
	__atomic_store_n(&pcpu_g.initialized, true, __ATOMIC_RELEASE);
	return 0;
fail:
	free(pcpu_g.chunk_lists);
	free(pcpu_g.pages);
	free(pcpu_g.scratch);
	free(pcpu_g.lookup);
	free(pcpu_g.unit_node);
	pcpu_g.chunk_lists = NULL;
	pcpu_g.pages = NULL;
	pcpu_g.scratch = NULL;
	pcpu_g.lookup = NULL;
	pcpu_g.unit_node = NULL;
	return ret;
}

/**
 * pcpu_init - configure the allocator before its first use
 * @cfg: the settings, or NULL for the environment and the defaults
 *
 * Optional: the first allocation starts the allocator from the environment
 * (PCPU_NR_UNITS, PCPU_UNIT_SIZE, PCPU_BALANCE, PCPU_STRICT,
 * PCPU_SHOW_STATS) if pcpu_init() was not called.  A field of @cfg left at
 * its "unset" value (0, or -1 for the tristates) takes the environment's.
 *
 * Context: takes the start-up lock; makes system calls.
 * Return: 0; -EBUSY once the allocator is in use; -EINVAL for a bad field
 * of @cfg; -ENOMEM.
 */
int pcpu_init(const struct pcpu_config *cfg)
{
	int ret = -EBUSY;

	pcpu_init_lock();
	if (!pcpu_g.initialized)
		ret = pcpu_setup(cfg);
	pcpu_init_unlock();
	return ret;
}

/**
 * pcpu_ensure_init - start the allocator from the environment if needed
 *
 * Context: takes the start-up lock the first time.
 * Return: 0, or a negative errno.
 */
int pcpu_ensure_init(void)
{
	int ret = 0;

	if (likely(__atomic_load_n(&pcpu_g.initialized, __ATOMIC_ACQUIRE)))
		return 0;
	pcpu_init_lock();
	if (!pcpu_g.initialized)
		ret = pcpu_setup(NULL);
	pcpu_init_unlock();
	return ret;
}

/**
 * pcpu_test_reset - tear the allocator down completely (tests only)
 *
 * Stops the balance thread, destroys every chunk and forgets the
 * configuration, so that a test can start again with pcpu_init().  Every
 * per-CPU pointer becomes invalid.
 *
 * Context: no other thread may be using libpcpu.
 */
void pcpu_test_reset(void)
{
	size_t i;

	if (!pcpu_g.initialized)
		return;
	pcpu_balance_stop_thread();
	for (i = 0; i < pcpu_g.lookup_cap; i++)
		if (pcpu_g.lookup[i])
			pcpu_destroy_chunk(pcpu_g.lookup[i]);
	free(pcpu_g.chunk_lists);
	free(pcpu_g.pages);
	free(pcpu_g.scratch);
	free(pcpu_g.lookup);
	free(pcpu_g.unit_node);
	pcpu_g.initialized = false;
	pcpu_g.chunk_lists = NULL;
	pcpu_g.pages = NULL;
	pcpu_g.scratch = NULL;
	pcpu_g.lookup = NULL;
	pcpu_g.unit_node = NULL;
	pcpu_g.lookup_cap = pcpu_g.lookup_used = 0;
	pcpu_g.nr_empty_pop_pages = pcpu_g.nr_populated = 0;
	pcpu_g.dirty_bytes = pcpu_g.used_bytes = 0;
	pcpu_g.atomic_alloc_failed = false;
	pcpu_g.balance_pending = 0;
	memset(&pcpu_g.stats, 0, sizeof(pcpu_g.stats));
	pcpu_unit_stride = 0;
	__atomic_store_n(&pcpu_rseq_limit, 0, __ATOMIC_SEQ_CST);
}

/* ---------------------------------------------------------------------
 * Public entry points
 */

static int pcpu_check_args(size_t size, size_t align)
{
	if (unlikely(pcpu_ensure_init()))
		return ENOMEM;
	if (unlikely(!size || size > pcpu_g.unit_size || !align ||
		     (align & (align - 1)) || align > pcpu_g.page_size))
		return EINVAL;
	return 0;
}

/*
 * pcpu_alloc_search - find and take room in an existing chunk.
 * Context: pcpu_g.lock.  Return: the chunk (and *@offp), or NULL.
 */
static struct pcpu_chunk *pcpu_alloc_search(int bits, int align, int size,
					    bool nowait, int *offp)
{
	struct pcpu_chunk *chunk, *next;
	int slot, off;

	for (slot = pcpu_size_to_slot(size); slot <= pcpu_g.free_slot; slot++) {
		list_for_each_entry_safe (chunk, next,
					  &pcpu_g.chunk_lists[slot], list) {
			int oslot = chunk->slot;

			off = pcpu_find_block_fit(chunk, bits, align, nowait);
			if (off < 0) {
				if (slot < PCPU_SLOT_FAIL_HINT)
					pcpu_chunk_move(chunk, 0);
				continue;
			}
			off = pcpu_alloc_area(chunk, bits, align, off, nowait);
			if (off < 0)
				continue;
			if (chunk->isolated)
				pcpu_reintegrate_chunk(chunk);
			else
				pcpu_chunk_relocate(chunk, oslot);
			*offp = off;
			return chunk;
		}
	}
	return NULL;
}

/* Populate the pages under [off, off + bits) of @chunk that are not. */
static int pcpu_alloc_populate(struct pcpu_chunk *chunk, int off, int bits)
{
	int ps = (off << PCPU_MIN_ALLOC_SHIFT) >> pcpu_g.page_shift;
	int pe = (int)((((size_t)(off + bits) << PCPU_MIN_ALLOC_SHIFT) +
			pcpu_g.page_size - 1) >>
		       pcpu_g.page_shift);
	int rs, re, ret;

	pcpu_for_each_run (chunk->populated, ps, pe, rs, re, true) {
		ret = pcpu_populate_chunk(chunk, rs, re);
		if (ret)
			return ret;
		pcpu_lock();
		pcpu_chunk_populated(chunk, rs, re);
		pcpu_unlock();
	}
	return 0;
}

/* Undo a fresh allocation whose population failed.  Context: mutex. */
static void pcpu_alloc_undo(struct pcpu_chunk *chunk, int off, int bits,
			    struct pcpu_chunk *created)
{
	int oslot;

	pcpu_lock();
	oslot = pcpu_chunk_slot(chunk);
	pcpu_free_area(chunk, off, bits);
	pcpu_chunk_relocate(chunk, oslot);
	if (chunk == created && chunk->free_bytes == (int)pcpu_g.unit_size &&
	    !chunk->nr_populated)
		pcpu_chunk_unregister(chunk);
	else
		created = NULL;
	pcpu_unlock();
	if (created)
		pcpu_destroy_chunk(created);
}

/* The area at @off of @chunk is the caller's now: its per-CPU pointer. */
static void *pcpu_alloc_done(struct pcpu_chunk *chunk, int off, size_t size,
			     bool nowait)
{
	char *ptr = chunk->base_addr + ((size_t)off << PCPU_MIN_ALLOC_SHIFT);

	pcpu_trace4(percpu_alloc_percpu, ptr, size, chunk->base_addr, off);
	if (pcpu_san_active())
		pcpu_san_alloc(ptr, size, nowait);
	return ptr;
}

static void *pcpu_alloc_slow(int bits, int align, size_t size, bool nowait)
{
	struct pcpu_chunk *chunk, *created = NULL;
	bool cleaned = false, have_free_chunk;
	int off, ret;

	if (!nowait) {
		/* First try what is populated, without the mutex: most
		 * allocations need no page populated and no chunk created. */
		pcpu_lock();
		chunk = pcpu_alloc_search(bits, align, (int)size, true, &off);
		if (likely(chunk))
			goto found;
		pcpu_unlock();
		pthread_mutex_lock(&pcpu_g.alloc_mutex);
	}
	pcpu_lock();
	for (;;) {
		chunk = pcpu_alloc_search(bits, align, (int)size, nowait, &off);
		if (chunk)
			break;
		if (nowait) {
			pcpu_g.atomic_alloc_failed = true;
			pcpu_unlock();
			__atomic_store_n(&pcpu_g.balance_pending, 1,
					 __ATOMIC_RELEASE);
			pcpu_trace2(percpu_alloc_percpu_fail, size, align);
			errno = EAGAIN;
			return NULL;
		}
		have_free_chunk =
			!list_empty(&pcpu_g.chunk_lists[pcpu_g.free_slot]);
		pcpu_unlock();
		if (!cleaned && pcpu_clean_worthwhile()) {
			cleaned = true;
			pcpu_clean_all();
		} else if (created || have_free_chunk ||
			   !(created = pcpu_new_chunk())) {
			goto fail;
		}
		pcpu_lock();
	}
	pcpu_stats_area_alloc(chunk, size);
	PCPU_VERIFY(chunk, off, off + bits);
	pcpu_unlock();

	if (!nowait) {
		/* the mutex holder populates; nothing else can use these
		 * unpopulated bits meanwhile (pcpu_alloc_nowait and the fast
		 * path take populated pages only) */
		ret = pcpu_alloc_populate(chunk, off, bits);
		if (ret) {
			pcpu_lock();
			pcpu_stats_area_dealloc(chunk);
			pcpu_unlock();
			pcpu_alloc_undo(chunk, off, bits, created);
			goto fail;
		}
		if (pcpu_g.balance_enabled &&
		    (READ_ONCE(pcpu_g.nr_empty_pop_pages) <
			     PCPU_EMPTY_POP_PAGES_LOW ||
		     READ_ONCE(pcpu_g.balance_restart) ||
		     __atomic_load_n(&pcpu_g.balance_pending,
				     __ATOMIC_RELAXED)))
			pcpu_balance_kick();
		pthread_mutex_unlock(&pcpu_g.alloc_mutex);
	}
	return pcpu_alloc_done(chunk, off, size, nowait);

found:
	pcpu_stats_area_alloc(chunk, size);
	PCPU_VERIFY(chunk, off, off + bits);
	if (pcpu_g.nr_empty_pop_pages < PCPU_EMPTY_POP_PAGES_LOW)
		__atomic_store_n(&pcpu_g.balance_pending, 1, __ATOMIC_RELAXED);
	pcpu_unlock();
	return pcpu_alloc_done(chunk, off, size, nowait);

fail:
	pthread_mutex_unlock(&pcpu_g.alloc_mutex);
	pcpu_trace2(percpu_alloc_percpu_fail, size, align);
	errno = ENOMEM;
	return NULL;
}

/**
 * pcpu_alloc - allocate a per-CPU object
 * @size: bytes per unit, 1 to pcpu_unit_size()
 * @align: a power of two, 1 to the page size
 *
 * The object reads zero in every unit.  May populate pages, create a chunk
 * and clean freed areas.
 *
 * Context: takes pcpu_g.alloc_mutex and pcpu_g.lock; may make system
 * calls.
 * Return: the per-CPU pointer (use pcpu_ptr() to reach a unit's copy), or
 * NULL with errno EINVAL (bad size or alignment) or ENOMEM (no address
 * space or mapping could be had; the allocator is as it was).
 */
void *pcpu_alloc(size_t size, size_t align)
{
	int err = pcpu_check_args(size, align);

	if (unlikely(err)) {
		errno = err;
		return NULL;
	}
	if (unlikely(READ_ONCE(pcpu_g.balance_restart)))
		pcpu_balance_kick(); /* a forked child's thread did not start */
	return pcpu_alloc_slow(pcpu_size_to_bits(size),
			       align < PCPU_MIN_ALLOC_SIZE
				       ? 1
				       : (int)(align >> PCPU_MIN_ALLOC_SHIFT),
			       size, false);
}

/**
 * pcpu_alloc_nowait - allocate a per-CPU object without blocking
 * @size: bytes per unit, 1 to pcpu_unit_size()
 * @align: a power of two, 1 to the page size
 *
 * Uses populated pages only: no system call, never waits on the
 * allocation mutex.  A failure asks the balance work for a full refill of
 * empty populated pages.  (The very first call into libpcpu of a process
 * sets the allocator up, which reads sysfs.)
 *
 * Async-signal-safe: from a handler that interrupted its own thread inside
 * libpcpu's lock, it fails with EAGAIN.
 *
 * Context: takes pcpu_g.lock only.
 * Return: the per-CPU pointer, or NULL with errno EAGAIN (nothing
 * populated fits now) or EINVAL.
 */
void *pcpu_alloc_nowait(size_t size, size_t align)
{
	int err;

	if (unlikely(pcpu_lock_depth)) {
		/* a signal handler on top of this thread's own hold of the
		 * lock (or of the allocator's start-up) */
		errno = EAGAIN;
		return NULL;
	}
	err = pcpu_check_args(size, align);
	if (unlikely(err)) {
		errno = err == ENOMEM ? EAGAIN : err;
		return NULL;
	}
	return pcpu_alloc_slow(pcpu_size_to_bits(size),
			       align < PCPU_MIN_ALLOC_SIZE
				       ? 1
				       : (int)(align >> PCPU_MIN_ALLOC_SHIFT),
			       size, true);
}

static void __attribute__((noreturn, cold))
pcpu_bad_free(const void *ptr, const char *what)
{
	fprintf(stderr, "pcpu_free(): %s: %p\n", what, ptr);
	fflush(stderr);
	abort();
}

/* Free @ptr.  Context: pcpu_g.lock; a bad pointer aborts. */
static void pcpu_free_locked(void *ptr)
{
	struct pcpu_chunk *chunk;
	char *p = ptr, *base;
	int bit, bits;
	size_t off;

	base = (char *)((uintptr_t)p & ~(uintptr_t)(pcpu_g.unit_size - 1));
	off = (size_t)(p - base);
	chunk = pcpu_lookup(base);
	if (unlikely(!chunk || (off & (PCPU_MIN_ALLOC_SIZE - 1)))) {
		pcpu_unlock();
		pcpu_bad_free(ptr, "invalid pointer");
	}
	bit = (int)(off >> PCPU_MIN_ALLOC_SHIFT);
	/* the three map words are on three cold lines: miss on them at once */
	__builtin_prefetch(&chunk->bound_map[BIT_WORD(bit)], 0);
	__builtin_prefetch(&chunk->dirty_map[BIT_WORD(bit)], 1);
	if (unlikely(!test_bit(bit, chunk->alloc_map) ||
		     test_bit(bit, chunk->dirty_map))) {
		pcpu_unlock();
		pcpu_bad_free(ptr, "double free or invalid pointer");
	}
	if (unlikely(!test_bit(bit, chunk->bound_map))) {
		pcpu_unlock();
		pcpu_bad_free(ptr, "invalid pointer (inside an allocation)");
	}
	bits = find_next_bit(chunk->bound_map, pcpu_g.unit_map_bits + 1,
			     bit + 1) -
	       bit;
	if (pcpu_san_active())
		pcpu_san_free(p, (size_t)bits * PCPU_MIN_ALLOC_SIZE);
	bitmap_set(chunk->dirty_map, bit, bits);
	WRITE_ONCE(chunk->dirty_bytes,
		   chunk->dirty_bytes + bits * PCPU_MIN_ALLOC_SIZE);
	WRITE_ONCE(pcpu_g.dirty_bytes,
		   pcpu_g.dirty_bytes + (size_t)bits * PCPU_MIN_ALLOC_SIZE);
	pcpu_stats_area_dealloc(chunk);
	pcpu_trace3(percpu_free_percpu, chunk->base_addr, off, ptr);
	PCPU_VERIFY(chunk, bit, bit + bits);
	if (pcpu_g.dirty_bytes >= pcpu_g.unit_size &&
	    pcpu_g.dirty_bytes >= pcpu_g.used_bytes / 4)
		__atomic_store_n(&pcpu_g.balance_pending, 1, __ATOMIC_RELAXED);
}

/*
 * Frees from signal handlers that interrupted their own thread while it
 * held pcpu_g.lock: a slot each, taken with a compare-and-swap, emptied by
 * pcpu_free_deferred() when the interrupted call releases the lock.
 */
#define PCPU_NR_DEFERRED 1024
static void *pcpu_deferred[PCPU_NR_DEFERRED];

/* Context: a signal handler on top of a pcpu_g.lock holder. */
static void pcpu_defer_free(void *ptr)
{
	unsigned int i;

	__atomic_add_fetch(&pcpu_g.nr_deferred, 1, __ATOMIC_RELEASE);
	for (i = 0; i < PCPU_NR_DEFERRED; i++) {
		void *none = NULL;

		if (__atomic_compare_exchange_n(&pcpu_deferred[i], &none, ptr,
						false, __ATOMIC_RELEASE,
						__ATOMIC_RELAXED))
			return;
	}
	pcpu_bad_free(ptr, "more than 1024 frees deferred by signal handlers");
}

/**
 * pcpu_free_deferred - complete the frees signal handlers deferred
 *
 * Called by pcpu_unlock() when the calling thread's last hold of
 * pcpu_g.lock ends and frees are waiting.  A bad pointer among them is
 * reported and aborts here, as in pcpu_free().
 *
 * Context: takes pcpu_g.lock (a handler running meanwhile defers again).
 */
void pcpu_free_deferred(void)
{
	unsigned int i;

	while (__atomic_load_n(&pcpu_g.nr_deferred, __ATOMIC_ACQUIRE)) {
		pcpu_lock_depth++;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		pcpu_spin_lock(&pcpu_g.lock);
		for (i = 0; i < PCPU_NR_DEFERRED; i++) {
			void *p = __atomic_exchange_n(&pcpu_deferred[i], NULL,
						      __ATOMIC_ACQUIRE);

			if (p) {
				__atomic_sub_fetch(&pcpu_g.nr_deferred, 1,
						   __ATOMIC_RELEASE);
				pcpu_free_locked(p);
			}
		}
		pcpu_spin_unlock(&pcpu_g.lock);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		pcpu_lock_depth--;
	}
}

/**
 * pcpu_free - free a per-CPU object
 * @ptr: a per-CPU pointer from pcpu_alloc(), or NULL (no-op)
 *
 * No system call: the area is marked dirty and becomes reusable once the
 * cleaner has zeroed it in every unit page that exists.  (In a build with
 * AddressSanitizer, the area is poisoned in the units whose pages exist,
 * which one PAGEMAP_SCAN says; under valgrind, in every unit.)  A pointer that
 * is not the start of a live allocation (foreign, interior, already freed) is
 * reported on stderr and the process aborts, like glibc's free().
 *
 * Async-signal-safe: called from a handler that interrupted its own thread
 * inside libpcpu's lock, the free is queued and completed as soon as the
 * interrupted call releases the lock.
 *
 * Context: takes pcpu_g.lock.
 */
void pcpu_free(void *ptr)
{
	if (!ptr)
		return;
	if (unlikely(!__atomic_load_n(&pcpu_g.initialized, __ATOMIC_ACQUIRE)))
		pcpu_bad_free(ptr, "invalid pointer (allocator not in use)");
	if (unlikely(pcpu_lock_depth)) {
		pcpu_defer_free(ptr);
		return;
	}
	pcpu_lock();
	pcpu_free_locked(ptr);
	pcpu_unlock();
}

/**
 * pcpu_nr_units - units per chunk
 *
 * Context: any; starts the allocator if needed.
 * Return: the number of units (possible CPUs, or PCPU_NR_UNITS), or 0 if
 * the allocator cannot start.
 */
unsigned int pcpu_nr_units(void)
{
	return pcpu_ensure_init() ? 0 : pcpu_g.nr_units;
}

/**
 * pcpu_unit_size - bytes per unit, the largest possible allocation
 *
 * Context: any; starts the allocator if needed.
 * Return: the unit size, or 0 if the allocator cannot start.
 */
size_t pcpu_unit_size(void)
{
	return pcpu_ensure_init() ? 0 : pcpu_g.unit_size;
}

/**
 * pcpu_balance - run the balance work now, in the calling thread
 *
 * Cleans every freed area, frees surplus chunks, reclaims surplus empty
 * pages and tops up the pages pcpu_alloc_nowait() uses.
 *
 * Context: takes pcpu_g.alloc_mutex; makes system calls.
 */
void pcpu_balance(void)
{
	if (pcpu_ensure_init())
		return;
	if (unlikely(READ_ONCE(pcpu_g.balance_restart)))
		pcpu_balance_kick(); /* a forked child gets its thread back */
	pcpu_balance_workfn();
}

struct pcpu_present_ctx {
	char *base;
	size_t first, last; /* page offsets of the object inside a unit */
	long last_unit;
	void (*fn)(unsigned int unit, void *arg);
	void *arg;
};

static void pcpu_present_page(char *start, char *end, void *arg)
{
	struct pcpu_present_ctx *ctx = arg;
	char *page;

	for (page = start; page < end; page += pcpu_g.page_size) {
		size_t off = (size_t)(page - ctx->base);
		size_t in_unit = off & (pcpu_g.unit_size - 1);
		long unit = (long)(off / pcpu_g.unit_size) - 1;

		if (unit < 0 || in_unit < ctx->first || in_unit > ctx->last ||
		    unit == ctx->last_unit)
			continue;
		ctx->last_unit = unit;
		ctx->fn((unsigned int)unit, ctx->arg);
	}
}

/**
 * pcpu_for_each_present_unit - call @fn for each unit whose copy of
 * [@ptr, @ptr + @size) may hold something other than zero
 * @ptr: a per-CPU pointer
 * @size: the object's size
 * @fn: called once per such unit, in unit order
 * @arg: passed to @fn
 *
 * A unit page that was never touched reads zero, and reading it would
 * allocate it (design decision 3), so units whose pages do not exist are
 * skipped without being read; the kernel says which exist (one
 * PAGEMAP_SCAN or pagemap read).  If it cannot say, every unit is visited.
 *
 * Context: any; one system call.
 */
void pcpu_for_each_present_unit(const void *ptr, size_t size,
				void (*fn)(unsigned int unit, void *arg),
				void *arg)
{
	char *p = (char *)ptr;
	char *base =
		(char *)((uintptr_t)p & ~(uintptr_t)(pcpu_g.unit_size - 1));
	size_t pmask = pcpu_g.page_size - 1, off = (size_t)(p - base);
	struct pcpu_present_ctx ctx = {
		base, off & ~pmask, (off + size - 1) & ~pmask, -1, fn, arg};
	unsigned int u;

	if (!pcpu_os_scan_present(
		    base + pcpu_g.unit_size + ctx.first,
		    (size_t)(pcpu_g.nr_units - 1) * pcpu_g.unit_size +
			    ctx.last - ctx.first + pcpu_g.page_size,
		    pcpu_present_page, &ctx))
		return;
	for (u = 0; u < pcpu_g.nr_units; u++)
		fn(u, arg);
}

/* ---------------------------------------------------------------------
 * Invariant checker
 */

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
	struct pcpu_block_md t = {.nr_bits = pcpu_g.block_bits};

	pcpu_md_scan(chunk->alloc_map, i * pcpu_g.block_bits, &t);
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
	int B = pcpu_g.block_bits, map_bits = pcpu_g.unit_map_bits, i;
	int nr_empty = 0, words = BITS_TO_LONGS(map_bits);
	struct pcpu_block_md t = chunk->chunk_md;

	for (i = bit_start / B; i < pcpu_nr_blocks() && i * B < bit_end; i++)
		pcpu_verify_block(chunk, i);
	pcpu_chunk_refresh_hint(chunk);
	VERIFY(t.contig_hint == chunk->chunk_md.contig_hint, chunk,
	       "chunk contig_hint", t.contig_hint, chunk->chunk_md.contig_hint);
	VERIFY(t.first_free == chunk->chunk_md.first_free, chunk,
	       "chunk first_free", t.first_free, chunk->chunk_md.first_free);
	VERIFY(t.left_free == chunk->chunk_md.left_free &&
		       t.right_free == chunk->chunk_md.right_free,
	       chunk, "chunk left/right_free", t.left_free, t.right_free);
	if (bit_start == 0 && bit_end == map_bits) {
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

	/* the chunk-wide recounts cost a pass over every map: after a local
	 * change, do them on every 16th check only */
	if (bit_start != 0 || bit_end != map_bits) {
		static unsigned int ops;

		if (++ops % 16)
			return;
	}
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
		pcpu_chunk_verify(c, 0, pcpu_g.unit_map_bits);
		if (!c->isolated)
			empty += c->nr_empty_pop_pages;
		populated += c->nr_populated;
		dirty += (size_t)c->dirty_bytes;
		used += pcpu_g.unit_size - (size_t)c->free_bytes;
	}
	VERIFY(empty == pcpu_g.nr_empty_pop_pages, NULL, "nr_empty_pop_pages",
	       empty, pcpu_g.nr_empty_pop_pages);
	VERIFY(populated == pcpu_g.nr_populated, NULL, "nr_populated",
	       populated, pcpu_g.nr_populated);
	VERIFY(dirty == pcpu_g.dirty_bytes && used == pcpu_g.used_bytes, NULL,
	       "dirty/used bytes", (int)dirty, (int)used);
	pcpu_unlock();
}
