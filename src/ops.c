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
 * processes run atomic from the start.  The membarrier reaches every
 * thread of the process, whatever numbers the units.
 *
 * What numbers the units (the index mode, chosen here once): the CPU
 * (rseq cpu_id), or the kernel's concurrency ID (rseq mm_cid, Linux 6.3+).
 * A concurrency ID is unique among the process's threads running at any
 * instant and is reassigned only when a thread is scheduled, which aborts
 * any critical section of that thread first; so, like a CPU number, it
 * names a unit no other critical section can write meanwhile.  It stays
 * below min(threads, allowed CPUs), and a thread keeps its ID as it
 * migrates (while threads <= CPUs): memory grows with the threads that
 * write, not with the CPUs they roam over.  On several NUMA nodes the CPU
 * is the default, since placement by first touch needs the unit's pages
 * written from the CPU (so the node) that uses them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/membarrier.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/utsname.h>

#include <pcpu/ops.h>

#include "percpu-internal.h"

#ifndef AT_RSEQ_FEATURE_SIZE
#define AT_RSEQ_FEATURE_SIZE 27
#endif

unsigned int pcpu_rseq_limit;
unsigned long pcpu_rseq_index = PCPU_RSEQ_CPU_ID_OFFSET;
/* What numbers the units and, when not what was asked for, why. */
static const char *pcpu_index_why = "cpu_id";
static bool pcpu_membarrier_ok;
/* Why the operations are atomic (NULL while rseq runs); set once. */
static const char *pcpu_ops_why;

/* a release "X.Y[.Z][-rcN]..." or "Debian X.Y.Z" version; 0 if not one */
static int pcpu_parse_release(const char *s, unsigned int v[4])
{
	int n = 0;

	v[0] = v[1] = v[2] = v[3] = 0;
	if (sscanf(s, "%u.%u%n", &v[0], &v[1], &n) != 2)
		return 0;
	s += n;
	if (sscanf(s, ".%u%n", &v[2], &n) == 1)
		s += n;
	if (sscanf(s, "-rc%u", &v[3]) != 1)
		v[3] = 0;
	return 1;
}

/**
 * pcpu_rseq_kernel_bug - does this arm64 kernel fail to abort sections?
 * @release: uname's release ("7.0.3-arm64", "7.1-rc2")
 * @version: uname's version, or NULL; Debian names its kernels X.Y.0 and
 *           gives the real patch level here ("... Debian 7.0.15-1 ...")
 *
 * Linux 6.19's rseq rework made arm64 skip the abort of a critical section
 * preempted without migration; 6.19.x, 7.0.0 to 7.0.13 and 7.1-rc1 and
 * -rc2 have it.  Tests call this directly; the allocator only on AArch64.
 *
 * Context: any.
 * Return: true on those releases.
 */
bool pcpu_rseq_kernel_bug(const char *release, const char *version)
{
	const char *deb = version ? strstr(version, "Debian ") : NULL;
	unsigned int v[4], d[4];

	if (!pcpu_parse_release(release, v))
		return false;
	if (deb && !v[2] && !v[3] && pcpu_parse_release(deb + 7, d) &&
	    d[0] == v[0] && d[1] == v[1])
		v[2] = d[2];
	if (v[0] == 6 && v[1] == 19)
		return true;
	if (v[0] == 7 && v[1] == 0)
		return v[3] || v[2] <= 13;
	return v[0] == 7 && v[1] == 1 && (v[3] == 1 || v[3] == 2);
}

/* the running kernel, or the test hook's release as if on AArch64 */
static bool pcpu_running_kernel_bug(void)
{
	struct utsname u;

	if (pcpu_geo.fake_release)
		return pcpu_rseq_kernel_bug(pcpu_geo.fake_release, NULL);
#if defined(__aarch64__)
	if (!uname(&u))
		return pcpu_rseq_kernel_bug(u.release, u.version);
#endif
	(void)u;
	return false;
}

