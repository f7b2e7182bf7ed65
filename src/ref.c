// SPDX-License-Identifier: MIT
/*
 * ref.c - per-CPU reference counts (see include/pcpu/ref.h).
 *
 * Why the switch to atomic mode is race-free without RCU:
 *
 *  1. In per-CPU mode, gets and puts are rseq critical sections that read
 *     percpu_count_ptr inside the section and commit one add to the unit.
 *  2. The switch sets __PCPU_REF_ATOMIC in percpu_count_ptr (a sequentially
 *     consistent RMW), then calls membarrier(MEMBARRIER_CMD_PRIVATE_
 *     EXPEDITED_RSEQ).  When membarrier returns, every thread of the process
 *     that was inside a critical section has either committed already or
 *     been restarted; a restarted (or new) section reads the mode word again,
 *     sees the bit, and leaves for the atomic count.
 *  3. So after step 2 no add can land on any unit: the switch sums the
 *     units (only those whose page exists; the others hold zero), adds the
 *     sum to the atomic count and removes PCPU_REF_BIAS.  Every reference
 *     is counted exactly once: in a unit (summed) or in the atomic count.
 *  4. The bias keeps the atomic count above zero while per-CPU references
 *     exist uncounted there, so a put on the atomic path (a thread without
 *     rseq, or after the bit is set) never sees zero early.  Release is
 *     called by whoever brings the atomic count to zero, which can only
 *     happen after the bias is gone, i.e. after step 3.
 *
 * If the process uses no rseq (pcpu_rseq_limit == 0), no section ever
 * commits, so refs simply count in the atomic count; the switch still works
 * and the fence is skipped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <pcpu/ref.h>

#include "percpu-internal.h"

static int64_t *pcpu_ref_counters(const struct pcpu_ref *ref)
{
	return (int64_t *)(__atomic_load_n(&ref->percpu_count_ptr,
					   __ATOMIC_RELAXED) &
			   ~__PCPU_REF_FLAGS);
}

/* A ref's switches run locked and as a no-fork section: a forked child
 * never finds one half done. */
static void pcpu_ref_lock(struct pcpu_ref *ref)
{
	pcpu_nofork_enter();
	pcpu_obj_lock(&ref->lock);
}

static void pcpu_ref_unlock(struct pcpu_ref *ref)
{
	pcpu_obj_unlock(&ref->lock);
	pcpu_nofork_exit();
}

/**
 * pcpu_ref_init - set up a ref holding one reference
 * @ref: the ref
 * @release: called once the count drops to zero
 * @flags: PCPU_REF_INIT_ATOMIC, PCPU_REF_INIT_DEAD (no reference, dead),
 *         PCPU_REF_ALLOW_REINIT (recorded, as the kernel's; every ref may
 *         be reinit or resurrected here, see pcpu_ref_resurrect())
 *
 * Context: allocates (pcpu_alloc()); not from a signal handler.
 * Return: 0, -EINVAL for an unknown flag, or -ENOMEM; the ref is
 * untouched on failure.
 */
int pcpu_ref_init(struct pcpu_ref *ref, pcpu_ref_func_t release,
		  unsigned int flags)
{
	int64_t *counters;
	int64_t start = 1;

	if (flags & ~(unsigned int)(PCPU_REF_INIT_ATOMIC | PCPU_REF_INIT_DEAD |
				    PCPU_REF_ALLOW_REINIT))
		return -EINVAL;
	counters = pcpu_alloc(sizeof(int64_t), sizeof(int64_t));
	if (!counters)
		return -ENOMEM;
	ref->percpu_count_ptr = (uintptr_t)counters;
	ref->force_atomic = flags & PCPU_REF_INIT_ATOMIC;
	ref->allow_reinit =
		(flags & (PCPU_REF_INIT_ATOMIC | PCPU_REF_INIT_DEAD |
			  PCPU_REF_ALLOW_REINIT)) != 0;
	if (flags & (PCPU_REF_INIT_ATOMIC | PCPU_REF_INIT_DEAD))
		ref->percpu_count_ptr |= __PCPU_REF_ATOMIC;
	else
		start += PCPU_REF_BIAS;
	if (flags & PCPU_REF_INIT_DEAD) {
		ref->percpu_count_ptr |= __PCPU_REF_DEAD;
		start--;
	}
	ref->count = start;
	ref->release = release;
	ref->confirm_switch = NULL;
	ref->lock = 0;
	return 0;
}

