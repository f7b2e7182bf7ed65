/* SPDX-License-Identifier: MIT */
/*
 * pcpu/ops.h - this-CPU operations on per-CPU integers.
 *
 * pcpu_add(p, v) adds v to the copy of *p of the CPU the calling thread
 * runs on, as one restartable sequence (rseq) on the area glibc registered
 * for the thread: no lock, no atomic instruction.  If the thread is
 * preempted, migrated or signalled inside the sequence, the kernel restarts
 * it, so the update lands exactly once in the copy of the CPU it ran on.
 *
 * Objects of 1, 2, 4 and 8 bytes are supported (any other size is a
 * compile-time error).  Every operation returns or works on the object's
 * own type.
 *
 * Where rseq is not available (old kernel, valgrind, a seccomp filter,
 * GLIBC_TUNABLES=glibc.pthread.rseq=0), or the process may run on CPUs
 * beyond pcpu_nr_units(), every operation instead becomes an atomic
 * operation on the copy of unit (CPU % pcpu_nr_units()): correct, slower.
 * That choice is made once, not per operation (see pcpu_rseq_limit).
 */
#ifndef PCPU_OPS_H
#define PCPU_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../pcpu.h"

#ifdef __cplusplus
#include <type_traits>
extern "C" {
#endif

/* glibc's rseq registration (glibc >= 2.35). */
extern const ptrdiff_t __rseq_offset;
extern const unsigned int __rseq_size;

__PCPU_VARS_BEGIN
/*
 * The fast path may use the rseq area's CPU number c only when
 * c < the rseq limit.  It is pcpu_nr_units() when every thread of the
 * process can run rseq on a CPU that has a unit, and 0 otherwise (every
 * operation atomic).  It only ever drops to 0, and is read inside each
 * critical section, so a switch restarts the sequences in flight.
 * (Internal, see pcpu.h: the critical sections read it through this.)
 */
__PCPU_INLINE const unsigned int *__pcpu_rseq_limit(void)
{
	extern PCPU_API unsigned int pcpu_rseq_limit;

	return &pcpu_rseq_limit;
}

/*
 * Which rseq area field numbers the units (the index mode, chosen once at
 * start-up, PCPU_INDEX): its byte offset, PCPU_RSEQ_CPU_ID_OFFSET (the
 * CPU number) or PCPU_RSEQ_MM_CID_OFFSET (the kernel's concurrency ID:
 * unique among the process's running threads, below min(threads, allowed
 * CPUs)).  Read by every critical section.  (Internal.)
 */
__PCPU_INLINE unsigned long __pcpu_rseq_index(void)
{
	extern PCPU_API unsigned long pcpu_rseq_index;

	return pcpu_rseq_index;
}
__PCPU_VARS_END

#ifdef PCPU_INJECT
/* Delay injection, in the test builds that define PCPU_INJECT (and this
 * array): spins inside critical section kind n.  Not in the library. */
#define PCPU_INJECT_NR 8
extern unsigned int pcpu_inject_spins[PCPU_INJECT_NR];
#endif

enum pcpu_op {
	PCPU_OP_WRITE,
	PCPU_OP_ADD,
	PCPU_OP_ADD_RETURN,
	PCPU_OP_XCHG,
	PCPU_OP_CMPXCHG,
};

/* Internal, exported for the inline code and not for direct use: the
 * out-of-line path (an atomic operation on the current CPU's unit) and
 * pcpu_cpu()'s. */
PCPU_API uint64_t pcpu_op_slow(void *ptr, unsigned int size, int op, uint64_t v,
			       uint64_t old);
PCPU_API int pcpu_cpu_slow(void);
PCPU_API void pcpu_rseq_clear(void);

/* pcpu_ops_mode(): which path the operations take, and why. */
enum pcpu_ops_mode {
	PCPU_OPS_ATOMIC = 0, /* atomic operations on unit (CPU % units) */
	PCPU_OPS_RSEQ = 1, /* rseq critical sections */
};
PCPU_API int pcpu_ops_mode(const char **reason);

/* rseq area fields used here (struct rseq of the kernel ABI: cpu_id_start
 * at 0, cpu_id at 4, rseq_cs at 8, flags at 16, node_id at 20, mm_cid at
 * 24); the critical sections spell them through these names */
#define PCPU_RSEQ_CPU_ID_OFFSET 4
#define PCPU_RSEQ_CS_OFFSET 8
#define PCPU_RSEQ_MM_CID_OFFSET 24
#define __PCPU_STR(x) #x
#define __PCPU_XSTR(x) __PCPU_STR(x)
#define __PCPU_CPU_ID __PCPU_XSTR(PCPU_RSEQ_CPU_ID_OFFSET)
#define __PCPU_RSEQ_CS __PCPU_XSTR(PCPU_RSEQ_CS_OFFSET)

/* The abort signature: the C library's RSEQ_SIG for the architecture (the
 * one it registered rseq with), or the same value where <sys/rseq.h> is
 * missing.  On AArch64 it is an instruction word (RSEQ_SIG_CODE). */
#if defined(__has_include)
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#endif
#endif
#if defined(RSEQ_SIG_CODE)
#define PCPU_RSEQ_SIG RSEQ_SIG_CODE
#elif defined(RSEQ_SIG)
#define PCPU_RSEQ_SIG RSEQ_SIG
#elif defined(__aarch64__)
#define PCPU_RSEQ_SIG 0xd428bc00
#else
#define PCPU_RSEQ_SIG 0x53053053
#endif
#define __PCPU_SIG __PCPU_XSTR(PCPU_RSEQ_SIG)

static inline char *__pcpu_rseq_area(void)
{
	return (char *)__builtin_thread_pointer() + __rseq_offset;
}

/**
 * pcpu_cpu - the unit the calling thread's operations use now
 *
 * The unit of the CPU the thread runs on, or in the mm_cid index mode
 * (PCPU_INDEX=cid) the unit of its concurrency ID.
 *
 * Return: a unit number < pcpu_nr_units().  It may be stale as soon as it
 * is returned (the thread can migrate); use the operations below to
 * update per-CPU data.
 */
static inline int pcpu_cpu(void)
{
	unsigned int cpu = *(volatile unsigned int *)(__pcpu_rseq_area() +
						      __pcpu_rseq_index());

	if (__builtin_expect(cpu < *__pcpu_rseq_limit(), 1))
		return (int)cpu;
	return pcpu_cpu_slow();
}

#ifdef __cplusplus
}
#endif

