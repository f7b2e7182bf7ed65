// SPDX-License-Identifier: MIT
/*
 * ops.c - the out-of-line side of the this-CPU operations: choosing,
 * once, between rseq and atomic operations, and the atomic path.
 *
 * Why the choice is global.  An rseq critical section is atomic only with
 * respect to its own CPU: its commit is a plain store.  So a unit may be
 * updated non-atomically only if every writer of that unit is a critical
 * section running on that unit's CPU.  A thread without rseq (valgrind, a
 * seccomp filter, the glibc tunable), or a CPU without a unit
 * (PCPU_NR_UNITS below the possible CPUs), would write some unit with an
 * atomic operation from elsewhere, racing with plain commits.  Hence: if
 * that can happen, every operation of the process is atomic.
 *
 * The switch, when a thread without rseq shows up after others used it:
 * it sets pcpu_rseq_limit to 0, then membarrier(MEMBARRIER_CMD_PRIVATE_
 * EXPEDITED_RSEQ) restarts every critical section in flight in the process.
 * A critical section reads pcpu_rseq_limit after it starts, so once
 * membarrier returns, any section that read the old limit has been
 * restarted and reads 0: no plain commit can follow the switch.  Without
 * membarrier (Linux < 5.10) that argument is not available, so such
 * processes run atomic from the start.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/membarrier.h>
#include <stdlib.h>

#include <pcpu/ops.h>

#include "percpu-internal.h"

unsigned int pcpu_rseq_limit;
unsigned int pcpu_inject_spins[PCPU_INJECT_NR];
static bool pcpu_membarrier_ok;

/**
 * pcpu_ops_init - choose between rseq and atomic operations
 *
 * Context: allocator start-up.
 */
void pcpu_ops_init(void)
{
	bool rseq = __rseq_size >= 8 && !pcpu_geo.force_atomic_ops;

	pcpu_membarrier_ok = !pcpu_os_membarrier(
		MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ);
	__atomic_store_n(&pcpu_rseq_limit,
			 rseq && pcpu_membarrier_ok &&
					 pcpu_geo.nr_units >=
						 pcpu_geo.caps.nr_possible_cpus
				 ? pcpu_geo.nr_units
				 : 0,
			 __ATOMIC_SEQ_CST);
}

/**
 * pcpu_rseq_fence - restart every rseq critical section in flight
 *
 * Context: any thread; a system call.
 * Return: 0, or -errno when membarrier is not available.
 */
int pcpu_rseq_fence(void)
{
	if (!pcpu_membarrier_ok)
		return -ENOSYS;
	return pcpu_os_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ);
}

/**
 * pcpu_rseq_clear - forget the calling thread's last critical section
 *
 * Clears the thread's rseq_cs, which an operation leaves pointing at its
 * descriptor.  Code that inlined this-CPU operations and is about to be
 * unloaded (a plugin's dlclose()) needs every thread that ran them to
 * call this first, or to have been built with PCPU_UNLOADABLE: the kernel
 * reads rseq_cs when the thread is next preempted, and a descriptor that
 * is no longer mapped kills the process.  libpcpu itself is never
 * unmapped (linked -z nodelete).
 *
 * Context: any, including a signal handler; no system call.
 */
void pcpu_rseq_clear(void)
{
	__atomic_store_n((uint64_t *)(pcpu_rseq_area() + PCPU_RSEQ_CS_OFFSET),
			 0, __ATOMIC_RELAXED);
}

static unsigned int pcpu_thread_cpu(void)
{
	int cpu = *(volatile int *)(pcpu_rseq_area() + PCPU_RSEQ_CPU_ID_OFFSET);

	if (cpu < 0)
		cpu = pcpu_os_getcpu();
	return cpu < 0 ? 0u : (unsigned int)cpu;
}

/**
 * pcpu_cpu_slow - pcpu_cpu() when the rseq area cannot say
 *
 * Context: any.
 * Return: the current CPU's unit (CPU number modulo the units).
 */
int pcpu_cpu_slow(void)
{
	if (pcpu_ensure_init())
		return 0;
	return (int)(pcpu_thread_cpu() % pcpu_geo.nr_units);
}

/* A thread without rseq met a process using rseq: go atomic for good. */
static void pcpu_ops_go_atomic(void)
{
	if (!__atomic_exchange_n(&pcpu_rseq_limit, 0, __ATOMIC_SEQ_CST))
		return;
	(void)pcpu_rseq_fence();
}

/**
 * pcpu_this_unit_slow - the current CPU's copy of @ptr, on the atomic path
 * @ptr: a per-CPU pointer
 *
 * Switches the process to atomic operations first if it still used rseq
 * (see the top of this file), so the caller may update the copy with an
 * atomic operation.
 *
 * Context: any; may call membarrier once per process.
 * Return: the copy of the unit of the current CPU (modulo the units).
 */
void *pcpu_this_unit_slow(void *ptr)
{
	unsigned int unit;

	if (pcpu_ensure_init())
		abort();
	if (pcpu_rseq_limit)
		pcpu_ops_go_atomic();
	unit = pcpu_thread_cpu() % pcpu_geo.nr_units;
	return (char *)ptr + (size_t)(unit + 1) * pcpu_geo.unit_size;
}

/**
 * pcpu_op_slow - a this-CPU operation as an atomic operation
 * @ptr: the per-CPU pointer
 * @size: 1, 2, 4 or 8
 * @op: enum pcpu_op
 * @v: the operand
 * @old: the expected value of PCPU_OP_CMPXCHG
 *
 * Works on the unit of the current CPU (modulo the units); since every
 * writer is then atomic (see the top of this file), a stale CPU number
 * costs a cache line, never an update.
 *
 * Context: any; may call membarrier once per process.
 * Return: what the inline operation returns (new value, old value, 0).
 */
uint64_t pcpu_op_slow(void *ptr, unsigned int size, int op, uint64_t v,
		      uint64_t old)
{
	void *p = pcpu_this_unit_slow(ptr);

#define PCPU_ATOMIC_OP(T)                                                      \
	do {                                                                   \
		T *q = p, e = (T)old;                                          \
		switch (op) {                                                  \
		case PCPU_OP_WRITE:                                            \
			__atomic_store_n(q, (T)v, __ATOMIC_RELEASE);           \
			return 0;                                              \
		case PCPU_OP_ADD:                                              \
			__atomic_fetch_add(q, (T)v, __ATOMIC_RELAXED);         \
			return 0;                                              \
		case PCPU_OP_ADD_RETURN:                                       \
			return __atomic_add_fetch(q, (T)v, __ATOMIC_RELAXED);  \
		case PCPU_OP_XCHG:                                             \
			return __atomic_exchange_n(q, (T)v, __ATOMIC_ACQ_REL); \
		default:                                                       \
			__atomic_compare_exchange_n(q, &e, (T)v, false,        \
						    __ATOMIC_ACQ_REL,          \
						    __ATOMIC_ACQUIRE);         \
			return e;                                              \
		}                                                              \
	} while (0)

	switch (size) {
	case 1:
		PCPU_ATOMIC_OP(uint8_t);
	case 2:
		PCPU_ATOMIC_OP(uint16_t);
	case 4:
		PCPU_ATOMIC_OP(uint32_t);
	default:
		PCPU_ATOMIC_OP(uint64_t);
	}
}
