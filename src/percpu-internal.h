/* SPDX-License-Identifier: MIT */
/*
 * percpu-internal.h - the allocator's shared state and chunk metadata.
 *
 * Offsets and sizes inside a chunk are counted in bits of the allocation
 * map: one bit is PCPU_MIN_ALLOC_SIZE (4) bytes of every unit.
 */
#ifndef PCPU_INTERNAL_H
#define PCPU_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bitmap.h"
#include "list.h"
#include "os.h"

#include <pcpu/read.h>

/*
 * The variables the headers' inline code reads (pcpu.h says why no
 * header declares them for programs): the library writes them.
 */
PCPU_API extern size_t pcpu_unit_stride; /* percpu.c: set at start-up */
PCPU_API extern unsigned int pcpu_rseq_limit; /* ops.c */
PCPU_API extern unsigned long pcpu_rseq_index; /* ops.c */

#define PCPU_MIN_ALLOC_SHIFT 2
#define PCPU_MIN_ALLOC_SIZE (1 << PCPU_MIN_ALLOC_SHIFT)
#define PCPU_SLOT_BASE_SHIFT 5
#define PCPU_SLOT_FAIL_HINT 3
#define PCPU_EMPTY_POP_PAGES_LOW 2
#define PCPU_EMPTY_POP_PAGES_HIGH 4
#define PCPU_DEFAULT_UNIT_SIZE (64 * 1024)
#define PCPU_MAX_UNIT_SIZE (1UL << 30)
#define PCPU_MAX_UNITS 65536

/* Fields written under pcpu_g.lock and read without it, for heuristics
 * only, go through these (relaxed atomics: plain moves on x86-64, and no
 * data race for ThreadSanitizer or the compiler). */
#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/**
 * struct pcpu_block_md - free-space hints of one page (or of the chunk)
 * @scan_hint: an upper bound of every free run lying wholly before
 *             @contig_hint_start; an allocation larger than it starts
 *             searching at @contig_hint_start
 * @contig_hint: the largest free run, exact
 * @contig_hint_start: the first free run of that length
 * @left_free: free bits at the start, exact
 * @right_free: free bits at the end, exact
 * @first_free: the first free bit (@nr_bits when full), exact
 * @nr_bits: bits described
 *
 * All values are in bits, relative to the start of the block (or chunk).
 */
struct pcpu_block_md {
	int scan_hint;
	int contig_hint;
	int contig_hint_start;
	int left_free;
	int right_free;
	int first_free;
	int nr_bits;
};

/**
 * struct pcpu_chunk - one address-space reservation holding every unit
 * @list: link in its slot list
 * @free_bytes: bytes free in the allocation map (dirty areas excluded)
 * @dirty_bytes: bytes freed but not yet cleared (see pcpu_free())
 * @chunk_md: the chunk-wide hints
 * @base_addr: start of the guard unit; per-CPU pointers are base + offset
 * @alloc_map: one bit per 4 bytes, set when allocated or dirty
 * @bound_map: allocation boundaries: set at every start and one past every
 *             end (nr_bits + 1 bits)
 * @dirty_map: freed areas whose units may hold stale data
 * @md_blocks: one pcpu_block_md per page
 * @isolated: waiting for or past reclaim; not counted in the global
 *            empty-page count
 * @slot: the slot list @list is on
 * @nr_pages: pages per unit
 * @nr_populated: populated pages
 * @nr_empty_pop_pages: populated pages with no allocation in them
 * @nr_alloc: live allocations (statistics)
 * @max_alloc_size: largest allocation ever made here (statistics)
 * @populated: one bit per page, set when usable in every unit
 */
struct pcpu_chunk {
	struct list_head list;
	int free_bytes;
	int dirty_bytes;
	struct pcpu_block_md chunk_md;
	char *base_addr;
	unsigned long *alloc_map;
	unsigned long *bound_map;
	unsigned long *dirty_map;
	struct pcpu_block_md *md_blocks;
	bool isolated;
	int slot;
	int nr_pages;
	int nr_populated;
	int nr_empty_pop_pages;
	int nr_alloc;
	size_t max_alloc_size;
	unsigned long populated[];
};

