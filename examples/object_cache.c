// SPDX-License-Identifier: MIT
/*
 * object_cache.c - a per-CPU object cache: each CPU keeps a few free
 * buffers in slots and takes them without locks; a miss falls back to a
 * shared, locked pool.  Each slot is taken with pcpu_xchg and filled with
 * pcpu_cmpxchg, one rseq section each, so a thread that migrates or is
 * preempted mid-way can neither lose nor duplicate a buffer (a linked
 * stack popped with cmpxchg would suffer ABA; slots do not).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <pcpu/ops.h>

struct buf {
	struct buf *next;
	char data[120];
};

#define SLOTS 4

struct cpu_cache {
	uintptr_t slot[SLOTS];
};

static struct cpu_cache *cache; /* per CPU */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct buf *pool;
static long pool_hits, cache_hits;

static struct buf *buf_get(void)
{
	struct buf *b;

	for (int i = 0; i < SLOTS; i++) {
		b = (struct buf *)pcpu_xchg(&cache->slot[i], 0);
		if (b) {
			__atomic_fetch_add(&cache_hits, 1, __ATOMIC_RELAXED);
			return b;
		}
	}
	pthread_mutex_lock(&pool_lock);
	b = pool;
	if (b)
		pool = b->next;
	pool_hits++;
	pthread_mutex_unlock(&pool_lock);
	return b ? b : malloc(sizeof(*b));
}

static void buf_put(struct buf *b)
{
	for (int i = 0; i < SLOTS; i++)
		if (pcpu_cmpxchg(&cache->slot[i], 0, (uintptr_t)b) == 0)
			return;
	pthread_mutex_lock(&pool_lock);
	b->next = pool;
	pool = b;
	pthread_mutex_unlock(&pool_lock);
}

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 300000; i++) {
		struct buf *b = buf_get();

		b->data[0] = (char)i;
		buf_put(b);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[4];
	long freed = 0;

	cache = pcpu_alloc(sizeof(*cache), _Alignof(struct cpu_cache));
	if (!cache)
		return 1;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (unsigned int u = 0; u < pcpu_nr_units(); u++)
		for (int i = 0; i < SLOTS; i++)
			if (pcpu_ptr(cache, u)->slot[i]) {
				free((void *)pcpu_ptr(cache, u)->slot[i]);
				freed++;
			}
	while (pool) {
		struct buf *n = pool->next;

		free(pool);
		pool = n;
		freed++;
	}
	printf("object cache: %ld cache hits, %ld pool misses, %ld buffers\n",
	       cache_hits, pool_hits, freed);
	pcpu_free(cache);
	return cache_hits + pool_hits == 1200000 && freed <= pool_hits ? 0 : 1;
}