/*
 * The C side of every rseq operation: run the critical section (an asm
 * goto whose labels are abort and slow), run it again after an abort, and
 * return @slowcall when it left for the slow path.
 */
#define __PCPU_RSEQ_OP(result, slowcall, ...) \
	retry:                                \
	__VA_ARGS__;                          \
	__PCPU_RSEQ_DISARM();                 \
	return (result);                      \
	abort:                                \
	goto retry;                           \
	slow:                                 \
	__PCPU_RSEQ_DISARM();                 \
	return (slowcall)

/*
 * PCPU_UNLOADABLE, defined before including this header, is for code that
 * will be dlclose()d (a plugin): each of its sections then clears the
 * thread's rseq_cs once it is left, so no thread keeps a pointer to a
 * descriptor about to be unmapped (the kernel reads rseq_cs at the
 * thread's next preemption, and since Linux 6.19 no longer clears it on
 * every return to user space).  One more store per operation.  Code built
 * without it can call pcpu_rseq_clear() on each thread instead.
 */
#ifdef PCPU_UNLOADABLE
#define __PCPU_RSEQ_DISARM() \
	(*(volatile uint64_t *)(__pcpu_rseq_area() + PCPU_RSEQ_CS_OFFSET) = 0)
#else
#define __PCPU_RSEQ_DISARM() ((void)0)
#endif

/*
 * Shared by the architectures' critical sections: the descriptor (struct
 * rseq_cs: version and flags 0, start at label 1, length up to the commit
 * at label 2, abort handler at label 4) in the __rseq_cs section, named by
 * label 3; and the delay-injection operand of PCPU_INJECT builds.
 */
#define __PCPU_RSEQ_CS_DESC                  \
	".pushsection __rseq_cs, \"aw\"\n\t" \
	".balign 32\n\t"                     \
	"3:\n\t"                             \
	".long 0x0, 0x0\n\t"                 \
	".quad 1f, (2f - 1f), 4f\n\t"        \
	".popsection\n\t"
#ifdef PCPU_INJECT
#define __PCPU_INJECT_IN(n) , [inj] "m"(pcpu_inject_spins[n])
#else
#define __PCPU_INJECT_IN(n)
#endif

/*
 * ThreadSanitizer cannot see inside an rseq critical section (inline
 * assembly), so a program built with it takes the atomic path, whose
 * ordering it models.
 */
