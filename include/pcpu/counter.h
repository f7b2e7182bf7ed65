/* SPDX-License-Identifier: MIT */
/*
 * pcpu/counter.h - per-CPU counters, after the kernel's percpu_counter.
 *
 * pcpu_counter_add() adds to the calling CPU's 64-bit delta with one rseq
 * operation; when that delta reaches the batch (in either direction) it is
 * folded into the shared count.  pcpu_counter_read() returns the shared
 * count: fast and approximate, off by less than batch x units.
 * pcpu_counter_sum() is exact (as of the moment, for adds that finished)
 * and reads only the units of CPUs that ever touched the counter's page.
 */
#ifndef PCPU_COUNTER_H
#define PCPU_COUNTER_H

#include <stdint.h>

#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct pcpu_counter - a per-CPU counter
 * @count: the shared, folded count (read it with pcpu_counter_read())
 * @counters: the per-CPU deltas
 * @lock: serializes folds against exact sums and sets
 * @owner: nonzero if this counter owns @counters (pcpu_counter_init_many()
 *         gives ownership to the first counter of the array)
 */
struct pcpu_counter {
	int64_t count;
	int64_t *counters;
	int lock;
	int owner;
};

/* The default batch: max(256, 2 x units).  Deltas are 64-bit, so the
 * batch only trades the error of pcpu_counter_read() (< batch x units)
 * against how often adds touch the shared count. */
PCPU_API extern int32_t pcpu_counter_batch;

PCPU_API int pcpu_counter_init(struct pcpu_counter *c, int64_t amount);
PCPU_API int pcpu_counter_init_many(struct pcpu_counter *c, int64_t amount,
				    unsigned int n);
PCPU_API void pcpu_counter_destroy(struct pcpu_counter *c);
PCPU_API void pcpu_counter_destroy_many(struct pcpu_counter *c, unsigned int n);
PCPU_API void pcpu_counter_set(struct pcpu_counter *c, int64_t amount);
PCPU_API int64_t pcpu_counter_sum(struct pcpu_counter *c);
PCPU_API int pcpu_counter_compare_batch(struct pcpu_counter *c, int64_t rhs,
					int32_t batch);
PCPU_API void pcpu_counter_fold(struct pcpu_counter *c);

/**
 * pcpu_counter_add_batch - add @amount, folding at @batch
 * @c: the counter
 * @amount: what to add
 * @batch: fold the calling CPU's delta into the shared count once its
 *         magnitude reaches this
 */
static inline void pcpu_counter_add_batch(struct pcpu_counter *c,
					  int64_t amount, int32_t batch)
{
	int64_t v = pcpu_add_return(c->counters, amount);

	if (__builtin_expect(v >= batch || v <= -batch, 0))
		pcpu_counter_fold(c);
}

static inline void pcpu_counter_add(struct pcpu_counter *c, int64_t amount)
{
	pcpu_counter_add_batch(c, amount, pcpu_counter_batch);
}

static inline void pcpu_counter_inc(struct pcpu_counter *c)
{
	pcpu_counter_add(c, 1);
}

static inline void pcpu_counter_dec(struct pcpu_counter *c)
{
	pcpu_counter_add(c, -1);
}

static inline void pcpu_counter_sub(struct pcpu_counter *c, int64_t amount)
{
	pcpu_counter_add(c, -amount);
}

/* The shared count: approximate, no per-CPU read. */
static inline int64_t pcpu_counter_read(const struct pcpu_counter *c)
{
	return __atomic_load_n(&c->count, __ATOMIC_RELAXED);
}

/* pcpu_counter_read(), never below zero. */
static inline int64_t pcpu_counter_read_positive(const struct pcpu_counter *c)
{
	int64_t v = pcpu_counter_read(c);

	return v < 0 ? 0 : v;
}

static inline int64_t pcpu_counter_sum_positive(struct pcpu_counter *c)
{
	int64_t v = pcpu_counter_sum(c);

	return v < 0 ? 0 : v;
}

/* -1, 0 or 1 as the counter is below, at or above @rhs; approximate when
 * far from it, exact when close. */
static inline int pcpu_counter_compare(struct pcpu_counter *c, int64_t rhs)
{
	return pcpu_counter_compare_batch(c, rhs, pcpu_counter_batch);
}

static inline int pcpu_counter_initialized(const struct pcpu_counter *c)
{
	return c->counters != NULL;
}

#ifdef __cplusplus
}
#endif

#endif /* PCPU_COUNTER_H */
