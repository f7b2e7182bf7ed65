// SPDX-License-Identifier: MIT
/*
 * percpu-tcache.c - per-thread caches of clean small areas.
 *
 * A thread that allocates small objects (4 to 64 bytes, a multiple of 4,
 * aligned no more than the size allows) takes them from its own cache of
 * clean areas: no lock, no search.  The cache of a size class is refilled
 * in one go under pcpu_g.lock: one search for a run of pcpu_tc_batch(b)
 * areas in populated pages, carved into that many allocations (their
 * bounds set in the bound map, as if allocated one by one).
 *
 * Frees: the cache remembers its runs (one slot per size class at most
 * holds cached areas, PCPU_TC_RUNS slots in all), and for each area
 * whether it is cached or handed out.  A free of an area handed out from
 * one of them is checked there (a free of a cached area, or a second free
 * still waiting, aborts at once) and waits in the thread's buffer of
 * PCPU_TC_FREES frees, which one hold of the lock applies, each validated
 * again by pcpu_free_locked().  Any other pointer takes the usual path,
 * validated at once under the lock; so does a free of an area this
 * thread handed out and saw freed once, since it may have been cleaned
 * and handed to someone else meanwhile (the usual path tells that from a
 * double free).
 *
 * Bounds: a class holds at most 256 bytes a unit (64 / b areas of b
 * 4-byte words, at least 4, at most 32), so a thread's cache holds at most
 * 4 KiB a unit, in pages that are populated and read zero, and delays at
 * most 32 frees.  The areas go back to the allocator and the frees are
 * applied when the thread exits, in pcpu_balance() (the calling thread's),
 * and in a forked child (every thread's but the caller's, which the child
 * does not have).  The statistics count what the program holds: nr_alloc
 * and nr_cur_alloc leave out the cached areas (nr_cached), the buffered
 * frees count as frees.
 *
 * Signals (design decision 11): the owner marks its cache busy while it
 * works on it; a handler that finds it busy takes the usual path.  Fork:
 * refills and flushes run under pcpu_g.lock, which the fork handlers
 * hold; a pop or a push stores the count last (release), so the child's
 * copy of another thread's cache lists nothing twice.
 *
 * Off in builds and runs that track memory (AddressSanitizer, valgrind),
 * which must see every allocation and free, and with PCPU_TCACHE=0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "percpu-internal.h"

#define PCPU_TC_CLASSES 16 /* b = 1 .. 16 words of 4 bytes */
#define PCPU_TC_MAX 32
#define PCPU_TC_RUNS PCPU_TC_CLASSES
#define PCPU_TC_FREES 32
#define PCPU_TC_SKIP \
	64 /* allocations by the usual path after a failed refill */

/* A run a refill took: bit i of @live / @cached says area i is handed out
 * / in the cache. */
struct pcpu_tc_run {
	char *start, *end; /* end NULL: the slot is unused */
	unsigned int b, nr;
	uint32_t live, cached;
	unsigned int recip; /* ceil(1024 / b): division by b without div */
};

struct pcpu_tcache {
	int busy;
	unsigned int n[PCPU_TC_CLASSES];
	void *area[PCPU_TC_CLASSES][PCPU_TC_MAX];
	unsigned char area_run[PCPU_TC_CLASSES][PCPU_TC_MAX];
	unsigned char area_bit[PCPU_TC_CLASSES][PCPU_TC_MAX]; /* in its run */
	struct pcpu_tc_run run[PCPU_TC_RUNS];
	unsigned int next_run, last_run;
	char *lo, *hi; /* every run lies in [lo, hi): most frees miss them */
	unsigned int nr_frees;
	void *frees[PCPU_TC_FREES];
	/* allocations of a class that skip the refill after one found no
	 * run: in chunks made of scattered holes the search for a run visits
	 * every chunk, and fails */
	unsigned short skip[PCPU_TC_CLASSES];
	struct list_head node; /* pcpu_g.tcaches, under pcpu_g.lock */
};

static __thread struct pcpu_tcache *pcpu_tc
	__attribute__((tls_model("initial-exec")));
