/* SPDX-License-Identifier: MIT */
/*
 * pcpu.h - libpcpu, dynamic per-CPU memory for userspace.
 *
 * pcpu_alloc() returns a per-CPU pointer: an object that exists once per
 * CPU (per "unit").  The pointer itself is not dereferenceable (it points
 * into a guard region and faults); pcpu_ptr(p, cpu) is CPU @cpu's copy.
 * Memory handed out reads zero in every unit.
 */
#ifndef PCPU_H
#define PCPU_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The release these headers belong to (CHANGELOG.md). */
#define PCPU_VERSION_MAJOR 0
#define PCPU_VERSION_MINOR 2
#define PCPU_VERSION_PATCH 0
/* One number that orders releases: PCPU_VERSION_NUMBER(0, 2, 0). */
#define PCPU_VERSION_NUMBER(major, minor, patch) \
	(((major) << 16) | ((minor) << 8) | (patch))
#define PCPU_VERSION                                                \
	PCPU_VERSION_NUMBER(PCPU_VERSION_MAJOR, PCPU_VERSION_MINOR, \
			    PCPU_VERSION_PATCH)

#if defined(__GNUC__)
#define PCPU_API __attribute__((visibility("default")))
#else
#define PCPU_API
#endif

/**
 * struct pcpu_config - allocator settings for pcpu_init()
 * @unit_size: bytes per unit, a power of two >= the page size; caps the
 *             largest allocation (0: PCPU_UNIT_SIZE, else 64 KiB)
 * @nr_units: units per chunk (0: PCPU_NR_UNITS, else the possible CPUs)
 * @balance: 1 run the balance work on a background thread, 0 only in
 *           pcpu_balance(), -1 PCPU_BALANCE (default 1)
 * @strict: 1 guard unpopulated pages so stray accesses fault, 0 not,
 *          -1 PCPU_STRICT (default 0; 1 in PCPU_DEBUG builds)
 * @show_stats: at exit, on stderr: 1 the status lines and a summary of
 *              the statistics, 2 every statistic (per chunk too, the
 *              kernel's layout), 0 nothing, -1 PCPU_SHOW_STATS (default 0)
 * @index: what numbers the units the this-CPU operations use:
 *         PCPU_INDEX_CPU the CPU, PCPU_INDEX_CID the kernel's concurrency
 *         ID (mm_cid: memory grows with min(threads, CPUs) copies however
 *         threads roam; Linux 6.3+), PCPU_INDEX_AUTO the concurrency ID
 *         on one NUMA node and the CPU on several, -1 PCPU_INDEX
 *         (cpu, cid or auto; default auto).  Without mm_cid from the
 *         kernel it is the CPU, and the status line says why.
 *
 * Start from pcpu_config_init(), which sets every field to "the
 * environment, else the default", and change what you need.
 */
struct pcpu_config {
	size_t unit_size;
	unsigned int nr_units;
	int balance;
	int strict;
	int show_stats;
	int index;
};

#define PCPU_INDEX_CPU 0
#define PCPU_INDEX_CID 1
#define PCPU_INDEX_AUTO 2

/* Fill @cfg with "use the environment, else the defaults". */
static inline void pcpu_config_init(struct pcpu_config *cfg)
{
	cfg->unit_size = 0;
	cfg->nr_units = 0;
	cfg->balance = -1;
	cfg->strict = -1;
	cfg->show_stats = -1;
	cfg->index = -1;
}

PCPU_API unsigned int pcpu_version(void);
PCPU_API int pcpu_init(const struct pcpu_config *cfg);
PCPU_API void *pcpu_alloc(size_t size, size_t align);
PCPU_API void *pcpu_alloc_nowait(size_t size, size_t align);
PCPU_API void pcpu_free(void *ptr);
PCPU_API unsigned int pcpu_nr_units(void);
PCPU_API size_t pcpu_unit_size(void);
PCPU_API void pcpu_balance(void);

/**
 * pcpu_alloc_type - allocate one per-CPU object of type @T
 * pcpu_alloc_array - allocate a per-CPU array of @n objects of type @T
 *
 * Size and alignment come from the type; the result has type T *.
 * pcpu_alloc_array() fails with EINVAL when n * sizeof(T) overflows or
 * exceeds pcpu_unit_size(), as pcpu_alloc() does for a size too large.
 * Example: struct stats *s = pcpu_alloc_type(struct stats);
 */
#define pcpu_alloc_type(T) ((T *)pcpu_alloc(sizeof(T), __alignof__(T)))
#define pcpu_alloc_array(T, n) \
	((T *)__pcpu_alloc_array((n), sizeof(T), __alignof__(T)))

/* pcpu_alloc_array()'s size check: @n objects of @size bytes. */
static inline void *__pcpu_alloc_array(size_t n, size_t size, size_t align)
{
	if (n && size > (size_t)-1 / n)
		return pcpu_alloc((size_t)-1, align); /* EINVAL */
	return pcpu_alloc(n * size, align);
}

/*
 * The variables the inline code reads (the unit stride here, the rseq
 * limit and index in <pcpu/ops.h>, the fork generation and the default
 * batch in <pcpu/counter.h>) belong to libpcpu, which sets them: at
 * start-up, at a switch to atomic operations, in a forked child.  No
 * header declares them at file scope, so a program cannot write them:
 * each is reached through an inline reader that names it in a block-scope
 * declaration.  They are not declared const for users either: a compiler
 * takes a const object's value as fixed and may load it once, before the
 * call that starts the allocator (gcc and clang hoist it out of a loop of
 * pcpu_alloc() and pcpu_ptr() so).  Internal, not for direct use.
 */
#if defined(__GNUC__) && !defined(__clang__) && !defined(__cplusplus)
#define __PCPU_VARS_BEGIN              \
	_Pragma("GCC diagnostic push") \
		_Pragma("GCC diagnostic ignored \"-Wnested-externs\"")
#define __PCPU_VARS_END _Pragma("GCC diagnostic pop")
#else
#define __PCPU_VARS_BEGIN
#define __PCPU_VARS_END
#endif
#define __PCPU_INLINE static inline __attribute__((always_inline))

__PCPU_VARS_BEGIN
/* The distance between two units, set by the allocator's start-up. */
__PCPU_INLINE size_t __pcpu_unit_stride(void)
{
	extern PCPU_API size_t pcpu_unit_stride;

	return pcpu_unit_stride;
}
__PCPU_VARS_END

/**
 * pcpu_ptr - CPU @unit's copy of the per-CPU object @ptr
 * @ptr: a per-CPU pointer from pcpu_alloc()
 * @unit: the unit (CPU) number, < pcpu_nr_units()
 *
 * One multiply-add; the result has @ptr's type.
 */
#define pcpu_ptr(ptr, unit)                \
	((__typeof__(ptr))((char *)(ptr) + \
			   ((size_t)(unit) + 1) * __pcpu_unit_stride()))

#ifdef __cplusplus
}
#endif

#include "pcpu/stats.h"

#endif /* PCPU_H */
