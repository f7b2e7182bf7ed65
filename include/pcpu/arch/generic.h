/* SPDX-License-Identifier: MIT */
/*
 * pcpu/arch/generic.h - this-CPU operations where libpcpu has no rseq
 * critical sections for the architecture: every operation is an atomic
 * operation on the current CPU's copy, out of line.  Correct, slower.
 * Included by pcpu/ops.h only; never include it directly.
 */
#ifndef PCPU_ARCH_GENERIC_H
#define PCPU_ARCH_GENERIC_H

#ifndef PCPU_OPS_H
#error "include <pcpu/ops.h>, not this file"
#endif

#define __PCPU_GENERIC_OPS(N)                                               \
	static inline uint64_t __pcpu_write_##N(void *ptr, uint64_t v)      \
	{                                                                   \
		return pcpu_op_slow(ptr, N, PCPU_OP_WRITE, v, 0);           \
	}                                                                   \
	static inline uint64_t __pcpu_add_##N(void *ptr, uint64_t v)        \
	{                                                                   \
		return pcpu_op_slow(ptr, N, PCPU_OP_ADD, v, 0);             \
	}                                                                   \
	static inline uint64_t __pcpu_add_return_##N(void *ptr, uint64_t v) \
	{                                                                   \
		return pcpu_op_slow(ptr, N, PCPU_OP_ADD_RETURN, v, 0);      \
	}                                                                   \
	static inline uint64_t __pcpu_xchg_##N(void *ptr, uint64_t v)       \
	{                                                                   \
		return pcpu_op_slow(ptr, N, PCPU_OP_XCHG, v, 0);            \
	}                                                                   \
	static inline uint64_t __pcpu_cmpxchg_##N(void *ptr, uint64_t o,    \
						  uint64_t v)               \
	{                                                                   \
		return pcpu_op_slow(ptr, N, PCPU_OP_CMPXCHG, v, o);         \
	}

__PCPU_GENERIC_OPS(1)
__PCPU_GENERIC_OPS(2)
__PCPU_GENERIC_OPS(4)
__PCPU_GENERIC_OPS(8)

/* No critical sections here: callers always take their atomic path. */
static inline bool __pcpu_add_indirect(const uintptr_t *word, uintptr_t mask,
				       uint64_t v)
{
	(void)word;
	(void)mask;
	(void)v;
	return false;
}

static inline bool __pcpu_add_return_at(void *ptr, uint64_t v, uint64_t *res,
					void **at)
{
	(void)ptr;
	(void)v;
	(void)res;
	(void)at;
	return false;
}

#endif /* PCPU_ARCH_GENERIC_H */
