/* SPDX-License-Identifier: MIT */
/*
 * pcpu/counter.h - per-CPU counters, after the kernel's percpu_counter.
 *
 * Each CPU's copy holds the total of the adds made on it, and how much of
 * that total has been folded into the shared count.  pcpu_counter_add()
 * adds to the calling CPU's total with one rseq operation, no lock; when
 * the unfolded part of that copy reaches the batch (in either direction)
 * it is folded into the shared count with an atomic add.
 * pcpu_counter_read() returns the shared count: fast and approximate, off
 * by less than batch x units at any quiet moment.  pcpu_counter_sum() is
 * exact (every add that returned is in it, none twice) and reads only the
 * units of CPUs that ever touched the counter's page.
 *
 * Async-signal-safe: pcpu_counter_add(), _add_batch(), _inc(), _dec(),
 * _sub(), _read(), _read_positive() (no lock, no system call; a handler
 * may interrupt an add of the same counter, a fork may happen anywhere).
 */
#ifndef PCPU_COUNTER_H
#define PCPU_COUNTER_H

#include <stdint.h>

#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct pcpu_counter_unit - one CPU's copy of a counter
 * @total: every amount added on this CPU (wraps modulo 2^64)
 * @folded: the part of @total already in the shared count
 */
struct pcpu_counter_unit {
	int64_t total;
	int64_t folded;
};

/**
 * struct pcpu_counter - a per-CPU counter
 * @count: the folded amounts (pcpu_counter_read() adds @base)
 * @base: what pcpu_counter_set() and init gave, minus the totals then
 * @units: the per-CPU copies
 * @lock: serializes pcpu_counter_set() calls (adds and sums never take it)
 * @owner: nonzero if this counter owns @units (pcpu_counter_init_many()
 *         gives ownership to the first counter of the array)
 * @gen: the process image (fork generation) whose units were last swept
 *
 * The value is @base + the sum of every unit's total.
 */
struct pcpu_counter {
	int64_t count;
	int64_t base;
	struct pcpu_counter_unit *units;
	int lock;
	int owner;
	unsigned int gen;
};

__PCPU_VARS_BEGIN
/* Bumped in every forked child (see pcpu_counter_read()).  (Internal, see
 * pcpu.h.) */
__PCPU_INLINE unsigned int __pcpu_fork_gen(void)
{
	extern PCPU_API unsigned int pcpu_fork_gen;

	return __atomic_load_n(&pcpu_fork_gen, __ATOMIC_RELAXED);
}

/* The default batch's reader, for pcpu_counter_batch below. */
__PCPU_INLINE int32_t __pcpu_counter_batch(void)
{
	extern PCPU_API int32_t pcpu_counter_batch;

	return pcpu_counter_batch;
}
__PCPU_VARS_END

/* The default batch: max(256, 2 x units), set when the allocator starts;
 * a value, not a variable (libpcpu sets it).  Deltas are 64-bit, so the
 * batch only trades the error of pcpu_counter_read() (< batch x units)
 * against how often adds touch the shared count. */
#define pcpu_counter_batch (__pcpu_counter_batch())

PCPU_API int pcpu_counter_init(struct pcpu_counter *c, int64_t amount);
PCPU_API int pcpu_counter_init_many(struct pcpu_counter *c, int64_t amount,
				    unsigned int n);
PCPU_API void pcpu_counter_destroy(struct pcpu_counter *c);
PCPU_API void pcpu_counter_destroy_many(struct pcpu_counter *c, unsigned int n);
PCPU_API void pcpu_counter_set(struct pcpu_counter *c, int64_t amount);
PCPU_API int64_t pcpu_counter_sum(struct pcpu_counter *c);
PCPU_API int pcpu_counter_compare_batch(struct pcpu_counter *c, int64_t rhs,
					int32_t batch);
/* Internal: the out-of-line halves of the inline code below, exported for
 * it and not for direct use. */
PCPU_API void pcpu_counter_fold_slow(struct pcpu_counter *c,
				     struct pcpu_counter_unit *unit,
				     int32_t batch);
PCPU_API void pcpu_counter_add_slow(struct pcpu_counter *c, int64_t amount,
				    int32_t batch);
PCPU_API void pcpu_counter_sweep_slow(struct pcpu_counter *c);

/**
 * pcpu_counter_add_batch - add @amount, folding at @batch
 * @c: the counter
 * @amount: what to add
 * @batch: fold the unfolded part of the copy the add landed on into the
 *         shared count once its magnitude reaches this
 *
 * The copy is named by the critical section itself, so a thread that
 * migrates right after its add still folds the copy it added to.
 * Context: any, signal handlers included.
 */
static inline void pcpu_counter_add_batch(struct pcpu_counter *c,
					  int64_t amount, int32_t batch)
{
	uint64_t total;
	void *at;
	int64_t d;

	if (__builtin_expect(!__pcpu_add_return_at(&c->units->total,
						   (uint64_t)amount, &total,
						   &at),
			     0)) {
		pcpu_counter_add_slow(c, amount, batch);
		return;
	}
	d = (int64_t)(total - (uint64_t)__atomic_load_n(
				      &((struct pcpu_counter_unit *)at)->folded,
				      __ATOMIC_RELAXED));
	if (__builtin_expect(d >= batch || d <= -batch, 0))
		pcpu_counter_fold_slow(c, (struct pcpu_counter_unit *)at,
				       batch);
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

/*
 * The shared count: approximate, no per-CPU read.  In a forked child, the
 * first read of a counter made before the fork sweeps its units once: a
 * thread of the parent may have added and not yet folded, and it does not
 * exist in the child.
 */
static inline int64_t pcpu_counter_read(const struct pcpu_counter *c)
{
	if (__builtin_expect(__atomic_load_n(&c->gen, __ATOMIC_RELAXED) !=
				     __pcpu_fork_gen(),
			     0))
		pcpu_counter_sweep_slow((struct pcpu_counter *)c);
	return (int64_t)((uint64_t)__atomic_load_n(&c->base, __ATOMIC_RELAXED) +
			 (uint64_t)__atomic_load_n(&c->count,
						   __ATOMIC_RELAXED));
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
	return c->units != NULL;
}

#ifdef __cplusplus
}
#endif

#endif /* PCPU_COUNTER_H */