/* Why rseq cannot run in this process, or NULL. */
static const char *pcpu_ops_refusal(void)
{
	int cpu =
		*(volatile int *)(__pcpu_rseq_area() + PCPU_RSEQ_CPU_ID_OFFSET);

#if defined(PCPU_OPS_GENERIC) || !(defined(__x86_64__) || defined(__aarch64__))
	return "no rseq operations in this build";
#endif
	if (pcpu_geo.rseq_opt == 0)
		return "forced by PCPU_RSEQ=0";
	if (__rseq_size < 16 || cpu < 0) /* cpu_id and rseq_cs: 16 bytes */
		return "rseq not registered by glibc";
	if (!pcpu_membarrier_ok)
		return "membarrier RSEQ unavailable";
	if (pcpu_geo.nr_units < pcpu_geo.caps.nr_possible_cpus)
		return "fewer units than CPUs";
	if (pcpu_geo.rseq_opt < 0 && pcpu_running_kernel_bug())
		return "kernel with the arm64 rseq bug";
	return NULL;
}

/*
 * membarrier RSEQ, verified: registered, listed by the query, and one
 * restart of the process's sections done.
 */
static bool pcpu_membarrier_probe(void)
{
	int q = pcpu_os_membarrier(MEMBARRIER_CMD_QUERY);

	return q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ) &&
	       !pcpu_os_membarrier(
		       MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ) &&
	       !pcpu_os_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ);
}

/*
 * The kernel fills mm_cid for a registered rseq area when its rseq feature
 * size covers the field (Linux 6.3+: 28 or more).  glibc's own __rseq_size
 * may say less (20 with glibc 2.36) though it registers the 32-byte area
 * the kernel fills; so the kernel's word decides, and the registration.
 */
static bool pcpu_mm_cid_filled(void)
{
	int cpu =
		*(volatile int *)(__pcpu_rseq_area() + PCPU_RSEQ_CPU_ID_OFFSET);

	return __rseq_size >= 16 && cpu >= 0 &&
	       getauxval(AT_RSEQ_FEATURE_SIZE) >= PCPU_RSEQ_MM_CID_OFFSET + 4;
}

/* The index mode from PCPU_INDEX / pcpu_config.index and what the kernel
 * offers: mm_cid, or the CPU and why. */
static bool pcpu_index_choose(void)
{
	int opt = pcpu_geo.index_opt;

	if (opt == PCPU_INDEX_CPU) {
		pcpu_index_why = "cpu_id";
		return false;
	}
	if (!pcpu_mm_cid_filled()) {
		pcpu_index_why = opt == PCPU_INDEX_CID
					 ? "cpu_id (cid asked for: no mm_cid "
					   "from this kernel or thread)"
					 : "cpu_id (auto: no mm_cid from this "
					   "kernel or thread)";
		return false;
	}
	if (opt == PCPU_INDEX_AUTO && pcpu_geo.caps.nr_nodes > 1) {
		pcpu_index_why = "cpu_id (auto: several NUMA nodes)";
		return false;
	}
	pcpu_index_why = "mm_cid";
	return true;
}

/**
 * pcpu_ops_init - choose between rseq and atomic operations, and what
 * numbers the units
 *
 * The index is published before the limit that lets critical sections
 * run, so no section uses a unit number of the wrong kind.
 *
 * Context: allocator start-up.
 */
void pcpu_ops_init(void)
{
	pcpu_membarrier_ok = pcpu_membarrier_probe();
	pcpu_ops_why = pcpu_ops_refusal();
	__atomic_store_n(&pcpu_rseq_index,
			 pcpu_index_choose() ? PCPU_RSEQ_MM_CID_OFFSET
					     : PCPU_RSEQ_CPU_ID_OFFSET,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&pcpu_rseq_limit, pcpu_ops_why ? 0 : pcpu_geo.nr_units,
			 __ATOMIC_SEQ_CST);
}