static __thread bool pcpu_tc_gone __attribute__((tls_model("initial-exec")));
static pthread_key_t pcpu_tc_key;
static bool pcpu_tc_key_made;

/* Areas a refill of class @b (in 4-byte words) takes: 256 bytes' worth. */
static inline int pcpu_tc_batch(int b)
{
	int k = 64 / b;

	return k < 4 ? 4 : k > PCPU_TC_MAX ? PCPU_TC_MAX : k;
}

/* The word offset @w of a run (< 64: a run spans at most 64 words) divided
 * by the run's @b, by multiplication: exact for w < 64, b <= 16. */
static inline unsigned int pcpu_tc_div(const struct pcpu_tc_run *r,
				       unsigned int w)
{
	return (w * r->recip) >> 10;
}

/* Area @p of run @r (the start of one): its bit. */
static inline uint32_t pcpu_tc_bit(const struct pcpu_tc_run *r, const char *p)
{
	unsigned int w = (unsigned int)(p - r->start) >> PCPU_MIN_ALLOC_SHIFT;

	return 1u << pcpu_tc_div(r, w);
}

/* The bounds of @tc's runs again. */
static void pcpu_tc_bounds(struct pcpu_tcache *tc)
{
	tc->lo = tc->hi = NULL;
	for (int i = 0; i < PCPU_TC_RUNS; i++) {
		struct pcpu_tc_run *r = &tc->run[i];

		if (!r->end)
			continue;
		if (!tc->lo || r->start < tc->lo)
			tc->lo = r->start;
		if (r->end > tc->hi)
			tc->hi = r->end;
	}
}

/* Forget run @r: nothing of it is cached or handed out any more. */
static void pcpu_tc_run_forget(struct pcpu_tcache *tc, struct pcpu_tc_run *r)
{
	r->start = r->end = NULL;
	pcpu_tc_bounds(tc);
}

/* Forget run @r once nothing of it is cached or handed out. */
static inline void pcpu_tc_run_put(struct pcpu_tcache *tc,
				   struct pcpu_tc_run *r)
{
	if (!r->live && !r->cached)
		pcpu_tc_run_forget(tc, r);
}

/* Apply the buffered frees.  Context: pcpu_g.lock. */
static void pcpu_tcache_flush_locked(struct pcpu_tcache *tc)
{
	pcpu_free_batch_locked(tc->frees, tc->nr_frees);
	__atomic_store_n(&tc->nr_frees, 0, __ATOMIC_RELEASE);
}

/* Give @tc's areas back, apply its frees.  Context: pcpu_g.lock. */
static void pcpu_tcache_empty_locked(struct pcpu_tcache *tc)
{
	pcpu_tcache_flush_locked(tc);
	for (int c = 0; c < PCPU_TC_CLASSES; c++) {
		unsigned int n = tc->n[c];

		while (n) {
			struct pcpu_tc_run *r = &tc->run[tc->area_run[c][--n]];

			r->cached &= ~(1u << tc->area_bit[c][n]);
			pcpu_tc_run_put(tc, r);
			pcpu_free_clean(tc->area[c][n], c + 1);
		}
		__atomic_store_n(&tc->n[c], 0, __ATOMIC_RELEASE);
	}
}

/* Unlink and unmap @tc.  Context: pcpu_g.lock. */
static void pcpu_tcache_destroy_locked(struct pcpu_tcache *tc)
{
	pcpu_tcache_empty_locked(tc);
	list_del_init(&tc->node);
	munmap(tc, sizeof(*tc));
}

/* The thread's exit: its cache goes back. */
static void pcpu_tcache_exit(void *arg)
{
	struct pcpu_tcache *tc = arg;

	pcpu_tc_gone = true; /* later destructors take the usual path */
	if (!tc || tc != pcpu_tc)
		return;
	pcpu_tc = NULL;
	pcpu_lock();
	pcpu_tcache_destroy_locked(tc);
	pcpu_unlock();
}

/**
 * pcpu_tcache_setup - make the thread-exit hook of the caches
 *
 * Context: the allocator's start-up lock.
 * Return: 0, or -errno (the caches are then off).
 */
