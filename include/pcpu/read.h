/* SPDX-License-Identifier: MIT */
/*
 * pcpu/read.h - the reader side: walk the units, sum a per-CPU integer,
 * read one unit's copy, without touching the memory of idle CPUs.
 *
 * A unit page that was never written does not exist; reading it would
 * make the kernel allocate it (or map its zero page), so a reader that
 * loops over every unit makes idle CPUs cost memory.  The helpers here
 * visit only the units whose pages exist for the object, asking the
 * kernel once (one PAGEMAP_SCAN or pagemap read per call), and read each
 * copy with one relaxed atomic load, which never tears.
 *
 * When a plain load of another unit's copy is fine: after the writers
 * are done and the reader synchronized with them (a join, a lock, a
 * release/acquire pair), or for data only the reader's thread writes.
 * While this-CPU operations run, read with pcpu_read_unit() or
 * pcpu_sum(): the copy is written by its own CPU at any moment.
 */
#ifndef PCPU_READ_H
#define PCPU_READ_H

#include <stddef.h>
#include <stdint.h>

#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

PCPU_API void pcpu_for_each_present_unit(const void *ptr, size_t size,
					 void (*fn)(unsigned int unit,
						    void *arg),
					 void *arg);
PCPU_API int64_t pcpu_unit_sum(const void *ptr, size_t size, int is_signed);

#ifdef __cplusplus
}
#endif

/**
 * pcpu_for_each_unit - iterate @u over every unit, 0 to pcpu_nr_units() - 1
 *
 * Every unit, idle CPUs' too: to write or to read every copy, use it only
 * where touching every unit is meant (initial values, a final check).
 */
#define pcpu_for_each_unit(u) for ((u) = 0; (u) < pcpu_nr_units(); (u)++)

/**
 * pcpu_read_unit - unit @unit's copy of the per-CPU integer *@ptr, read
 * tear-free (one relaxed atomic load) while its CPU may update it
 */
#define pcpu_read_unit(ptr, unit) \
	__atomic_load_n(pcpu_ptr((ptr), (unit)), __ATOMIC_RELAXED)

/**
 * pcpu_sum - the sum of every unit's copy of the per-CPU integer *@ptr
 *
 * Visits only the units whose page of the object exists (the others read
 * zero and are not touched); each copy is read tear-free.  The sum wraps
 * in the object's type, as the adds do: a counter of u32 adds sums modulo
 * 2^32.  Not a snapshot: copies updated during the walk may or may not be
 * counted.
 *
 * Return: the sum, of *@ptr's type.
 */
#define pcpu_sum(ptr)                                                    \
	__extension__({                                                  \
		PCPU_SIZE_CHECK(ptr);                                    \
		PCPU_TYPE_CHECK(add, ptr);                               \
		(__typeof__(*(ptr)))pcpu_unit_sum(                       \
			(ptr), sizeof(*(ptr)),                           \
			(__typeof__(*(ptr)))~0 < (__typeof__(*(ptr)))1); \
	})

#endif /* PCPU_READ_H */