#if defined(__SANITIZE_THREAD__)
#define PCPU_OPS_GENERIC 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PCPU_OPS_GENERIC 1
#endif
#endif

#if defined(__x86_64__) && !defined(PCPU_OPS_GENERIC)
#include "arch/x86_64.h"
#elif defined(__aarch64__) && !defined(PCPU_OPS_GENERIC)
#include "arch/aarch64.h"
#else
#include "arch/generic.h"
#endif

#ifndef PCPU_ARCH_GENERIC_H
/*
 * The C skeleton of every critical section, shared by the architectures
 * (each gives only its instructions: __PCPU_ASM_* in pcpu/arch/).  In C,
 * with cpu = the rseq field at pcpu_rseq_index (cpu_id or mm_cid) read
 * inside the section and
 * p = ptr + (cpu + 1) * pcpu_unit_stride, the operations are
 *	write:       *p = v
 *	add:         *p += v
 *	add_return:  res = *p + v; *p = res
 *	xchg:        old = *p; *p = v
 *	cmpxchg:     old = *p; if (old == expect) *p = v
 * the last store being the commit.  Results leave through memory, stored
 * before the commit (a restart stores again): an asm goto with register
 * outputs has no defined value on its abort edge, and some compilers
 * mishandle that.  To add an operation: one function here, and one
 * __PCPU_ASM_* string per architecture.
 */
#define __PCPU_CS(n, body, ...)                                      \
	__asm__ __volatile__ goto(__PCPU_CS_BEGIN body __PCPU_CS_END \
				  :                                  \
				  : __PCPU_CS_IN(n),                 \
				    __VA_ARGS__:__PCPU_CS_CLOBBER    \
				  : abort, slow)

