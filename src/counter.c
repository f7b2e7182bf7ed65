// SPDX-License-Identifier: MIT
/*
 * counter.c - per-CPU counters (see include/pcpu/counter.h).
 *
 * The value of a counter is base + the sum of every unit's total.  A
 * unit's total changes only through adds (one rseq commit on the unit's
 * own CPU, or an atomic add when rseq is not in use), so:
 *  - pcpu_counter_sum() reads base and the totals, and nothing else: no
 *    lock, no amount ever in flight between two places, so an add that
 *    returned is counted once, whatever folds run meanwhile;
 *  - pcpu_counter_set() moves base so that base + the totals it read
 *    equals the new value: an add that returned before it began is in the
 *    totals it read, an add that starts after it returned is not;
 *  - folding only serves pcpu_counter_read(): it moves the unfolded part
 *    of one unit (total - folded) into count, claiming it with a
 *    compare-and-swap on the unit's folded word, then one atomic add.
 *    read() = base + count, off from the value by the unfolded parts,
 *    each below the batch in magnitude at any quiet moment, because every
 *    add checks the very unit it landed on (the critical section names
 *    it).  Folds racing on one unit are resolved by the compare-and-swap.
 * Adds, reads and folds take no lock and make no system call: they are
 * async-signal-safe; a fold is a no-fork section (percpu-internal.h), so
 * a forked child never inherits one half done.  Sets serialize on the
 * counter's fork-generation lock (pcpu_obj_lock()).
 */
#include <errno.h>
#include <stdlib.h>

#include <pcpu/counter.h>

#include "percpu-internal.h"

/* the variable behind counter.h's pcpu_counter_batch value */
#undef pcpu_counter_batch
PCPU_API int32_t pcpu_counter_batch = 256;
unsigned int pcpu_fork_gen; /* bumped by pcpu_atfork_child() */

/**
 * pcpu_counter_init_many - set up @n counters sharing one allocation
 * @c: array of @n counters
 * @amount: the initial value of each
 * @n: how many
 *
 * Context: may allocate (pcpu_alloc()).
 * Return: 0, or -ENOMEM / -EINVAL.
 */
int pcpu_counter_init_many(struct pcpu_counter *c, int64_t amount,
			   unsigned int n)
{
	struct pcpu_counter_unit *units;
	unsigned int i;

	if (!n)
		return -EINVAL;
	units = pcpu_alloc(n * sizeof(*units), sizeof(*units));
	if (!units)
		return -errno;
	if (2 * (int32_t)pcpu_nr_units() > pcpu_counter_batch)
		pcpu_counter_batch = 2 * (int32_t)pcpu_nr_units();
	for (i = 0; i < n; i++) {
		c[i].count = 0;
		c[i].base = amount;
		c[i].units = units + i;
		c[i].lock = 0;
		c[i].owner = i == 0;
		c[i].gen = __atomic_load_n(&pcpu_fork_gen, __ATOMIC_RELAXED);
	}
	return 0;
}

/**
 * pcpu_counter_init - set up a counter
 * @c: the counter
 * @amount: its initial value
 *
 * Return: 0, or -ENOMEM.
 */
int pcpu_counter_init(struct pcpu_counter *c, int64_t amount)
{
	return pcpu_counter_init_many(c, amount, 1);
}

/**
 * pcpu_counter_destroy_many - free counters made by
 * pcpu_counter_init_many()
 * @c: the array
 * @n: its length
 */
void pcpu_counter_destroy_many(struct pcpu_counter *c, unsigned int n)
{
	unsigned int i;

	if (!n || !c[0].units)
		return;
	if (c[0].owner)
		pcpu_free(c[0].units);
	for (i = 0; i < n; i++)
		c[i].units = NULL;
}

void pcpu_counter_destroy(struct pcpu_counter *c)
{
	pcpu_counter_destroy_many(c, 1);
}

/**
 * pcpu_counter_fold_slow - move one unit's unfolded part into the count
 * @c: the counter
 * @unit: the unit's copy (the one an add just landed on)
 * @batch: fold only if the unfolded part's magnitude reaches this
 *
 * The unit's folded word is claimed with a compare-and-swap, so two
 * threads folding the same unit move each amount once.  A no-fork
 * section: a forked child never sees a fold half done.
 *
 * Context: any, signal handlers included; no lock, no system call.
 */
void pcpu_counter_fold_slow(struct pcpu_counter *c,
			    struct pcpu_counter_unit *unit, int32_t batch)
{
	int64_t folded = __atomic_load_n(&unit->folded, __ATOMIC_RELAXED);

	pcpu_nofork_enter();
	for (;;) {
		int64_t total = __atomic_load_n(&unit->total, __ATOMIC_RELAXED);
		int64_t d = (int64_t)((uint64_t)total - (uint64_t)folded);

		if (d < batch && d > -batch)
			break;
		if (__atomic_compare_exchange_n(&unit->folded, &folded, total,
						false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED)) {
			__atomic_fetch_add(&c->count, d, __ATOMIC_RELAXED);
			break;
		}
	}
	pcpu_nofork_exit();
}

/**
 * pcpu_counter_add_slow - pcpu_counter_add_batch() without rseq
 * @c: the counter
 * @amount: what to add
 * @batch: the fold threshold
 *
 * An atomic add to the current CPU's unit (every writer of the units is
 * atomic then, see ops.c), and the same fold check.
 *
 * Context: any, signal handlers included.
 */