/**
 * pcpu_ref_exit - free what pcpu_ref_init() allocated
 * @ref: the ref, no longer used by anyone
 */
void pcpu_ref_exit(struct pcpu_ref *ref)
{
	int64_t *counters = pcpu_ref_counters(ref);

	if (counters)
		pcpu_free(counters);
	ref->percpu_count_ptr = __PCPU_REF_ATOMIC | __PCPU_REF_DEAD;
}

/**
 * pcpu_ref_put_slow - drop @nr references from the atomic count
 * @ref: the ref
 * @nr: how many
 *
 * Calls release when the count reaches zero; a count below zero is a
 * put without a get, reported and aborted.
 */
void pcpu_ref_put_slow(struct pcpu_ref *ref, int64_t nr)
{
	int64_t c = __atomic_sub_fetch(&ref->count, nr, __ATOMIC_ACQ_REL);

	if (c == 0) {
		if (ref->release)
			ref->release(ref);
	} else if (c < 0) {
		fprintf(stderr, "pcpu_ref_put(): count of %p below zero\n",
			(void *)ref);
		abort();
	}
}

static void pcpu_ref_sum_unit(unsigned int unit, void *arg)
{
	int64_t **acc = arg;

	acc[1][0] += __atomic_load_n(pcpu_ptr(acc[0], unit), __ATOMIC_RELAXED);
}

/* Per-CPU -> atomic.  Context: ref->lock. */
static void __pcpu_ref_switch_to_atomic(struct pcpu_ref *ref)
{
	int64_t *counters = pcpu_ref_counters(ref), sum = 0;
	int64_t *acc[2] = {counters, &sum};

	if (__atomic_fetch_or(&ref->percpu_count_ptr, __PCPU_REF_ATOMIC,
			      __ATOMIC_SEQ_CST) &
	    __PCPU_REF_ATOMIC)
		return;
	(void)pcpu_rseq_fence(); /* -ENOSYS only where rseq is never used */
	pcpu_for_each_present_unit(counters, sizeof(int64_t), pcpu_ref_sum_unit,
				   acc);
	/* the bias goes last: the count may reach zero only now */
	__atomic_fetch_add(&ref->count, sum, __ATOMIC_SEQ_CST);
	pcpu_ref_put_slow(ref, PCPU_REF_BIAS);
}

static void pcpu_ref_confirm(struct pcpu_ref *ref, pcpu_ref_func_t confirm)
{
	if (confirm)
		confirm(ref);
}

/**
 * pcpu_ref_switch_to_atomic - count atomically from now on
 * @ref: the ref
 * @confirm_switch: called once the switch is done (before this returns:
 *                  the switch is synchronous in userspace), or NULL
 *
 * The ref stays atomic until pcpu_ref_switch_to_percpu().
 *
 * Context: takes the ref's lock; one membarrier system call.
 */
void pcpu_ref_switch_to_atomic(struct pcpu_ref *ref,
			       pcpu_ref_func_t confirm_switch)
{
	pcpu_ref_lock(ref);
	ref->force_atomic = true;
	__pcpu_ref_switch_to_atomic(ref);
	pcpu_ref_unlock(ref);
	pcpu_ref_confirm(ref, confirm_switch);
}

void pcpu_ref_switch_to_atomic_sync(struct pcpu_ref *ref)
{
	pcpu_ref_switch_to_atomic(ref, NULL);
}

static void pcpu_ref_zero_unit(unsigned int unit, void *arg)
{
	__atomic_store_n(pcpu_ptr((int64_t *)arg, unit), 0, __ATOMIC_RELAXED);
}

