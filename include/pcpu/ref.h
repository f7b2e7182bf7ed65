/* SPDX-License-Identifier: MIT */
/*
 * pcpu/ref.h - per-CPU reference counts, after the kernel's percpu_ref.
 *
 * While "live" (per-CPU mode), get and put are one rseq critical section
 * each on the calling CPU's counter.  pcpu_ref_kill() switches the ref to
 * a single atomic count and drops the initial reference; release is
 * called once, when the atomic count reaches zero.
 *
 * Userspace has no RCU.  The mode word is read inside the critical
 * section, and a switch to atomic mode sets the mode bit and then restarts
 * every critical section in flight (membarrier RSEQ): after that, no get
 * or put can still land on a per-CPU counter, so their sum is final.
 * Without rseq (see pcpu/ops.h), refs count atomically from the start.
 */
#ifndef PCPU_REF_H
#define PCPU_REF_H

#include <stdbool.h>
#include <stdint.h>

#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pcpu_ref;
typedef void (*pcpu_ref_func_t)(struct pcpu_ref *ref);

/* pcpu_ref_init() flags */
enum {
	PCPU_REF_INIT_ATOMIC = 1 << 0, /* start in atomic mode */
	PCPU_REF_INIT_DEAD = 1 << 1, /* start dead, count 0 */
	PCPU_REF_ALLOW_REINIT = 1 << 2 /* may be reinit/resurrected */
};

/* low bits of percpu_count_ptr */
#define __PCPU_REF_ATOMIC 1UL
#define __PCPU_REF_DEAD 2UL
#define __PCPU_REF_FLAGS (__PCPU_REF_ATOMIC | __PCPU_REF_DEAD)
/* added to the atomic count in per-CPU mode so that it cannot reach 0 */
#define PCPU_REF_BIAS ((int64_t)1 << 62)

/**
 * struct pcpu_ref - a per-CPU reference count
 * @percpu_count_ptr: the per-CPU counter's pointer, with the mode bits
 * @count: the atomic count (plus PCPU_REF_BIAS in per-CPU mode)
 * @release: called once the count reaches zero
 * @confirm_switch: called once a switch to atomic mode is done, if set
 * @force_atomic: stay atomic (pcpu_ref_switch_to_atomic())
 * @allow_reinit: pcpu_ref_reinit()/resurrect() are allowed
 * @lock: serializes mode switches
 */
struct pcpu_ref {
	uintptr_t percpu_count_ptr;
	int64_t count;
	pcpu_ref_func_t release;
	pcpu_ref_func_t confirm_switch;
	bool force_atomic;
	bool allow_reinit;
	int lock;
};

PCPU_API int pcpu_ref_init(struct pcpu_ref *ref, pcpu_ref_func_t release,
			   unsigned int flags);
PCPU_API void pcpu_ref_exit(struct pcpu_ref *ref);
PCPU_API void pcpu_ref_switch_to_atomic(struct pcpu_ref *ref,
					pcpu_ref_func_t confirm_switch);
PCPU_API void pcpu_ref_switch_to_atomic_sync(struct pcpu_ref *ref);
PCPU_API void pcpu_ref_switch_to_percpu(struct pcpu_ref *ref);
PCPU_API void pcpu_ref_kill_and_confirm(struct pcpu_ref *ref,
					pcpu_ref_func_t confirm_kill);
PCPU_API void pcpu_ref_resurrect(struct pcpu_ref *ref);
PCPU_API void pcpu_ref_reinit(struct pcpu_ref *ref);
PCPU_API bool pcpu_ref_is_zero(struct pcpu_ref *ref);
/* Internal: pcpu_ref_put_many()'s atomic half, not for direct use. */
PCPU_API void pcpu_ref_put_slow(struct pcpu_ref *ref, int64_t nr);

static inline void pcpu_ref_kill(struct pcpu_ref *ref)
{
	pcpu_ref_kill_and_confirm(ref, NULL);
}

static inline bool pcpu_ref_is_dying(struct pcpu_ref *ref)
{
	return __atomic_load_n(&ref->percpu_count_ptr, __ATOMIC_ACQUIRE) &
	       __PCPU_REF_DEAD;
}

/* Add @nr references (the caller must already hold one, or the ref be
 * live). */
static inline void pcpu_ref_get_many(struct pcpu_ref *ref, int64_t nr)
{
	if (!__pcpu_add_indirect(&ref->percpu_count_ptr, __PCPU_REF_FLAGS,
				 (uint64_t)nr))
		__atomic_fetch_add(&ref->count, nr, __ATOMIC_RELAXED);
}

static inline void pcpu_ref_get(struct pcpu_ref *ref)
{
	pcpu_ref_get_many(ref, 1);
}

/* Get a reference unless the count is zero. */
static inline bool pcpu_ref_tryget_many(struct pcpu_ref *ref, int64_t nr)
{
	int64_t c;

	if (__pcpu_add_indirect(&ref->percpu_count_ptr, __PCPU_REF_FLAGS,
				(uint64_t)nr))
		return true;
	c = __atomic_load_n(&ref->count, __ATOMIC_RELAXED);
	do {
		if (c == 0)
			return false;
	} while (!__atomic_compare_exchange_n(&ref->count, &c, c + nr, true,
					      __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return true;
}

static inline bool pcpu_ref_tryget(struct pcpu_ref *ref)
{
	return pcpu_ref_tryget_many(ref, 1);
}

/* Get a reference unless the ref was killed (or is zero). */
static inline bool pcpu_ref_tryget_live(struct pcpu_ref *ref)
{
	int64_t c;

	if (__pcpu_add_indirect(&ref->percpu_count_ptr, __PCPU_REF_FLAGS, 1))
		return true;
	if (pcpu_ref_is_dying(ref))
		return false;
	c = __atomic_load_n(&ref->count, __ATOMIC_RELAXED);
	do {
		if (c == 0)
			return false;
	} while (!__atomic_compare_exchange_n(&ref->count, &c, c + 1, true,
					      __ATOMIC_ACQUIRE,
					      __ATOMIC_RELAXED));
	return true;
}

/* Drop @nr references; the last one calls release. */
static inline void pcpu_ref_put_many(struct pcpu_ref *ref, int64_t nr)
{
	if (!__pcpu_add_indirect(&ref->percpu_count_ptr, __PCPU_REF_FLAGS,
				 (uint64_t)-nr))
		pcpu_ref_put_slow(ref, nr);
}

static inline void pcpu_ref_put(struct pcpu_ref *ref)
{
	pcpu_ref_put_many(ref, 1);
}

#ifdef __cplusplus
}
#endif

#endif /* PCPU_REF_H */