void pcpu_counter_add_slow(struct pcpu_counter *c, int64_t amount,
			   int32_t batch)
{
	struct pcpu_counter_unit *unit = pcpu_this_unit_slow(c->units);
	int64_t total = (int64_t)__atomic_add_fetch(
		(uint64_t *)&unit->total, (uint64_t)amount, __ATOMIC_RELAXED);
	int64_t d = (int64_t)((uint64_t)total -
			      (uint64_t)__atomic_load_n(&unit->folded,
							__ATOMIC_RELAXED));

	if (d >= batch || d <= -batch)
		pcpu_counter_fold_slow(c, unit, batch);
}

struct pcpu_counter_walk {
	struct pcpu_counter *c;
	uint64_t sum;
};

/* Add a unit's total; fold it if its unfolded part reaches the default
 * batch (a fork between an add and its fold can leave it above any batch;
 * for a counter added to with a larger batch this folds a little early,
 * which only makes pcpu_counter_read() closer). */
static void pcpu_counter_sum_unit(unsigned int unit, void *arg)
{
	struct pcpu_counter_walk *w = arg;
	struct pcpu_counter_unit *u = pcpu_ptr(w->c->units, unit);
	int64_t total = __atomic_load_n(&u->total, __ATOMIC_RELAXED);
	int64_t d = (int64_t)((uint64_t)total -
			      (uint64_t)__atomic_load_n(&u->folded,
							__ATOMIC_RELAXED));

	w->sum += (uint64_t)total;
	if (unlikely(d >= pcpu_counter_batch || d <= -pcpu_counter_batch))
		pcpu_counter_fold_slow(w->c, u, pcpu_counter_batch);
}

/* The sum of the totals of the units whose page exists. */
static uint64_t pcpu_counter_totals(struct pcpu_counter *c)
{
	struct pcpu_counter_walk w = {c, 0};
	unsigned int gen = __atomic_load_n(&pcpu_fork_gen, __ATOMIC_RELAXED);

	pcpu_for_each_present_unit(c->units, sizeof(*c->units),
				   pcpu_counter_sum_unit, &w);
	__atomic_store_n(&c->gen, gen, __ATOMIC_RELAXED);
	return w.sum;
}

/**
 * pcpu_counter_sweep_slow - fold every unit left above the batch
 * @c: the counter
 *
 * pcpu_counter_read() calls it once per counter in a forked child, whose
 * parent may have been between an add and its fold.
 *
 * Context: any, signal handlers included; one system call.
 */
void pcpu_counter_sweep_slow(struct pcpu_counter *c)
{
	(void)pcpu_counter_totals(c);
}

/* The names of 0.1's headers, for programs built against them (PCPU_0.1). */
PCPU_API void pcpu_counter_fold_unit(struct pcpu_counter *c,
				     struct pcpu_counter_unit *unit,
				     int32_t batch)
	__attribute__((alias("pcpu_counter_fold_slow")));
PCPU_API void pcpu_counter_sweep(struct pcpu_counter *c)
	__attribute__((alias("pcpu_counter_sweep_slow")));

/**
 * pcpu_counter_sum - the exact value
 * @c: the counter
 *
 * Adds every unit's total to the base, reading only the units whose page
 * exists (a CPU that never touched it holds zero).  Every add that
 * returned before the call is counted once; adds running meanwhile may
 * or may not be.  Takes no lock: adders never wait for a sum.
 *
 * Context: any thread (not a signal handler); one system call.
 * Return: the value.
 */
int64_t pcpu_counter_sum(struct pcpu_counter *c)
{
	uint64_t base = (uint64_t)__atomic_load_n(&c->base, __ATOMIC_ACQUIRE);

	return (int64_t)(base + pcpu_counter_totals(c));
}

/**
 * pcpu_counter_set - set the value
 * @c: the counter
 * @amount: the new value
 *
 * Adds that returned before the call began are erased; adds that start
 * after it returned are counted; an add running meanwhile is counted or
 * not, so the value is off by at most the amounts in flight.  Concurrent
 * sets are serialized.
 *
 * Context: takes the counter's lock; one system call.
 */
void pcpu_counter_set(struct pcpu_counter *c, int64_t amount)
{
	pcpu_obj_lock(&c->lock);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&c->base,
			 (int64_t)((uint64_t)amount - pcpu_counter_totals(c)),
			 __ATOMIC_RELEASE);
	pcpu_obj_unlock(&c->lock);
}

/**
 * pcpu_counter_compare_batch - compare the counter with @rhs
 * @c: the counter
 * @rhs: the value to compare with
 * @batch: the batch the counter is updated with
 *
 * Uses the shared count when it is further from @rhs than the unfolded
 * parts can make up (batch x units), the exact sum otherwise.
 *
 * Return: -1, 0 or 1.
 */
int pcpu_counter_compare_batch(struct pcpu_counter *c, int64_t rhs,
			       int32_t batch)
{
	int64_t count = pcpu_counter_read(c);
	int64_t slack = (int64_t)batch * (int64_t)pcpu_nr_units();

	if (count - rhs > slack)
		return 1;
	if (rhs - count > slack)
		return -1;
	count = pcpu_counter_sum(c);
	return (count > rhs) - (count < rhs);
}
