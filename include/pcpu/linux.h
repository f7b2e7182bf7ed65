/* SPDX-License-Identifier: MIT */
/*
 * pcpu/linux.h - the Linux kernel's per-CPU names, as thin mappings onto
 * libpcpu, so that kernel-style code runs in userspace unchanged:
 * alloc_percpu()/free_percpu(), per_cpu_ptr()/this_cpu_ptr(), the
 * this_cpu_*() operations and their __this_cpu_/raw_cpu_ forms,
 * for_each_possible_cpu(), and the percpu_counter and percpu_ref families.
 *
 * GFP flags: GFP_KERNEL may block (pcpu_alloc()); GFP_NOWAIT and
 * GFP_ATOMIC take the no-syscall path (pcpu_alloc_nowait()).  Memory is
 * always zeroed, so __GFP_ZERO is accepted and ignored.
 */
#ifndef PCPU_LINUX_H
#define PCPU_LINUX_H

#include <stdbool.h>
#include <stdint.h>

#include "counter.h"
#include "ops.h"
#include "ref.h"

#ifndef PCPU_LINUX_NO_TYPES
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
#endif

typedef unsigned int gfp_t;
#define GFP_KERNEL 0u
#define GFP_NOWAIT 1u
#define GFP_ATOMIC 3u
#define __GFP_ZERO 0u
#define __percpu

static inline void *__alloc_percpu_gfp(size_t size, size_t align, gfp_t gfp)
{
	return (gfp & GFP_NOWAIT) ? pcpu_alloc_nowait(size, align)
				  : pcpu_alloc(size, align);
}

static inline void *__alloc_percpu(size_t size, size_t align)
{
	return pcpu_alloc(size, align);
}

#define alloc_percpu_gfp(type, gfp) \
	((type *)__alloc_percpu_gfp(sizeof(type), __alignof__(type), gfp))
#define alloc_percpu(type) alloc_percpu_gfp(type, GFP_KERNEL)
#define free_percpu(ptr) pcpu_free(ptr)

#define per_cpu_ptr(ptr, cpu) pcpu_ptr(ptr, cpu)
#define per_cpu(var, cpu) (*per_cpu_ptr(&(var), cpu))
#define this_cpu_ptr(ptr) pcpu_ptr(ptr, pcpu_cpu())
#define raw_cpu_ptr(ptr) this_cpu_ptr(ptr)
#define smp_processor_id() pcpu_cpu()
#define raw_smp_processor_id() pcpu_cpu()
#define num_possible_cpus() pcpu_nr_units()
#define for_each_possible_cpu(cpu) \
	for ((cpu) = 0; (cpu) < (int)pcpu_nr_units(); (cpu)++)

/* this_cpu_*(pcp, ...): @pcp is the per-CPU lvalue, as in the kernel. */
#define this_cpu_read(pcp) pcpu_read(&(pcp))
#define this_cpu_write(pcp, v) pcpu_write(&(pcp), v)
#define this_cpu_add(pcp, v) pcpu_add(&(pcp), v)
#define this_cpu_sub(pcp, v) pcpu_sub(&(pcp), v)
#define this_cpu_inc(pcp) pcpu_inc(&(pcp))
#define this_cpu_dec(pcp) pcpu_dec(&(pcp))
#define this_cpu_add_return(pcp, v) pcpu_add_return(&(pcp), v)
#define this_cpu_sub_return(pcp, v) pcpu_add_return(&(pcp), -(v))
#define this_cpu_inc_return(pcp) pcpu_add_return(&(pcp), 1)
#define this_cpu_dec_return(pcp) pcpu_add_return(&(pcp), -1)
#define this_cpu_xchg(pcp, v) pcpu_xchg(&(pcp), v)
#define this_cpu_cmpxchg(pcp, o, n) pcpu_cmpxchg(&(pcp), o, n)

#define __this_cpu_read this_cpu_read
#define __this_cpu_write this_cpu_write
#define __this_cpu_add this_cpu_add
#define __this_cpu_sub this_cpu_sub
#define __this_cpu_inc this_cpu_inc
#define __this_cpu_dec this_cpu_dec
#define __this_cpu_add_return this_cpu_add_return
#define __this_cpu_xchg this_cpu_xchg
#define __this_cpu_cmpxchg this_cpu_cmpxchg
#define raw_cpu_read this_cpu_read
#define raw_cpu_write this_cpu_write
#define raw_cpu_add this_cpu_add
#define raw_cpu_sub this_cpu_sub
#define raw_cpu_inc this_cpu_inc
#define raw_cpu_dec this_cpu_dec
#define raw_cpu_add_return this_cpu_add_return
#define raw_cpu_xchg this_cpu_xchg
#define raw_cpu_cmpxchg this_cpu_cmpxchg

/* percpu_counter */
#define percpu_counter pcpu_counter
#define percpu_counter_batch pcpu_counter_batch
#define percpu_counter_init(fbc, value, gfp) pcpu_counter_init(fbc, value)
#define percpu_counter_init_many(fbc, value, gfp, n) \
	pcpu_counter_init_many(fbc, value, n)
#define percpu_counter_destroy pcpu_counter_destroy
#define percpu_counter_destroy_many pcpu_counter_destroy_many
#define percpu_counter_add pcpu_counter_add
#define percpu_counter_add_batch pcpu_counter_add_batch
#define percpu_counter_sub pcpu_counter_sub
#define percpu_counter_inc pcpu_counter_inc
#define percpu_counter_dec pcpu_counter_dec
#define percpu_counter_read pcpu_counter_read
#define percpu_counter_read_positive pcpu_counter_read_positive
#define percpu_counter_sum pcpu_counter_sum
#define percpu_counter_sum_positive pcpu_counter_sum_positive
#define percpu_counter_compare pcpu_counter_compare
#define __percpu_counter_compare pcpu_counter_compare_batch
#define percpu_counter_set pcpu_counter_set
#define percpu_counter_initialized pcpu_counter_initialized

/* percpu_ref */
#define percpu_ref pcpu_ref
#define percpu_ref_func_t pcpu_ref_func_t
#define PERCPU_REF_INIT_ATOMIC PCPU_REF_INIT_ATOMIC
#define PERCPU_REF_INIT_DEAD PCPU_REF_INIT_DEAD
#define PERCPU_REF_ALLOW_REINIT PCPU_REF_ALLOW_REINIT
#define percpu_ref_init(ref, release, flags, gfp) \
	pcpu_ref_init(ref, release, flags)
#define percpu_ref_exit pcpu_ref_exit
#define percpu_ref_get pcpu_ref_get
#define percpu_ref_get_many pcpu_ref_get_many
#define percpu_ref_tryget pcpu_ref_tryget
#define percpu_ref_tryget_many pcpu_ref_tryget_many
#define percpu_ref_tryget_live pcpu_ref_tryget_live
#define percpu_ref_put pcpu_ref_put
#define percpu_ref_put_many pcpu_ref_put_many
#define percpu_ref_kill pcpu_ref_kill
#define percpu_ref_kill_and_confirm pcpu_ref_kill_and_confirm
#define percpu_ref_switch_to_atomic pcpu_ref_switch_to_atomic
#define percpu_ref_switch_to_atomic_sync pcpu_ref_switch_to_atomic_sync
#define percpu_ref_switch_to_percpu pcpu_ref_switch_to_percpu
#define percpu_ref_reinit pcpu_ref_reinit
#define percpu_ref_resurrect pcpu_ref_resurrect
#define percpu_ref_is_zero pcpu_ref_is_zero
#define percpu_ref_is_dying pcpu_ref_is_dying

#endif /* PCPU_LINUX_H */