/**
 * pcpu_ops_mode - which path the this-CPU operations take
 * @reason: if not NULL, set to a constant string: on the rseq path what
 *          numbers the units, "mm_cid" or "cpu_id" (followed by why,
 *          when PCPU_INDEX was auto or cid: "cpu_id (auto: several NUMA
 *          nodes)", "cpu_id (auto: no mm_cid from this kernel or
 *          thread)", "cpu_id (cid asked for: ...)"); otherwise why the
 *          operations are atomic ("rseq not
 *          registered by glibc", "fewer units than CPUs", "kernel with the
 *          arm64 rseq bug", "forced by PCPU_RSEQ=0", "membarrier RSEQ
 *          unavailable", "an operation ran without rseq", "a CPU
 *          numbered beyond the units", "a concurrency ID beyond the
 *          units", "no rseq operations in this build")
 *
 * Starts the allocator if it was not.  The mode only ever goes from rseq
 * to atomic, when a thread without rseq runs an operation.
 *
 * Context: any; async-signal-safe once the allocator runs.
 * Return: PCPU_OPS_RSEQ or PCPU_OPS_ATOMIC, or -ENOMEM if the allocator
 * cannot start (@reason untouched).
 */
int pcpu_ops_mode(const char **reason)
{
	const char *why;

	if (pcpu_ensure_init())
		return -ENOMEM;
	why = __atomic_load_n(&pcpu_ops_why, __ATOMIC_ACQUIRE);
	if (!why && !__atomic_load_n(&pcpu_rseq_limit, __ATOMIC_ACQUIRE))
		why = "an operation ran without rseq";
	if (reason)
		*reason = why ? why : pcpu_index_why;
	return why ? PCPU_OPS_ATOMIC : PCPU_OPS_RSEQ;
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
	__atomic_store_n((uint64_t *)(__pcpu_rseq_area() + PCPU_RSEQ_CS_OFFSET),
			 0, __ATOMIC_RELAXED);
}

/* The calling thread's field that numbers units (cpu_id or mm_cid), or -1
 * if the thread has no registered rseq. */
static int pcpu_rseq_field(void)
{
	char *rs = __pcpu_rseq_area();

	if (*(volatile int *)(rs + PCPU_RSEQ_CPU_ID_OFFSET) < 0)
		return -1;
	return *(volatile int *)(rs + pcpu_rseq_index);
}

/* The calling thread's unit number as the index mode numbers units: its
 * rseq field if registered, else the CPU getcpu() says. */
static unsigned int pcpu_thread_cpu(void)
{
	int cpu = pcpu_rseq_field();

	if (cpu < 0)
		cpu = pcpu_os_getcpu();
	return cpu < 0 ? 0u : (unsigned int)cpu;
}

/**
 * pcpu_cpu_slow - pcpu_cpu() when the rseq area cannot say
 *
 * Context: any.
 * Return: the current CPU's unit (CPU number, or concurrency ID in the
 * mm_cid mode, modulo the units).
 */
int pcpu_cpu_slow(void)
{
	if (pcpu_ensure_init())
		return 0;
	return (int)(pcpu_thread_cpu() % pcpu_geo.nr_units);
}

/* A thread without rseq, or on a CPU without a unit (sysfs said fewer
 * CPUs than there are) or with a concurrency ID beyond them, met a process
 * using rseq: go atomic for good. */
static void pcpu_ops_go_atomic(void)
{
	int cpu = pcpu_rseq_field();
	bool cid = pcpu_rseq_index == PCPU_RSEQ_MM_CID_OFFSET;
	const char *why = "an operation ran without rseq", *none = NULL;

	if (cpu >= 0 && (unsigned int)cpu >= pcpu_geo.nr_units)
		why = cid ? "a concurrency ID beyond the units"
			  : "a CPU numbered beyond the units";
	if (!__atomic_exchange_n(&pcpu_rseq_limit, 0, __ATOMIC_SEQ_CST))
		return;
	__atomic_compare_exchange_n(&pcpu_ops_why, &none, why, false,
				    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
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