int pcpu_tcache_setup(void)
{
	if (!pcpu_tc_key_made &&
	    pthread_key_create(&pcpu_tc_key, pcpu_tcache_exit) == 0)
		pcpu_tc_key_made = true;
	return pcpu_tc_key_made ? 0 : -EAGAIN;
}

/* Make the calling thread's cache. */
static __attribute__((noinline)) struct pcpu_tcache *pcpu_tcache_make(void)
{
	struct pcpu_tcache *tc = mmap(NULL, sizeof(*tc), PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tc == MAP_FAILED)
		return NULL;
	if (pthread_setspecific(pcpu_tc_key, tc)) {
		munmap(tc, sizeof(*tc));
		return NULL;
	}
	pcpu_lock();
	list_add(&tc->node, &pcpu_g.tcaches);
	pcpu_unlock();
	pcpu_tc = tc;
	return tc;
}

/* The calling thread's cache, made on its first allocation. */
static inline struct pcpu_tcache *pcpu_tcache_get(bool nowait)
{
	struct pcpu_tcache *tc = pcpu_tc;

	if (likely(tc) || nowait || pcpu_tc_gone)
		return tc;
	return pcpu_tcache_make();
}

/* A run slot for a refill: an unused one, else one with nothing cached
 * (there is one: each other class caches from one run at most), whose
 * handed-out areas are then freed by the usual path. */
static unsigned int pcpu_tcache_run_slot(struct pcpu_tcache *tc)
{
	unsigned int i, r;

	for (i = 0; i < PCPU_TC_RUNS; i++)
		if (!tc->run[i].end)
			return i;
	for (i = 0; i < PCPU_TC_RUNS; i++) {
		r = (tc->next_run + i) % PCPU_TC_RUNS;
		if (!tc->run[r].cached) {
			tc->next_run = r + 1;
			return r;
		}
	}
	return 0; /* not reached */
}

/* Fill class @b of @tc from one run of populated pages, applying the
 * buffered frees in the same hold of the lock.  Return: the number of
 * areas now held.  Context: takes pcpu_g.lock. */
static __attribute__((noinline)) unsigned int pcpu_tcache_refill(
	struct pcpu_tcache *tc, int b)
{
	int nr = pcpu_tc_batch(b), off;
	struct pcpu_chunk *chunk;
	unsigned int r;
	char *p;

	if (unlikely(pcpu_lock_depth))
		return 0; /* a handler on top of this thread's lock */
	pcpu_lock();
	pcpu_tcache_flush_locked(tc);
	chunk = pcpu_alloc_run(b, b & -b, nr, &off);
	if (!chunk) {
		pcpu_unlock();
		return 0;
	}
	p = chunk->base_addr + ((size_t)off << PCPU_MIN_ALLOC_SHIFT);
	r = pcpu_tcache_run_slot(tc);
	tc->run[r] = (struct pcpu_tc_run){
		.start = p,
		.end = p + (size_t)nr * b * PCPU_MIN_ALLOC_SIZE,
		.b = (unsigned int)b,
		.nr = (unsigned int)nr,
		.cached = (uint32_t)(((uint64_t)1 << nr) - 1),
		.recip = (1024 + (unsigned int)b - 1) / (unsigned int)b,
	};
	pcpu_tc_bounds(tc);
	/* handed out from the end: the lowest address first */
	for (int i = 0; i < nr; i++) {
		tc->area[b - 1][i] =
			p + (size_t)(nr - 1 - i) * b * PCPU_MIN_ALLOC_SIZE;
		tc->area_run[b - 1][i] = (unsigned char)r;
		tc->area_bit[b - 1][i] = (unsigned char)(nr - 1 - i);
	}
	__atomic_store_n(&tc->n[b - 1], (unsigned int)nr, __ATOMIC_RELEASE);
	pcpu_unlock();
	return (unsigned int)nr;
}

