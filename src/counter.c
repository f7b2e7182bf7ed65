// SPDX-License-Identifier: MIT
/*
 * counter.c - per-CPU counters (see include/pcpu/counter.h).
 *
 * Invariant: the counter's value is count + the sum of every unit's
 * delta.  A fold moves a unit's delta into count under the counter's lock
 * (take it out with pcpu_xchg, add it to count), and exact sums and sets
 * hold the same lock, so they never see a delta in flight between the two.
 */
#include <errno.h>
#include <stdlib.h>

#include <pcpu/counter.h>

#include "percpu-internal.h"

int32_t pcpu_counter_batch = 256;

static void pcpu_counter_lock(struct pcpu_counter *c)
{
	pcpu_spin_lock((pcpu_spinlock_t *)&c->lock);
}

static void pcpu_counter_unlock(struct pcpu_counter *c)
{
	pcpu_spin_unlock((pcpu_spinlock_t *)&c->lock);
}

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
	int64_t *deltas;
	unsigned int i;

	if (!n)
		return -EINVAL;
	deltas = pcpu_alloc(n * sizeof(int64_t), sizeof(int64_t));
	if (!deltas)
		return -errno;
	if (2 * (int32_t)pcpu_nr_units() > pcpu_counter_batch)
		pcpu_counter_batch = 2 * (int32_t)pcpu_nr_units();
	for (i = 0; i < n; i++) {
		c[i].count = amount;
		c[i].counters = deltas + i;
		c[i].lock = 0;
		c[i].owner = i == 0;
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

	if (!n || !c[0].counters)
		return;
	if (c[0].owner)
		pcpu_free(c[0].counters);
	for (i = 0; i < n; i++)
		c[i].counters = NULL;
}

void pcpu_counter_destroy(struct pcpu_counter *c)
{
	pcpu_counter_destroy_many(c, 1);
}

/**
 * pcpu_counter_fold - move the calling CPU's delta into the shared count
 * @c: the counter
 *
 * Context: takes the counter's lock.
 */
void pcpu_counter_fold(struct pcpu_counter *c)
{
	pcpu_counter_lock(c);
	__atomic_fetch_add(&c->count, pcpu_xchg(c->counters, 0),
			   __ATOMIC_RELAXED);
	pcpu_counter_unlock(c);
}

static void pcpu_counter_sum_unit(unsigned int unit, void *arg)
{
	int64_t **acc = arg;

	acc[1][0] += __atomic_load_n(pcpu_ptr(acc[0], unit), __ATOMIC_RELAXED);
}

/**
 * pcpu_counter_sum - the exact value
 * @c: the counter
 *
 * Adds every unit's delta to the shared count, reading only the units
 * whose page exists (a CPU that never touched it holds zero).
 *
 * Context: takes the counter's lock; one system call.
 * Return: the value.
 */
int64_t pcpu_counter_sum(struct pcpu_counter *c)
{
	int64_t sum, *acc[2] = {c->counters, &sum};

	pcpu_counter_lock(c);
	sum = c->count;
	pcpu_for_each_present_unit(c->counters, sizeof(int64_t),
				   pcpu_counter_sum_unit, acc);
	pcpu_counter_unlock(c);
	return sum;
}

static void pcpu_counter_zero_unit(unsigned int unit, void *arg)
{
	__atomic_store_n(pcpu_ptr((int64_t *)arg, unit), 0, __ATOMIC_RELAXED);
}

/**
 * pcpu_counter_set - set the value
 * @c: the counter
 * @amount: the new value
 *
 * Adds running concurrently may land before or after the set.
 *
 * Context: takes the counter's lock.
 */
void pcpu_counter_set(struct pcpu_counter *c, int64_t amount)
{
	pcpu_counter_lock(c);
	pcpu_for_each_present_unit(c->counters, sizeof(int64_t),
				   pcpu_counter_zero_unit, c->counters);
	__atomic_store_n(&c->count, amount, __ATOMIC_RELAXED);
	pcpu_counter_unlock(c);
}

/**
 * pcpu_counter_compare_batch - compare the counter with @rhs
 * @c: the counter
 * @rhs: the value to compare with
 * @batch: the batch the counter is updated with
 *
 * Uses the shared count when it is further from @rhs than the deltas can
 * make up (batch x units), the exact sum otherwise.
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
