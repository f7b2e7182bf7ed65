// SPDX-License-Identifier: MIT
/*
 * percpu-tcache.c - per-thread caches of clean small areas.
 *
 * A thread that allocates small objects (4 to 64 bytes, a multiple of 4,
 * aligned no more than the size allows) takes them from its own cache of
 * clean areas: no lock, no search.  The cache of a size class is refilled
 * in one go under pcpu_g.lock: one search for a run of PCPU_TC_BATCH(b)
 * areas in populated pages, carved into that many allocations (their
 * bounds set in the bound map, as if allocated one by one).  The frees
 * take the usual path: validated at once, marked dirty for the cleaner.
 *
 * Bounds: a class holds at most 256 bytes a unit (64 / b areas of b
 * 4-byte words, at least 4, at most 32), so a thread's cache holds at most
 * 4 KiB a unit, in pages that are populated and read zero; it is given
 * back to the allocator when the thread exits, in pcpu_balance() (the
 * calling thread's), and in a forked child (every thread's but the
 * caller's, which the child does not have).  The statistics count only
 * what the program holds: nr_alloc and nr_cur_alloc leave out the cached
 * areas, which nr_cached reports.
 *
 * Signals (design decision 11): the owner marks its cache busy while it
 * works on it; a handler that finds it busy takes the usual path.  Fork:
 * refills run under pcpu_g.lock, which the fork handlers hold; a pop is a
 * read of the slot then a release store of the count, so the child's copy
 * of another thread's cache never lists an area that thread was handed.
 *
 * Off in builds and runs that track memory (AddressSanitizer, valgrind),
 * which must see every allocation, and with PCPU_TCACHE=0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

#include "percpu-internal.h"

#define PCPU_TC_CLASSES 16 /* b = 1 .. 16 words of 4 bytes */
#define PCPU_TC_MAX 32

struct pcpu_tcache {
	int busy;
	unsigned int n[PCPU_TC_CLASSES];
	void *area[PCPU_TC_CLASSES][PCPU_TC_MAX];
	struct list_head node; /* pcpu_g.tcaches, under pcpu_g.lock */
};

static __thread struct pcpu_tcache *pcpu_tc
	__attribute__((tls_model("initial-exec")));
static __thread bool pcpu_tc_gone __attribute__((tls_model("initial-exec")));
static pthread_key_t pcpu_tc_key;
static bool pcpu_tc_key_made;

/* Areas a refill of class @b (in 4-byte words) takes: 256 bytes' worth. */
static inline int PCPU_TC_BATCH(int b)
{
	int k = 64 / b;

	return k < 4 ? 4 : k > PCPU_TC_MAX ? PCPU_TC_MAX : k;
}

/* Give @tc's areas back.  Context: pcpu_g.lock. */
static void pcpu_tcache_empty_locked(struct pcpu_tcache *tc)
{
	for (int c = 0; c < PCPU_TC_CLASSES; c++) {
		unsigned int n = tc->n[c];

		while (n)
			pcpu_free_clean(tc->area[c][--n], c + 1);
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

/* The calling thread's cache, made on its first allocation. */
static struct pcpu_tcache *pcpu_tcache_get(bool nowait)
{
	struct pcpu_tcache *tc = pcpu_tc;

	if (likely(tc) || nowait || pcpu_tc_gone)
		return tc;
	tc = mmap(NULL, sizeof(*tc), PROT_READ | PROT_WRITE,
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

/* Fill class @b of @tc from one run of populated pages.  Return: the number
 * of areas now held.  Context: takes pcpu_g.lock. */
static unsigned int pcpu_tcache_refill(struct pcpu_tcache *tc, int b)
{
	int nr = PCPU_TC_BATCH(b), off;
	struct pcpu_chunk *chunk;

	if (unlikely(pcpu_lock_depth))
		return 0; /* a handler on top of this thread's lock */
	pcpu_lock();
	chunk = pcpu_alloc_run(b, b & -b, nr, &off);
	if (chunk) {
		char *p = chunk->base_addr +
			  ((size_t)off << PCPU_MIN_ALLOC_SHIFT);

		/* handed out from the end: the lowest address first */
		for (int i = 0; i < nr; i++)
			tc->area[b - 1][i] = p + (size_t)(nr - 1 - i) * b *
							 PCPU_MIN_ALLOC_SIZE;
		__atomic_store_n(&tc->n[b - 1], (unsigned int)nr,
				 __ATOMIC_RELEASE);
	}
	pcpu_unlock();
	return chunk ? (unsigned int)nr : 0;
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
	if (!n && !nowait)
		n = pcpu_tcache_refill(tc, bits);
	if (n) {
		p = tc->area[bits - 1][n - 1];
		__atomic_store_n(&tc->n[bits - 1], n - 1, __ATOMIC_RELEASE);
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	tc->busy = 0;
	return p;
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

	list_for_each_entry (tc, &pcpu_g.tcaches, node)
		for (int c = 0; c < PCPU_TC_CLASSES; c++)
			tc->n[c] = 0;
}

/**
 * pcpu_tcache_count - the areas the thread caches hold now
 *
 * Context: pcpu_g.lock.
 * Return: their number.
 */
unsigned long pcpu_tcache_count(void)
{
	struct pcpu_tcache *tc;
	unsigned long nr = 0;

	lockdep_assert_held_lock();
	list_for_each_entry (tc, &pcpu_g.tcaches, node)
		for (int c = 0; c < PCPU_TC_CLASSES; c++)
			nr += __atomic_load_n(&tc->n[c], __ATOMIC_ACQUIRE);
	return nr;
}