/**
 * pcpu_tcache_alloc - a clean area from the calling thread's cache
 * @bits: size in 4-byte words (the size is exactly that)
 * @align: alignment in 4-byte words
 * @nowait: pcpu_alloc_nowait(): never make the cache, never refill
 *
 * Context: lock-free, or takes pcpu_g.lock for a refill.
 * Return: the area's per-CPU pointer, or NULL: not cacheable here, or
 * nothing cached and no run of populated pages (the usual path then).
 */
void *pcpu_tcache_alloc(int bits, int align, bool nowait)
{
	struct pcpu_tcache *tc;
	unsigned int n;
	void *p = NULL;

	if (bits > PCPU_TC_CLASSES || align > (bits & -bits))
		return NULL;
	tc = pcpu_tcache_get(nowait);
	if (!tc || tc->busy)
		return NULL;
	tc->busy = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	n = tc->n[bits - 1];
	if (!n && !nowait) {
		if (tc->skip[bits - 1])
			tc->skip[bits - 1]--;
		else if (!(n = pcpu_tcache_refill(tc, bits)))
			tc->skip[bits - 1] = PCPU_TC_SKIP;
	}
	if (n) {
		struct pcpu_tc_run *r = &tc->run[tc->area_run[bits - 1][n - 1]];
		uint32_t bit = 1u << tc->area_bit[bits - 1][n - 1];

		p = tc->area[bits - 1][n - 1];
#ifdef PCPU_DEBUG
		if (bit != pcpu_tc_bit(r, p) || !(r->cached & bit))
			abort(); /* the record of the cache is wrong */
#endif
		r->cached &= ~bit;
		r->live |= bit;
		__atomic_store_n(&tc->n[bits - 1], n - 1, __ATOMIC_RELEASE);
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	tc->busy = 0;
	return p;
}

static inline bool pcpu_tc_in_run(const struct pcpu_tc_run *r, const char *p)
{
	return p >= r->start && p < r->end;
}

/* The run of @tc that @p lies in, or NULL; the last one found first. */
static struct pcpu_tc_run *pcpu_tcache_run_of(struct pcpu_tcache *tc,
					      const char *p)
{
	if (p < tc->lo || p >= tc->hi)
		return NULL;
	if (pcpu_tc_in_run(&tc->run[tc->last_run], p))
		return &tc->run[tc->last_run];
	for (unsigned int i = 0; i < PCPU_TC_RUNS; i++)
		if (pcpu_tc_in_run(&tc->run[i], p)) {
			tc->last_run = i;
			return &tc->run[i];
		}
	return NULL;
}

/* Is @p, inside run @r, the start of an area? */
static inline bool pcpu_tc_at_area(const struct pcpu_tc_run *r, const char *p)
{
	unsigned int off = (unsigned int)(p - r->start);
	unsigned int w = off >> PCPU_MIN_ALLOC_SHIFT;

	return !(off & (PCPU_MIN_ALLOC_SIZE - 1)) &&
	       pcpu_tc_div(r, w) * r->b == w;
}

static bool pcpu_tcache_buffered(const struct pcpu_tcache *tc, const void *p)
{
	for (unsigned int i = 0; i < tc->nr_frees; i++)
		if (tc->frees[i] == p)
			return true;
	return false;
}

/* Apply the buffered frees.  Return: false if this thread holds the lock
 * (a handler on top of it), which it cannot take again. */
static bool pcpu_tcache_flush(struct pcpu_tcache *tc)
{
	if (pcpu_lock_depth)
		return false;
	pcpu_lock();
	pcpu_tcache_flush_locked(tc);
	pcpu_unlock();
	return true;
}

/**
 * pcpu_tcache_free - free @ptr through the calling thread's cache
 * @ptr: a per-CPU pointer (not NULL)
 *
 * Takes the free if @ptr is an area this thread's cache handed out and the
 * program has not freed since: it waits in the buffer (applied when full,
 * at the next refill, at pcpu_balance() and at thread exit).  A free of an
 * area the cache holds, or a second free of one still waiting, aborts
 * with a message.
 *
 * Context: lock-free; takes pcpu_g.lock when the buffer is full.
 * Return: true if done, false for the usual path.
 */
bool pcpu_tcache_free(void *ptr)
{
	struct pcpu_tcache *tc = pcpu_tc;
	struct pcpu_tc_run *r;
	bool done = false;
	char *p = ptr;
	uint32_t bit, live, cached;

	if (!tc || tc->busy)
		return false;
	tc->busy = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	r = pcpu_tcache_run_of(tc, p);
	if (!r || !pcpu_tc_at_area(r, p))
		goto out; /* not ours, or inside an area: the usual path says */
	bit = pcpu_tc_bit(r, p);
	if (r->cached & bit)
		pcpu_bad_free(ptr, "double free or invalid pointer");
	if (!(r->live & bit)) {
		if (pcpu_tcache_buffered(tc, ptr))
			pcpu_bad_free(ptr, "double free");
		goto out; /* freed before: cleaned and someone else's now? */
	}
	if (tc->nr_frees == PCPU_TC_FREES && !pcpu_tcache_flush(tc))
		goto out;
	/* from registers: a reload of the fields just stored, which the
	 * compiler makes one 8-byte load of live and cached, cannot be
	 * forwarded from the 4-byte store (it cost half of this function) */
	cached = r->cached;
	live = r->live & ~bit;
	r->live = live;
	if (!live && !cached)
		pcpu_tc_run_forget(tc, r);
	tc->frees[tc->nr_frees] = ptr;
	__atomic_store_n(&tc->nr_frees, tc->nr_frees + 1, __ATOMIC_RELEASE);
	done = true;
out:
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	tc->busy = 0;
	return done;
}

/**
 * pcpu_tcache_drain - give the calling thread's cached areas back
 *
 * Context: takes pcpu_g.lock.
 */
void pcpu_tcache_drain(void)
{
	struct pcpu_tcache *tc = pcpu_tc;

	if (!tc || tc->busy || pcpu_lock_depth)
		return;
	tc->busy = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pcpu_lock();
	pcpu_tcache_empty_locked(tc);
	pcpu_unlock();
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	tc->busy = 0;
}

/**
 * pcpu_tcache_fork_child - a forked child gives back the caches of the
 * threads it does not have
 *
 * Context: the fork child handler, pcpu_g.lock held.
 */
void pcpu_tcache_fork_child(void)
{
	struct list_head *pos = pcpu_g.tcaches.next, *next;

	lockdep_assert_held_lock();
	for (; pos != &pcpu_g.tcaches; pos = next) {
		struct pcpu_tcache *tc =
			container_of(pos, struct pcpu_tcache, node);

		next = pos->next;
		if (tc != pcpu_tc)
			pcpu_tcache_destroy_locked(tc);
	}
}

/**
 * pcpu_tcache_forget - empty every cache without giving anything back
 * (the chunks are gone: pcpu_test_reset())
 *
 * Context: no other thread uses libpcpu.
 */
void pcpu_tcache_forget(void)
{
	struct pcpu_tcache *tc;

	list_for_each_entry (tc, &pcpu_g.tcaches, node) {
		for (int c = 0; c < PCPU_TC_CLASSES; c++)
			tc->n[c] = 0;
		for (int r = 0; r < PCPU_TC_RUNS; r++)
			tc->run[r].start = tc->run[r].end = NULL;
		tc->lo = tc->hi = NULL;
		tc->nr_frees = 0;
	}
}

/**
 * pcpu_tcache_count - what the thread caches hold now
 * @frees: set to the frees waiting in their buffers
 *
 * Context: pcpu_g.lock.
 * Return: the areas cached.
 */
unsigned long pcpu_tcache_count(unsigned long *frees)
{
	struct pcpu_tcache *tc;
	unsigned long nr = 0;

	lockdep_assert_held_lock();
	*frees = 0;
	list_for_each_entry (tc, &pcpu_g.tcaches, node) {
		for (int c = 0; c < PCPU_TC_CLASSES; c++)
			nr += __atomic_load_n(&tc->n[c], __ATOMIC_ACQUIRE);
		*frees += __atomic_load_n(&tc->nr_frees, __ATOMIC_ACQUIRE);
	}
	return nr;
}