/**
 * struct pcpu_stats - the kernel's percpu_stats counters
 */
struct pcpu_stats {
	uint64_t nr_alloc;
	uint64_t nr_dealloc;
	uint64_t nr_cur_alloc;
	uint64_t nr_max_alloc;
	uint32_t nr_chunks;
	uint32_t nr_max_chunks;
	size_t min_alloc_size;
	size_t max_alloc_size;
};

static inline void pcpu_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#define PCPU_CACHE_LINE 64

/* The spin lock of the allocation maps: no system call, ever. */
typedef struct {
	int locked;
} pcpu_spinlock_t;

static inline void pcpu_spin_lock(pcpu_spinlock_t *l)
{
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
			pcpu_cpu_relax();
}

static inline void pcpu_spin_unlock(pcpu_spinlock_t *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

/*
 * The lock of one counter or ref (an int inside the user's struct, which
 * no fork handler can find).  Its word holds the process image's fork
 * generation: a forked child starts a new generation, so a lock that a
 * thread of the parent held at the fork reads as free in the child, where
 * that thread does not exist.
 */
PCPU_API extern unsigned int pcpu_fork_gen; /* counter.c */

static inline void pcpu_obj_lock(int *l)
{
	int me =
		(int)((__atomic_load_n(&pcpu_fork_gen, __ATOMIC_RELAXED) << 1) |
		      1);

	for (;;) {
		int v = __atomic_load_n(l, __ATOMIC_RELAXED);

		if (v != me && __atomic_compare_exchange_n(l, &v, me, false,
							   __ATOMIC_ACQUIRE,
							   __ATOMIC_RELAXED))
			return;
		pcpu_cpu_relax();
	}
}

static inline void pcpu_obj_unlock(int *l)
{
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/*
 * No-fork sections.  A counter's fold updates two words (the unit's
 * folded word, then the shared count), and a ref's switch several; a fork
 * between them would leave the child, where the updating thread does not
 * exist, with the update half done for good.  So these run inside
 * pcpu_nofork_enter()/_exit(), and fork()'s prepare handler waits until
 * no other thread is inside one (while it waits, new sections wait for
 * the fork).  Lock-free and signal-safe: a handler on top of the forking
 * thread, or nested in its own section, goes on (pcpu_nofork_depth).  The
 * running count is sharded by thread to keep folds on different CPUs off
 * one cache line.
 */
#define PCPU_NOFORK_SHARDS 16

struct pcpu_nofork_shard {
	unsigned int running;
} __attribute__((aligned(64)));

extern struct pcpu_nofork_shard pcpu_nofork[PCPU_NOFORK_SHARDS];
extern int pcpu_fork_pending;
extern __thread unsigned int pcpu_nofork_depth
	__attribute__((tls_model("initial-exec")));

static inline unsigned int pcpu_nofork_shard(void)
{
	uintptr_t t = (uintptr_t)&pcpu_nofork_depth;

	return (unsigned int)(((t >> 12) * 2654435761u) >> 7) %
	       PCPU_NOFORK_SHARDS;
}

static inline void pcpu_nofork_enter(void)
{
	unsigned int *running = &pcpu_nofork[pcpu_nofork_shard()].running;

	for (;;) {
		__atomic_add_fetch(running, 1, __ATOMIC_SEQ_CST);
		if (likely(!__atomic_load_n(&pcpu_fork_pending,
					    __ATOMIC_SEQ_CST)) ||
		    pcpu_nofork_depth)
			break;
		__atomic_sub_fetch(running, 1, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&pcpu_fork_pending, __ATOMIC_ACQUIRE))
			pcpu_cpu_relax();
	}
	pcpu_nofork_depth++;
}

static inline void pcpu_nofork_exit(void)
{
	pcpu_nofork_depth--;
	__atomic_sub_fetch(&pcpu_nofork[pcpu_nofork_shard()].running, 1,
			   __ATOMIC_RELEASE);
}

/**
 * struct pcpu_geometry - what start-up settles, read-only afterwards
 *
 * pcpu_setup() fills it under the start-up lock before it publishes
 * pcpu_g.initialized (release); every later reader has seen that flag
 * (acquire), so reads need no lock.  Only pcpu_test_reset() and the tests'
 * force_* switches (before start-up) write it again.
 */
struct pcpu_geometry {
	bool strict;
	bool strict_refused; /* asked for (or the debug default), no guards */
	bool balance_enabled;
	bool tcache; /* per-thread caches of small clean areas (PCPU_TCACHE) */
	int show_stats; /* at exit: 0 nothing, 1 a summary, 2 everything */
	bool numa_bind; /* PCPU_NUMA=bind: mbind each node's run of units */
	bool force_numa; /* test-only: bind even on one node */
	int rseq_opt; /* PCPU_RSEQ: 0 atomic, 1 ignore the arm64 gate, -1 */
	int index_opt; /* PCPU_INDEX_CPU, _CID or _AUTO (pcpu.h) */
	const char *fake_release; /* test-only: gate on this arm64 release */

	struct pcpu_os_caps caps;
	size_t page_size;
	int page_shift;
	size_t unit_size;
	int unit_pages;
	int unit_map_bits; /* bits per unit */
	int block_bits; /* bits per page */
	unsigned int nr_units;
	size_t chunk_size; /* (nr_units + 1) * unit_size */
	int *unit_node; /* NUMA node per unit, or NULL */

	int nr_slots;
	int sidelined_slot;
	int free_slot;
	int to_depopulate_slot;
};

extern struct pcpu_geometry pcpu_geo;

/**
 * struct pcpu_global - the one allocator of the process
 *
 * Locking, as in the kernel: @alloc_mutex serializes everything that
 * changes what is mapped (chunk creation and destruction, populate,
 * depopulate, the cleaner, the balance work); @lock protects the maps, the
 * hints, the slots, the reverse lookup and the counters.  @lock nests
 * inside @alloc_mutex and is held across no system call, except in a
 * libpcpu built with AddressSanitizer, whose pcpu_free() asks which unit
 * pages exist (one PAGEMAP_SCAN) before poisoning the area.
 */
struct pcpu_global {
	bool initialized; /* pcpu_geo is settled; release/acquire */

	struct list_head *chunk_lists; /* pcpu_geo.nr_slots lists */
	/* bit s set iff chunk_lists[s] is not empty: the allocation search
	 * visits only those (walking the empty lists cost it a fifth) */
	unsigned long slot_mask;

	int nr_empty_pop_pages; /* in non-isolated chunks */
	int nr_populated;
	size_t dirty_bytes;
	size_t used_bytes; /* allocated, dirty included */
	bool atomic_alloc_failed;

	/* reverse lookup: open addressing on base_addr / unit_size */
	struct pcpu_chunk **lookup;
	size_t lookup_cap;
	size_t lookup_used;

	pthread_mutex_t alloc_mutex;
	/* pcpu_lock(), pcpu_unlock(): alone on its cache line, so that the
	 * waiters' reads of it do not take from the holder the line of the
	 * fields it writes (the stats, just below) */
	pcpu_spinlock_t lock __attribute__((aligned(PCPU_CACHE_LINE)));
	char lock_pad[PCPU_CACHE_LINE - sizeof(pcpu_spinlock_t)];
	unsigned int nr_deferred; /* frees queued by signal handlers */
	struct list_head tcaches; /* the threads' caches (percpu-tcache.c) */
	/* mbind's errno once NUMA placement fell back to first touch, or 0
	 * (alloc_mutex) */
	int numa_fallback_err;
	struct pcpu_stats stats;

	void **pages; /* pcpu_get_pages() */
	unsigned long *scratch; /* the cleaner's copy of a dirty map */

	/* balance thread */
	pthread_mutex_t balance_lock;
	pthread_cond_t balance_cond;
	pthread_t balance_thread;
	bool balance_running;
	bool balance_restart; /* forked child of a process that had it */
	bool balance_stop;
	int balance_pending; /* atomic */
	uint64_t balance_runs;
};

extern struct pcpu_global pcpu_g;

/*
 * pcpu_g.lock, taken by a thread that a signal handler may interrupt.
 * pcpu_lock_depth counts the calling thread's holds (and its attempts):
 * a handler that finds it nonzero is running on top of the lock's owner,
 * so pcpu_alloc_nowait() fails with EAGAIN and pcpu_free() defers the free
 * to the moment the interrupted call releases the lock (design decision
 * 11).  Initial-exec TLS: reading it never allocates, even in a handler.
 */
extern __thread unsigned int pcpu_lock_depth
	__attribute__((tls_model("initial-exec")));
void pcpu_free_deferred(void);

/* percpu-tcache.c: per-thread caches of small clean areas */
int pcpu_tcache_setup(void);
void *pcpu_tcache_alloc(int bits, int align, bool nowait);
void pcpu_tcache_drain(void);
void pcpu_tcache_fork_child(void);
void pcpu_tcache_forget(void);
bool pcpu_tcache_free(void *ptr);
int pcpu_stats_summary(FILE *out);
unsigned long pcpu_tcache_count(unsigned long *frees);
void pcpu_free_locked(void *ptr);
void pcpu_free_batch_locked(void *const *ptrs, unsigned int n);
void __attribute__((noreturn, cold))
pcpu_bad_free(const void *ptr, const char *what);
struct pcpu_chunk *pcpu_alloc_run(int bits, int align, int nr, int *offp);
void pcpu_free_clean(void *ptr, int bits);

/*
 * Lock assertions backing the "Context:" lines (the kernel's
 * lockdep_assert_held()): debug builds count, per thread, the holds of
 * pcpu_g.lock and pcpu_g.alloc_mutex, and a function documented to run
 * under one aborts if its caller does not hold it.
 */
#ifdef PCPU_DEBUG
extern __thread int pcpu_held_lock __attribute__((tls_model("initial-exec")));
extern __thread int pcpu_held_mutex __attribute__((tls_model("initial-exec")));
void pcpu_lockdep_fail(const char *lock, const char *func);
#define PCPU_LOCKDEP(stmt) stmt
#define lockdep_assert_held_lock()                                  \
	do {                                                        \
		if (!pcpu_held_lock)                                \
			pcpu_lockdep_fail("pcpu_g.lock", __func__); \
	} while (0)
#define lockdep_assert_held_mutex()                                        \
	do {                                                               \
		if (!pcpu_held_mutex)                                      \
			pcpu_lockdep_fail("pcpu_g.alloc_mutex", __func__); \
	} while (0)
#else
#define PCPU_LOCKDEP(stmt) ((void)0)
#define lockdep_assert_held_lock() ((void)0)
#define lockdep_assert_held_mutex() ((void)0)
#endif

static inline void pcpu_lock(void)
{
	pcpu_lock_depth++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pcpu_spin_lock(&pcpu_g.lock);
	PCPU_LOCKDEP(pcpu_held_lock++);
}

/* The allocation mutex (pcpu_g.alloc_mutex), counted for the asserts. */
static inline void pcpu_mutex_lock(void)
{
	pthread_mutex_lock(&pcpu_g.alloc_mutex);
	PCPU_LOCKDEP(pcpu_held_mutex++);
}

static inline void pcpu_mutex_unlock(void)
{
	PCPU_LOCKDEP(pcpu_held_mutex--);
	pthread_mutex_unlock(&pcpu_g.alloc_mutex);
}

/* Release pcpu_g.lock.  Return: true if the thread holds it no more. */
static inline bool __pcpu_unlock(void)
{
	PCPU_LOCKDEP(pcpu_held_lock--);
	pcpu_spin_unlock(&pcpu_g.lock);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return --pcpu_lock_depth == 0;
}

/* Release pcpu_g.lock and complete the frees handlers queued meanwhile. */
static inline void pcpu_unlock(void)
{
	if (__pcpu_unlock() &&
	    unlikely(__atomic_load_n(&pcpu_g.nr_deferred, __ATOMIC_ACQUIRE)))
		pcpu_free_deferred();
}

/* The start of the unit (the chunk's guard unit, for a per-CPU pointer)
 * that @p lies in: chunks and units are aligned to the unit size. */
static inline char *pcpu_unit_base(const void *p)
{
	return (char *)((uintptr_t)p & ~(uintptr_t)(pcpu_geo.unit_size - 1));
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
	return pcpu_geo.unit_pages;
}

static inline bool pcpu_block_is_free(const struct pcpu_block_md *md)
{
	return md->contig_hint == md->nr_bits;
}

/* percpu-block.c: the block hints */
void pcpu_init_md_block(struct pcpu_block_md *md, int nr_bits);
void pcpu_md_scan(const unsigned long *map, int base, struct pcpu_block_md *md);
void pcpu_chunk_refresh_hint(struct pcpu_chunk *chunk);
void pcpu_block_update_hint_alloc(struct pcpu_chunk *chunk, int bit_off,
				  int bits);
void pcpu_block_update_hint_free(struct pcpu_chunk *chunk, int bit_off,
				 int bits);

/* percpu.c, used by the backend, the statistics, the checker, the cleaner
 * and the block hints */
void pcpu_update_empty_pages(struct pcpu_chunk *chunk, int nr);
int __pcpu_size_to_slot(int size);
int pcpu_chunk_slot(const struct pcpu_chunk *chunk);
void pcpu_chunk_relocate(struct pcpu_chunk *chunk, int oslot);
void pcpu_isolate_chunk(struct pcpu_chunk *chunk);
void pcpu_reintegrate_chunk(struct pcpu_chunk *chunk);
void pcpu_free_area(struct pcpu_chunk *chunk, int bit_off, int bits);
struct pcpu_chunk *pcpu_alloc_chunk(void);
void pcpu_free_chunk(struct pcpu_chunk *chunk);
void pcpu_balance_workfn(void);

/* percpu-setup.c */
int pcpu_ensure_init(void);

/* percpu-verify.c */
void pcpu_chunk_verify(struct pcpu_chunk *chunk, int bit_start, int bit_end);
void pcpu_verify_all(void);

/* percpu-clean.c: the cleaner */
void pcpu_clean_all(void);
bool pcpu_clean_worthwhile(void);

/* percpu-lookup.c: the reverse lookup */
struct pcpu_chunk *pcpu_chunk_addr_search(const char *base);
int pcpu_lookup_reserve(void);
void pcpu_lookup_insert(struct pcpu_chunk *chunk);
void pcpu_lookup_remove(struct pcpu_chunk *chunk);

/* percpu-balance.c: the balance thread */
void pcpu_balance_start(void);
void pcpu_balance_kick(void);
void pcpu_balance_stop_thread(void);

/* Ask for the balance work: the thread (or the next allocation) runs it. */
static inline void pcpu_balance_schedule(void)
{
	__atomic_store_n(&pcpu_g.balance_pending, 1, __ATOMIC_RELEASE);
}
/* pcpu_for_each_present_unit(): <pcpu/read.h> */

/* percpu-vm.c: the seed's functions, kernel names and contracts */
void **pcpu_get_pages(void);
void pcpu_free_pages(struct pcpu_chunk *chunk, void **pages, int page_start,
		     int page_end);
int pcpu_alloc_pages(struct pcpu_chunk *chunk, void **pages, int page_start,
		     int page_end);
void pcpu_pre_unmap_flush(struct pcpu_chunk *chunk, int page_start,
			  int page_end);
void pcpu_unmap_pages(struct pcpu_chunk *chunk, void **pages, int page_start,
		      int page_end);
int pcpu_map_pages(struct pcpu_chunk *chunk, void **pages, int page_start,
		   int page_end);
void pcpu_post_map_flush(struct pcpu_chunk *chunk, int page_start,
			 int page_end);
int pcpu_populate_chunk(struct pcpu_chunk *chunk, int page_start, int page_end);
void pcpu_depopulate_chunk(struct pcpu_chunk *chunk, int page_start,
			   int page_end);
void pcpu_post_unmap_tlb_flush(struct pcpu_chunk *chunk, int page_start,
			       int page_end);
struct pcpu_chunk *pcpu_create_chunk(void);
void pcpu_destroy_chunk(struct pcpu_chunk *chunk);

/* ops.c */
void pcpu_ops_init(void);
bool pcpu_rseq_kernel_bug(const char *release, const char *version);
void *pcpu_this_unit_slow(void *ptr);
int pcpu_rseq_fence(void);

/* options.c */
int pcpu_options_load(const void *cfg, struct pcpu_geometry *geo);

/*
 * The statistics hooks (the kernel's pcpu_stats_* of percpu-internal.h):
 * inline, so the allocator never calls up into percpu-stats.c, which only
 * prints and reports.
 */
/**
 * pcpu_stats_area_alloc - count @n allocations of @size bytes
 * @chunk: where they were made
 * @size: the size of each, in bytes
 * @n: how many (a thread cache's refill counts its run at once)
 *
 * Context: pcpu_g.lock.
 */
static inline void pcpu_stats_area_alloc(struct pcpu_chunk *chunk, size_t size,
					 unsigned int n)
{
	struct pcpu_stats *s = &pcpu_g.stats;

	s->nr_alloc += n;
	s->nr_cur_alloc += n;
	if (s->nr_cur_alloc > s->nr_max_alloc)
		s->nr_max_alloc = s->nr_cur_alloc;
	if (!s->min_alloc_size || size < s->min_alloc_size)
		s->min_alloc_size = size;
	if (size > s->max_alloc_size)
		s->max_alloc_size = size;
	chunk->nr_alloc += (int)n;
	if (size > chunk->max_alloc_size)
		chunk->max_alloc_size = size;
}

/**
 * pcpu_stats_area_dealloc - count a free
 * @chunk: where the area was
 *
 * Context: pcpu_g.lock.
 */
static inline void pcpu_stats_area_dealloc(struct pcpu_chunk *chunk)
{
	pcpu_g.stats.nr_dealloc++;
	pcpu_g.stats.nr_cur_alloc--;
	chunk->nr_alloc--;
}

/**
 * pcpu_stats_chunk_alloc - count a new chunk
 *
 * Context: pcpu_g.lock.
 */
static inline void pcpu_stats_chunk_alloc(void)
{
	struct pcpu_stats *s = &pcpu_g.stats;

	s->nr_chunks++;
	if (s->nr_chunks > s->nr_max_chunks)
		s->nr_max_chunks = s->nr_chunks;
}

/**
 * pcpu_stats_chunk_dealloc - count a destroyed chunk
 *
 * Context: pcpu_g.lock.
 */
static inline void pcpu_stats_chunk_dealloc(void)
{
	pcpu_g.stats.nr_chunks--;
}

/* Test hooks (not exported from the shared library). */
void pcpu_test_reset(void);

#ifdef PCPU_DEBUG
#define PCPU_VERIFY(chunk, s, e) pcpu_chunk_verify(chunk, s, e)
#else
#define PCPU_VERIFY(chunk, s, e) ((void)0)
#endif

#endif /* PCPU_INTERNAL_H */
