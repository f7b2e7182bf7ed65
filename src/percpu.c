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

struct pcpu_geometry pcpu_geo;

struct pcpu_global pcpu_g = {
	.tcaches = {&pcpu_g.tcaches, &pcpu_g.tcaches},
	.alloc_mutex = PTHREAD_MUTEX_INITIALIZER,
	.balance_lock = PTHREAD_MUTEX_INITIALIZER,
	.balance_cond = PTHREAD_COND_INITIALIZER,
};
/* pcpu_g.lock has its cache line to itself (two threads allocating at once
 * took 668 ns a pair with the stats on the lock's line, 105 without) */
_Static_assert(offsetof(struct pcpu_global, lock) % PCPU_CACHE_LINE == 0,
	       "pcpu_g.lock starts a cache line");
_Static_assert(offsetof(struct pcpu_global, nr_deferred) -
			       offsetof(struct pcpu_global, lock) >=
		       PCPU_CACHE_LINE,
	       "nothing else on pcpu_g.lock's cache line");

size_t pcpu_unit_stride;

struct pcpu_nofork_shard pcpu_nofork[PCPU_NOFORK_SHARDS];
int pcpu_fork_pending;
__thread unsigned int pcpu_nofork_depth
	__attribute__((tls_model("initial-exec")));
#ifdef PCPU_DEBUG
__thread int pcpu_held_lock __attribute__((tls_model("initial-exec")));
__thread int pcpu_held_mutex __attribute__((tls_model("initial-exec")));

void pcpu_lockdep_fail(const char *lock, const char *func)
{
	fprintf(stderr, "libpcpu: %s() called without %s held\n", func, lock);
	abort();
}
#endif
__thread unsigned int pcpu_lock_depth
	__attribute__((tls_model("initial-exec")));

static inline int pcpu_fls(unsigned int x)
{
	return x ? 32 - __builtin_clz(x) : 0;
}

/* Bits of allocation per byte count, rounded up. */
static inline int pcpu_size_to_bits(size_t size)
{
	return (int)((size + PCPU_MIN_ALLOC_SIZE - 1) >> PCPU_MIN_ALLOC_SHIFT);
}

/* ---------------------------------------------------------------------
 * Slots
 */

int __pcpu_size_to_slot(int size)
{
	return max_int(pcpu_fls((unsigned int)size) - PCPU_SLOT_BASE_SHIFT + 2,
		       1);
}