/* Atomic -> per-CPU, unless dead.  Context: ref->lock. */
static void __pcpu_ref_switch_to_percpu(struct pcpu_ref *ref)
{
	uintptr_t word =
		__atomic_load_n(&ref->percpu_count_ptr, __ATOMIC_RELAXED);
	int64_t *counters = pcpu_ref_counters(ref);

	if (!(word & __PCPU_REF_ATOMIC) || (word & __PCPU_REF_DEAD))
		return;
	__atomic_fetch_add(&ref->count, PCPU_REF_BIAS, __ATOMIC_SEQ_CST);
	/* nobody writes the units in atomic mode: clear them, then open */
	pcpu_for_each_present_unit(counters, sizeof(int64_t),
				   pcpu_ref_zero_unit, counters);
	__atomic_fetch_and(&ref->percpu_count_ptr, ~__PCPU_REF_ATOMIC,
			   __ATOMIC_SEQ_CST);
}

/**
 * pcpu_ref_switch_to_percpu - count per CPU again
 * @ref: the ref; nothing happens if it is dead
 *
 * Context: takes the ref's lock.
 */
void pcpu_ref_switch_to_percpu(struct pcpu_ref *ref)
{
	pcpu_ref_lock(ref);
	ref->force_atomic = false;
	__pcpu_ref_switch_to_percpu(ref);
	pcpu_ref_unlock(ref);
}

/**
 * pcpu_ref_kill_and_confirm - mark the ref dead and drop the initial
 * reference
 * @ref: the ref, live
 * @confirm_kill: called once pcpu_ref_tryget_live() fails everywhere, or
 *                NULL
 *
 * Context: takes the ref's lock; one membarrier system call.
 */
void pcpu_ref_kill_and_confirm(struct pcpu_ref *ref,
			       pcpu_ref_func_t confirm_kill)
{
	pcpu_ref_lock(ref);
	if (__atomic_fetch_or(&ref->percpu_count_ptr, __PCPU_REF_DEAD,
			      __ATOMIC_SEQ_CST) &
	    __PCPU_REF_DEAD) {
		pcpu_ref_unlock(ref);
		fprintf(stderr, "pcpu_ref_kill(): %p killed twice\n",
			(void *)ref);
		abort();
	}
	__pcpu_ref_switch_to_atomic(ref);
	pcpu_ref_unlock(ref);
	pcpu_ref_confirm(ref, confirm_kill);
	pcpu_ref_put(ref);
}

/**
 * pcpu_ref_resurrect - bring a killed ref back to life
 * @ref: the ref, killed (released or not: its per-CPU counters stay
 *       until pcpu_ref_exit(), so every ref can come back)
 *
 * Takes a reference (the new initial one) and returns to per-CPU mode
 * unless switched to atomic on purpose.  A ref that was not killed is
 * reported and aborted.
 *
 * Context: takes the ref's lock.
 */
void pcpu_ref_resurrect(struct pcpu_ref *ref)
{
	if (!pcpu_ref_is_dying(ref)) {
		fprintf(stderr, "pcpu_ref_resurrect(): %p was not killed\n",
			(void *)ref);
		abort();
	}
	pcpu_ref_lock(ref);
	__atomic_fetch_add(&ref->count, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_and(&ref->percpu_count_ptr, ~__PCPU_REF_DEAD,
			   __ATOMIC_SEQ_CST);
	if (!ref->force_atomic)
		__pcpu_ref_switch_to_percpu(ref);
	pcpu_ref_unlock(ref);
}

/**
 * pcpu_ref_reinit - make a released ref live again
 * @ref: the ref; its count must be zero
 */
void pcpu_ref_reinit(struct pcpu_ref *ref)
{
	if (!pcpu_ref_is_zero(ref)) {
		fprintf(stderr, "pcpu_ref_reinit(): %p still has references\n",
			(void *)ref);
		abort();
	}
	pcpu_ref_resurrect(ref);
}

/**
 * pcpu_ref_is_zero - no reference left
 * @ref: the ref
 *
 * Return: true if the ref is in atomic mode with a count of zero.
 */
bool pcpu_ref_is_zero(struct pcpu_ref *ref)
{
	return (__atomic_load_n(&ref->percpu_count_ptr, __ATOMIC_ACQUIRE) &
		__PCPU_REF_ATOMIC) &&
	       __atomic_load_n(&ref->count, __ATOMIC_ACQUIRE) == 0;
}