#define __PCPU_DEFINE_OPS(N, T)                                                \
	static inline uint64_t __pcpu_write_##N(void *ptr, uint64_t v)         \
	{                                                                      \
		__PCPU_VT_##N val = (T)v;                                      \
		__PCPU_RSEQ_OP(                                                \
			0, pcpu_op_slow(ptr, N, PCPU_OP_WRITE, v, 0),          \
			__PCPU_CS(                                             \
				0,                                             \
				__PCPU_ASM_WRITE(N), [v] __PCPU_VC_##N(val))); \
	}                                                                      \
	static inline uint64_t __pcpu_add_##N(void *ptr, uint64_t v)           \
	{                                                                      \
		__PCPU_VT_##N val = (T)v;                                      \
		__PCPU_RSEQ_OP(                                                \
			0, pcpu_op_slow(ptr, N, PCPU_OP_ADD, v, 0),            \
			__PCPU_CS(1,                                           \
				  __PCPU_ASM_ADD(N), [v] __PCPU_VC_##N(val))); \
	}                                                                      \
	static inline uint64_t __pcpu_add_return_##N(void *ptr, uint64_t v)    \
	{                                                                      \
		__PCPU_VT_##N val = (T)v;                                      \
		T res;                                                         \
		__PCPU_RSEQ_OP(                                                \
			res, pcpu_op_slow(ptr, N, PCPU_OP_ADD_RETURN, v, 0),   \
			__PCPU_CS(2, __PCPU_ASM_ADD_RETURN(N),                 \
				  [v] __PCPU_VC_##N(val), [res] "m"(res)));    \
	}                                                                      \
	static inline uint64_t __pcpu_xchg_##N(void *ptr, uint64_t v)          \
	{                                                                      \
		__PCPU_VT_##N val = (T)v;                                      \
		T old;                                                         \
		__PCPU_RSEQ_OP(                                                \
			old, pcpu_op_slow(ptr, N, PCPU_OP_XCHG, v, 0),         \
			__PCPU_CS(3, __PCPU_ASM_XCHG(N),                       \
				  [v] __PCPU_VC_##N(val), [old] "m"(old)));    \
	}                                                                      \
	static inline uint64_t __pcpu_cmpxchg_##N(void *ptr, uint64_t o,       \
						  uint64_t v)                  \
	{                                                                      \
		__PCPU_VT_##N val = (T)v, expect = (T)o;                       \
		T old;                                                         \
		__PCPU_RSEQ_OP(                                                \
			old, pcpu_op_slow(ptr, N, PCPU_OP_CMPXCHG, v, o),      \
			__PCPU_CS(                                             \
				4,                                             \
				__PCPU_ASM_CMPXCHG(N), [v] __PCPU_VC_##N(val), \
				[expect] __PCPU_VC_##N(expect),                \
				[old] "m"(old)));                              \
	}

__PCPU_DEFINE_OPS(1, uint8_t)
__PCPU_DEFINE_OPS(2, uint16_t)
__PCPU_DEFINE_OPS(4, uint32_t)
__PCPU_DEFINE_OPS(8, uint64_t)

/*
 * __pcpu_add_indirect - add @v to the current CPU's copy of the per-CPU
 * pointer stored in *@word, unless *@word has a bit of @mask set.  *@word
 * is read inside the critical section, so a writer that sets a @mask bit
 * and then restarts every critical section (membarrier RSEQ) knows that no
 * add can land on a unit afterwards.  Return: true if added, false if a
 * @mask bit was set or rseq is not in use (the caller takes its atomic
 * path).
 */
static inline bool __pcpu_add_indirect(const uintptr_t *word, uintptr_t mask,
				       uint64_t v)
{
	__PCPU_RSEQ_OP(
		true, false,
		__asm__ __volatile__ goto(
			__PCPU_CS_ENTER __PCPU_ASM_ADD_INDIRECT __PCPU_CS_END
			:
			: __PCPU_CS_COMMON_IN, [word] "r"(word),
			  [mask] "r"(mask), [v] "r"(v)__PCPU_INJECT_IN(5)
			: __PCPU_CS_CLOBBER
			: abort, slow));
}

/*
 * __pcpu_add_return_at - add @v to the current CPU's copy of the 8-byte
 * object @ptr; *@res = its new value, *@at = the copy's address, both
 * written inside the critical section before the commit (a restart
 * writes them again).  The counters use it to fold the very copy the add
 * landed on, wherever the thread runs afterwards.  Return: true, or false
 * if rseq is not in use (nothing was added; take the atomic path).
 */
static inline bool __pcpu_add_return_at(void *ptr, uint64_t v, uint64_t *res,
					void **at)
{
	uint64_t r;
	void *a;

	__PCPU_RSEQ_OP((*res = r, *at = a, true), false,
		       __PCPU_CS(6, __PCPU_ADD_RETURN_AT_ASM, [v] "r"(v),
				 [res] "m"(r), [at] "m"(a)));
}
#endif

#ifdef __cplusplus
#define PCPU_SIZE_CHECK(p)                                            \
	static_assert(sizeof(*(p)) == 1 || sizeof(*(p)) == 2 ||       \
			      sizeof(*(p)) == 4 || sizeof(*(p)) == 8, \
		      "pcpu operations need 1, 2, 4 or 8-byte objects")
#else
#define PCPU_SIZE_CHECK(p)                                             \
	_Static_assert(sizeof(*(p)) == 1 || sizeof(*(p)) == 2 ||       \
			       sizeof(*(p)) == 4 || sizeof(*(p)) == 8, \
		       "pcpu operations need 1, 2, 4 or 8-byte objects")
#endif

/*
 * The object's type: the arithmetic operations take integers (and enums)
 * only; pcpu_write(), pcpu_xchg() and pcpu_cmpxchg() take pointers too
 * (they move the bits whole).  A float, a double, a struct or, for the
 * arithmetic, a pointer is a compile-time error: the operations work on
 * the integer bits, which would silently corrupt such values.
 * __builtin_classify_type (gcc, clang): 1 integer, 2 char, 3 enum,
 * 4 bool, 5 pointer.
 */
#ifdef __cplusplus
/* C++: the same classes from the type traits (g++ does not fold
 * __builtin_classify_type of an expression through a pointer) */
#define __PCPU_T(p) std::remove_cv_t<std::remove_reference_t<decltype(*(p))>>
#define __PCPU_IS_INT(p)                              \
	((std::is_integral<__PCPU_T(p)>::value &&     \
	  !std::is_same<__PCPU_T(p), bool>::value) || \
	 std::is_enum<__PCPU_T(p)>::value)
#define __PCPU_IS_BOOL_OR_PTR(p)                   \
	(std::is_same<__PCPU_T(p), bool>::value || \
	 std::is_pointer<__PCPU_T(p)>::value)
#else
#define __PCPU_CLASS(p) __builtin_classify_type(*(p))
#define __PCPU_IS_INT(p) \
	(__PCPU_CLASS(p) == 1 || __PCPU_CLASS(p) == 2 || __PCPU_CLASS(p) == 3)
#define __PCPU_IS_BOOL_OR_PTR(p) (__PCPU_CLASS(p) == 4 || __PCPU_CLASS(p) == 5)
#endif
#define __PCPU_TYPE_OK_add(p) __PCPU_IS_INT(p)
#define __PCPU_TYPE_OK_add_return(p) __PCPU_IS_INT(p)
#define __PCPU_TYPE_OK_write(p) (__PCPU_IS_INT(p) || __PCPU_IS_BOOL_OR_PTR(p))
#define __PCPU_TYPE_OK_xchg(p) __PCPU_TYPE_OK_write(p)
#define __PCPU_TYPE_OK_cmpxchg(p) __PCPU_TYPE_OK_write(p)
#ifdef __cplusplus
#define PCPU_TYPE_CHECK(op, p)                               \
	static_assert(__PCPU_TYPE_OK_##op(p),                \
		      "pcpu_" #op " needs an integer object" \
		      " (pointers: write, xchg, cmpxchg only)")
#else
#define PCPU_TYPE_CHECK(op, p)                                \
	_Static_assert(__PCPU_TYPE_OK_##op(p),                \
		       "pcpu_" #op " needs an integer object" \
		       " (pointers: write, xchg, cmpxchg only)")
#endif

/* Dispatch on the object's size, as the kernel's this_cpu ops do (a
 * statement expression, marked __extension__ so that user code built with
 * -Wpedantic stays quiet). */
#define __pcpu_dispatch(op, p, ...)                                      \
	__extension__({                                                  \
		PCPU_SIZE_CHECK(p);                                      \
		PCPU_TYPE_CHECK(op, p);                                  \
		uint64_t __r;                                            \
		switch (sizeof(*(p))) {                                  \
		case 1:                                                  \
			__r = __pcpu_##op##_1((void *)(p), __VA_ARGS__); \
			break;                                           \
		case 2:                                                  \
			__r = __pcpu_##op##_2((void *)(p), __VA_ARGS__); \
			break;                                           \
		case 4:                                                  \
			__r = __pcpu_##op##_4((void *)(p), __VA_ARGS__); \
			break;                                           \
		default:                                                 \
			__r = __pcpu_##op##_8((void *)(p), __VA_ARGS__); \
			break;                                           \
		}                                                        \
		(__typeof__(*(p)))__r;                                   \
	})

#define __pcpu_u64(v) ((uint64_t)(v))

/**
 * pcpu_read - the calling CPU's copy of *@ptr
 * pcpu_write - set the calling CPU's copy
 * pcpu_add, pcpu_sub, pcpu_inc, pcpu_dec - update the calling CPU's copy
 * pcpu_add_return - add, and return the new value of that copy
 * pcpu_xchg - store, and return the old value of that copy
 * pcpu_cmpxchg - store @new if the copy equals @old; return what it held
 *
 * Ordering: on the rseq path a copy is only ever updated from its own
 * CPU, so the CPU orders its updates.  On the atomic path several CPUs
 * may share a copy: pcpu_write() is then a release, pcpu_xchg() and
 * pcpu_cmpxchg() acquire and release (an object handed over through a
 * copy arrives whole), the additions are relaxed, and pcpu_read() is a
 * relaxed atomic load (it never tears).
 */
#define pcpu_read(ptr) \
	__atomic_load_n(pcpu_ptr((ptr), pcpu_cpu()), __ATOMIC_RELAXED)
#define pcpu_write(ptr, v) ((void)__pcpu_dispatch(write, ptr, __pcpu_u64(v)))
#define pcpu_add(ptr, v) ((void)__pcpu_dispatch(add, ptr, __pcpu_u64(v)))
#define pcpu_sub(ptr, v) pcpu_add(ptr, -__pcpu_u64(v))
#define pcpu_inc(ptr) pcpu_add(ptr, 1)
#define pcpu_dec(ptr) pcpu_add(ptr, -1)
#define pcpu_add_return(ptr, v) __pcpu_dispatch(add_return, ptr, __pcpu_u64(v))
#define pcpu_xchg(ptr, v) __pcpu_dispatch(xchg, ptr, __pcpu_u64(v))
#define pcpu_cmpxchg(ptr, old, new) \
	__pcpu_dispatch(cmpxchg, ptr, __pcpu_u64(old), __pcpu_u64(new))

#endif /* PCPU_OPS_H */