static int pcpu_size_to_slot(int size)
{
	if ((size_t)size == pcpu_geo.unit_size)
		return pcpu_geo.free_slot;
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

/* Bring pcpu_g.slot_mask's bit of @slot (if it is one) up to date. */
static void pcpu_slot_sync(int slot)
{
	if (slot < 0 || slot >= pcpu_geo.nr_slots)
		return;
	if (list_empty(&pcpu_g.chunk_lists[slot]))
		pcpu_g.slot_mask &= ~(1UL << slot);
	else
		pcpu_g.slot_mask |= 1UL << slot;
}

static void __pcpu_chunk_move(struct pcpu_chunk *chunk, int slot,
			      bool move_front)
{
	int oslot = chunk->slot;

	if (move_front)
		list_move(&chunk->list, &pcpu_g.chunk_lists[slot]);
	else
		list_move_tail(&chunk->list, &pcpu_g.chunk_lists[slot]);
	chunk->slot = slot;
	pcpu_slot_sync(slot);
	pcpu_slot_sync(oslot);
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
void pcpu_chunk_relocate(struct pcpu_chunk *chunk, int oslot)
{
	int nslot = pcpu_chunk_slot(chunk);

	lockdep_assert_held_lock();
	if (!chunk->isolated && oslot != nslot)
		__pcpu_chunk_move(chunk, nslot, oslot < nslot);
}

void pcpu_update_empty_pages(struct pcpu_chunk *chunk, int nr)
{
	chunk->nr_empty_pop_pages += nr;
	if (!chunk->isolated)
		WRITE_ONCE(pcpu_g.nr_empty_pop_pages,
			   pcpu_g.nr_empty_pop_pages + nr);
}

/* Take @chunk off the allocation path, for reclaim. */
void pcpu_isolate_chunk(struct pcpu_chunk *chunk)
{
	lockdep_assert_held_lock();
	if (!chunk->isolated) {
		chunk->isolated = true;
		WRITE_ONCE(pcpu_g.nr_empty_pop_pages,
			   pcpu_g.nr_empty_pop_pages -
				   chunk->nr_empty_pop_pages);
	}
	pcpu_chunk_move(chunk, pcpu_geo.to_depopulate_slot);
}

void pcpu_reintegrate_chunk(struct pcpu_chunk *chunk)
{
	lockdep_assert_held_lock();
	if (chunk->isolated) {
		chunk->isolated = false;
		WRITE_ONCE(pcpu_g.nr_empty_pop_pages,
			   pcpu_g.nr_empty_pop_pages +
				   chunk->nr_empty_pop_pages);
		pcpu_chunk_relocate(chunk, -1);
	}
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
	int B = pcpu_geo.block_bits, carry = 0, i;

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
	int ps = (bit_off << PCPU_MIN_ALLOC_SHIFT) >> pcpu_geo.page_shift;
	int pe = (int)((((size_t)(bit_off + bits) << PCPU_MIN_ALLOC_SHIFT) +
			pcpu_geo.page_size - 1) >>
		       pcpu_geo.page_shift);
	int rs = find_next_zero_bit(chunk->populated, pe, ps);

	if (rs >= pe)
		return true;
	*next = (rs + 1) * pcpu_geo.block_bits;
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
	int end = pcpu_geo.unit_map_bits, off;

	lockdep_assert_held_lock();
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
void pcpu_free_area(struct pcpu_chunk *chunk, int bit_off, int bits)
{
	lockdep_assert_held_lock();
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
	int map_longs = BITS_TO_LONGS(pcpu_geo.unit_map_bits);
	int bound_longs = BITS_TO_LONGS(pcpu_geo.unit_map_bits + 1);
	int pop_longs = BITS_TO_LONGS(pcpu_geo.unit_pages);
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
	chunk->nr_pages = pcpu_geo.unit_pages;
	chunk->free_bytes = (int)pcpu_geo.unit_size;
	set_bit(pcpu_geo.unit_map_bits, chunk->bound_map);
	for (i = 0; i < pcpu_nr_blocks(); i++)
		pcpu_init_md_block(&chunk->md_blocks[i], pcpu_geo.block_bits);
	pcpu_init_md_block(&chunk->chunk_md, pcpu_geo.unit_map_bits);
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

	lockdep_assert_held_lock();
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
	lockdep_assert_held_lock();
	bitmap_clear(chunk->populated, rs, re - rs);
	chunk->nr_populated -= re - rs;
	pcpu_g.nr_populated -= re - rs;
	pcpu_update_empty_pages(chunk, -(re - rs));
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
	if (pcpu_lookup_reserve())
		return -ENOMEM;
	pcpu_lock();
	pcpu_lookup_insert(chunk);
	pcpu_chunk_relocate(chunk, -1);
	pcpu_stats_chunk_alloc();
	pcpu_unlock();
	return 0;
}

/* Unlink @chunk from everything.  Context: pcpu_g.lock. */
static void pcpu_chunk_unregister(struct pcpu_chunk *chunk)
{
	lockdep_assert_held_lock();
	list_del_init(&chunk->list);
	pcpu_slot_sync(chunk->slot);
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

	lockdep_assert_held_mutex();
	if (!chunk)
		return NULL;
	if (pcpu_chunk_register(chunk)) {
		pcpu_destroy_chunk(chunk);
		return NULL;
	}
	return chunk;
}

/* ---------------------------------------------------------------------
 * Balance work
 */

/*
 * pcpu_balance_free - destroy surplus free chunks, keeping one; with
 * @empty_only, only those with nothing populated.
 */
static void pcpu_balance_free(bool empty_only)
{
	struct list_head *free_head = &pcpu_g.chunk_lists[pcpu_geo.free_slot];
	struct pcpu_chunk *chunk, *next;
	struct list_head to_free;

	lockdep_assert_held_mutex();
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
	struct list_head *head =
		&pcpu_g.chunk_lists[pcpu_geo.to_depopulate_slot];
	struct pcpu_chunk *chunk;

	lockdep_assert_held_mutex();
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
		if (reintegrate || chunk->free_bytes == (int)pcpu_geo.unit_size)
			pcpu_reintegrate_chunk(chunk);
		else
			__pcpu_chunk_move(chunk, pcpu_geo.sidelined_slot,
					  false);
	}
	pcpu_unlock();
}

/* The first chunk on slots [from, free_slot] with an unpopulated page. */
static struct pcpu_chunk *pcpu_find_unpopulated(int from)
{
	struct pcpu_chunk *chunk;
	int slot;

	for (slot = from; slot <= pcpu_geo.free_slot; slot++)
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
	int nr_to_pop, from = pcpu_size_to_slot((int)pcpu_geo.page_size);
	bool created = false;

	lockdep_assert_held_mutex();
	pcpu_lock();
	if (pcpu_g.atomic_alloc_failed) {
		/* the full refill; populating costs nothing but bookkeeping
		 * outside strict mode, so there it is a chunk's worth */
		nr_to_pop = pcpu_geo.strict ? PCPU_EMPTY_POP_PAGES_HIGH
					    : max_int(PCPU_EMPTY_POP_PAGES_HIGH,
						      pcpu_geo.unit_pages);
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
	pcpu_mutex_lock();
	(void)pcpu_clean_all();
	pcpu_balance_free(false);
	pcpu_reclaim_populated();
	pcpu_balance_populated();
	pcpu_balance_free(true);
	WRITE_ONCE(pcpu_g.balance_runs, pcpu_g.balance_runs + 1);
#ifdef PCPU_DEBUG
	pcpu_verify_all();
#endif
	pcpu_mutex_unlock();
}

/* ---------------------------------------------------------------------
 * Public entry points
 */

static int pcpu_check_args(size_t size, size_t align)
{
	if (unlikely(pcpu_ensure_init()))
		return ENOMEM;
	if (unlikely(!size || size > pcpu_geo.unit_size || !align ||
		     (align & (align - 1)) || align > pcpu_geo.page_size))
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
	int slot = pcpu_size_to_slot(size), off;
	/* the slots from @size's to the free slot that hold chunks; a failed
	 * chunk moves to slot 0, below them */
	unsigned long slots =
		pcpu_g.slot_mask & (~0UL << slot) &
		(~0UL >> (BITS_PER_LONG - 1 - pcpu_geo.free_slot));

	lockdep_assert_held_lock();
	for (; slots; slots &= slots - 1) {
		slot = __builtin_ctzl(slots);
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

/**
 * pcpu_alloc_run - take @nr adjacent areas of @bits bits in populated pages
 * @bits: bits of each area
 * @align: alignment of the run (and so of each area, @bits a multiple of it)
 * @nr: how many
 * @offp: set to the first area's bit offset
 *
 * One search for the whole run, whose bounds are then set between the
 * areas: the maps read as @nr allocations made one after the other, each
 * freed on its own.  Counted in the statistics as @nr allocations (a
 * thread cache holds them; pcpu_free_clean() gives back what it did not
 * hand out).  No system call.
 *
 * Context: pcpu_g.lock.
 * Return: the chunk, or NULL when no run fits in populated pages.
 */
struct pcpu_chunk *pcpu_alloc_run(int bits, int align, int nr, int *offp)
{
	int run = bits * nr;
	struct pcpu_chunk *chunk;

	lockdep_assert_held_lock();
	chunk = pcpu_alloc_search(run, align, run * PCPU_MIN_ALLOC_SIZE, true,
				  offp);
	if (!chunk)
		return NULL;
	bitmap_set_every(chunk->bound_map, *offp + bits, bits, nr - 1);
	pcpu_stats_area_alloc(chunk, (size_t)bits * PCPU_MIN_ALLOC_SIZE,
			      (unsigned int)nr);
	PCPU_VERIFY(chunk, *offp, *offp + run);
	if (pcpu_g.nr_empty_pop_pages < PCPU_EMPTY_POP_PAGES_LOW)
		pcpu_balance_schedule();
	return chunk;
}

/**
 * pcpu_free_clean - give back an area a thread cache never handed out
 * @ptr: its per-CPU pointer
 * @bits: its size in bits
 *
 * The area reads zero in every unit still: it is freed at once, not
 * marked dirty, and its allocation is uncounted.
 *
 * Context: pcpu_g.lock.
 */
void pcpu_free_clean(void *ptr, int bits)
{
	char *p = ptr, *base = pcpu_unit_base(p);
	struct pcpu_chunk *chunk = pcpu_chunk_addr_search(base);
	int bit = (int)((size_t)(p - base) >> PCPU_MIN_ALLOC_SHIFT), oslot;

	lockdep_assert_held_lock();
	oslot = pcpu_chunk_slot(chunk);
	pcpu_free_area(chunk, bit, bits);
	pcpu_g.stats.nr_alloc--;
	pcpu_g.stats.nr_cur_alloc--;
	chunk->nr_alloc--;
	pcpu_chunk_relocate(chunk, oslot);
	PCPU_VERIFY(chunk, bit, bit + bits);
}

/* Populate the pages under [off, off + bits) of @chunk that are not. */
static int pcpu_alloc_populate(struct pcpu_chunk *chunk, int off, int bits)
{
	int ps = (off << PCPU_MIN_ALLOC_SHIFT) >> pcpu_geo.page_shift;
	int pe = (int)((((size_t)(off + bits) << PCPU_MIN_ALLOC_SHIFT) +
			pcpu_geo.page_size - 1) >>
		       pcpu_geo.page_shift);
	int rs, re, ret;

	lockdep_assert_held_mutex();
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

	lockdep_assert_held_mutex();
	pcpu_lock();
	oslot = pcpu_chunk_slot(chunk);
	pcpu_free_area(chunk, off, bits);
	pcpu_chunk_relocate(chunk, oslot);
	if (chunk == created && chunk->free_bytes == (int)pcpu_geo.unit_size &&
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

/*
 * pcpu_alloc_populated - take room in pages that are populated already
 *
 * No mutex, no system call.  A success leaves a balance request if empty
 * populated pages run low (after a pcpu_alloc()); a pcpu_alloc_nowait()
 * failure asks for a full refill.
 * Context: takes pcpu_g.lock.  Return: the chunk (and *@offp), or NULL.
 */
static struct pcpu_chunk *pcpu_alloc_populated(int bits, int align, size_t size,
					       bool nowait, int *offp)
{
	struct pcpu_chunk *chunk;

	pcpu_lock();
	chunk = pcpu_alloc_search(bits, align, (int)size, true, offp);
	if (likely(chunk)) {
		pcpu_stats_area_alloc(chunk, size, 1);
		PCPU_VERIFY(chunk, *offp, *offp + bits);
		if (!nowait &&
		    pcpu_g.nr_empty_pop_pages < PCPU_EMPTY_POP_PAGES_LOW)
			pcpu_balance_schedule();
	} else if (nowait) {
		pcpu_g.atomic_alloc_failed = true;
	}
	pcpu_unlock();
	if (!chunk && nowait)
		pcpu_balance_schedule();
	return chunk;
}

/*
 * pcpu_alloc_room - take room anywhere, cleaning dirty areas or creating
 * a chunk when nothing fits (at most once each)
 * @created: set to the chunk created for this allocation, if one was
 *
 * The area may lie on unpopulated pages: the caller populates them.
 * Context: pcpu_g.alloc_mutex; takes pcpu_g.lock; makes system calls.
 * Return: the chunk (and *@offp), or NULL (no room could be had).
 */
static struct pcpu_chunk *pcpu_alloc_room(int bits, int align, size_t size,
					  int *offp,
					  struct pcpu_chunk **created)
{
	struct pcpu_chunk *chunk;
	bool cleaned = false, have_free_chunk;

	lockdep_assert_held_mutex();
	pcpu_lock();
	while (!(chunk = pcpu_alloc_search(bits, align, (int)size, false,
					   offp))) {
		have_free_chunk =
			!list_empty(&pcpu_g.chunk_lists[pcpu_geo.free_slot]);
		pcpu_unlock();
		if (!cleaned && pcpu_clean_worthwhile()) {
			cleaned = true;
			pcpu_clean_all();
		} else if (*created || have_free_chunk ||
			   !(*created = pcpu_new_chunk())) {
			return NULL;
		}
		pcpu_lock();
	}
	pcpu_stats_area_alloc(chunk, size, 1);
	PCPU_VERIFY(chunk, *offp, *offp + bits);
	pcpu_unlock();
	return chunk;
}

/* After a pcpu_alloc() that took the mutex: should the balancer run? */
static bool pcpu_balance_wanted(void)
{
	return pcpu_geo.balance_enabled &&
	       (READ_ONCE(pcpu_g.nr_empty_pop_pages) <
			PCPU_EMPTY_POP_PAGES_LOW ||
		READ_ONCE(pcpu_g.balance_restart) ||
		__atomic_load_n(&pcpu_g.balance_pending, __ATOMIC_RELAXED));
}

static void *pcpu_alloc_fail(size_t size, size_t align, int err)
{
	pcpu_trace2(percpu_alloc_percpu_fail, size, align);
	errno = err;
	return NULL;
}

/*
 * __pcpu_alloc - the allocation path of pcpu_alloc() and
 * pcpu_alloc_nowait(), in the kernel's order: populated pages first,
 * without the mutex; then, for pcpu_alloc() only, under the mutex, any
 * room (cleaning or creating a chunk), whose pages the mutex holder
 * populates (nothing else can take these unpopulated bits meanwhile: the
 * other paths take populated pages only), rolling back on failure.
 */
/* out of line: the callers' fast path (a thread cache) keeps a small frame */
static __attribute__((noinline)) void *__pcpu_alloc(int bits, int align,
						    size_t size, bool nowait)
{
	struct pcpu_chunk *chunk, *created = NULL;
	int off;

	chunk = pcpu_alloc_populated(bits, align, size, nowait, &off);
	if (likely(chunk))
		return pcpu_alloc_done(chunk, off, size, nowait);
	if (nowait)
		return pcpu_alloc_fail(size, (size_t)align, EAGAIN);
	pcpu_mutex_lock();
	chunk = pcpu_alloc_room(bits, align, size, &off, &created);
	if (chunk && pcpu_alloc_populate(chunk, off, bits)) {
		pcpu_lock();
		pcpu_stats_area_dealloc(chunk);
		pcpu_unlock();
		pcpu_alloc_undo(chunk, off, bits, created);
		chunk = NULL;
	}
	if (chunk && pcpu_balance_wanted())
		pcpu_balance_kick();
	pcpu_mutex_unlock();
	if (!chunk)
		return pcpu_alloc_fail(size, (size_t)align, ENOMEM);
	return pcpu_alloc_done(chunk, off, size, nowait);
}

/* From the thread's cache (a size that is a multiple of 4, up to 64
 * bytes, aligned no more than it), else by the usual path. */
static void *pcpu_alloc_any(size_t size, size_t align, bool nowait)
{
	int bits = pcpu_size_to_bits(size);
	int abits = align < PCPU_MIN_ALLOC_SIZE
			    ? 1
			    : (int)(align >> PCPU_MIN_ALLOC_SHIFT);

	if (pcpu_geo.tcache && !(size & (PCPU_MIN_ALLOC_SIZE - 1))) {
		char *p = pcpu_tcache_alloc(bits, abits, nowait);

		if (p) {
			char *base = pcpu_unit_base(p);

			pcpu_trace4(percpu_alloc_percpu, p, size, base,
				    (int)((size_t)(p - base) >>
					  PCPU_MIN_ALLOC_SHIFT));
			return p;
		}
	}
	return __pcpu_alloc(bits, abits, size, nowait);
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
	return pcpu_alloc_any(size, align, false);
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
	return pcpu_alloc_any(size, align, true);
}

void __attribute__((noreturn, cold))
pcpu_bad_free(const void *ptr, const char *what)
{
	fprintf(stderr, "pcpu_free(): %s: %p\n", what, ptr);
	fflush(stderr);
	abort();
}

/*
 * Mark the area at @ptr in @chunk (found from its unit base @base) dirty:
 * the cleaner clears it before it is reused.  A pointer that is not the
 * start of a live area aborts.  Return: its size in bytes.  Context:
 * pcpu_g.lock.
 */
static size_t pcpu_free_mark(struct pcpu_chunk *chunk, char *base, void *ptr)
{
	char *p = ptr;
	size_t off = (size_t)(p - base), size;
	int bit, bits;

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
	bits = find_next_bit(chunk->bound_map, pcpu_geo.unit_map_bits + 1,
			     bit + 1) -
	       bit;
	size = (size_t)bits * PCPU_MIN_ALLOC_SIZE;
	if (pcpu_san_active())
		pcpu_san_free(p, size);
	bitmap_set(chunk->dirty_map, bit, bits);
	WRITE_ONCE(chunk->dirty_bytes, chunk->dirty_bytes + size);
	chunk->nr_alloc--;
	pcpu_trace3(percpu_free_percpu, chunk->base_addr, off, ptr);
	PCPU_VERIFY(chunk, bit, bit + bits);
	return size;
}

/* Count @n frees of @size bytes in all, and wake the cleaner when freed
 * bytes pile up.  Context: pcpu_g.lock. */
static void pcpu_free_account(size_t size, unsigned int n)
{
	WRITE_ONCE(pcpu_g.dirty_bytes, pcpu_g.dirty_bytes + size);
	pcpu_g.stats.nr_dealloc += n;
	pcpu_g.stats.nr_cur_alloc -= n;
	if (pcpu_g.dirty_bytes >= pcpu_geo.unit_size &&
	    pcpu_g.dirty_bytes >= pcpu_g.used_bytes / 4)
		pcpu_balance_schedule();
}

/* Free @ptr.  Context: pcpu_g.lock; a bad pointer aborts. */
void pcpu_free_locked(void *ptr)
{
	char *base = pcpu_unit_base(ptr);

	lockdep_assert_held_lock();
	pcpu_free_account(
		pcpu_free_mark(pcpu_chunk_addr_search(base), base, ptr), 1);
}

/**
 * pcpu_free_batch_locked - free @n objects at once
 * @ptrs: their per-CPU pointers
 * @n: how many
 *
 * What pcpu_free_locked() does for each, validation included, with one
 * chunk lookup for a row of objects in the same chunk (a thread cache's
 * buffered frees mostly are) and the counts updated once.
 *
 * Context: pcpu_g.lock; a bad pointer aborts.
 */
void pcpu_free_batch_locked(void *const *ptrs, unsigned int n)
{
	struct pcpu_chunk *chunk = NULL;
	char *last = NULL;
	size_t size = 0;

	lockdep_assert_held_lock();
	for (unsigned int i = 0; i < n; i++) {
		char *base = pcpu_unit_base(ptrs[i]);

		if (base != last || !chunk) {
			chunk = pcpu_chunk_addr_search(base);
			last = base;
		}
		size += pcpu_free_mark(chunk, base, ptrs[i]);
	}
	if (n)
		pcpu_free_account(size, n);
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
		pcpu_lock();
		for (i = 0; i < PCPU_NR_DEFERRED; i++) {
			void *p = __atomic_exchange_n(&pcpu_deferred[i], NULL,
						      __ATOMIC_ACQUIRE);

			if (p) {
				__atomic_sub_fetch(&pcpu_g.nr_deferred, 1,
						   __ATOMIC_RELEASE);
				pcpu_free_locked(p);
			}
		}
		(void)__pcpu_unlock(); /* the loop drains what came meanwhile */
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
	if (pcpu_geo.tcache && pcpu_tcache_free(ptr))
		return;
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
	return pcpu_ensure_init() ? 0 : pcpu_geo.nr_units;
}

/**
 * pcpu_unit_size - bytes per unit, the largest possible allocation
 *
 * Context: any; starts the allocator if needed.
 * Return: the unit size, or 0 if the allocator cannot start.
 */
size_t pcpu_unit_size(void)
{
	return pcpu_ensure_init() ? 0 : pcpu_geo.unit_size;
}

/**
 * pcpu_balance - run the balance work now, in the calling thread
 *
 * Gives the calling thread's cache of small areas back, cleans every freed
 * area, frees surplus chunks, reclaims surplus empty pages and tops up the
 * pages pcpu_alloc_nowait() uses.
 *
 * Context: takes pcpu_g.alloc_mutex; makes system calls.
 */
void pcpu_balance(void)
{
	if (pcpu_ensure_init())
		return;
	if (unlikely(READ_ONCE(pcpu_g.balance_restart)))
		pcpu_balance_kick(); /* a forked child gets its thread back */
	pcpu_tcache_drain();
	pcpu_balance_workfn();
}
