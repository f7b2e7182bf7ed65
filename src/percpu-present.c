// SPDX-License-Identifier: MIT
/*
 * percpu-present.c - the present-unit walk: which units of a per-CPU
 * object may hold something other than zero.
 *
 * A unit page that was never touched reads zero, and reading it would
 * allocate it (design decision 3); so whatever must look at every unit
 * (counter sums and sets, ref switches) asks the kernel, through one
 * presence scan, which unit pages exist, and visits only those units.
 * Owns nothing but this walk; used by counter.c and ref.c.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <pcpu/read.h>

#include "percpu-internal.h"

struct pcpu_present_ctx {
	char *base;
	size_t first, last; /* page offsets of the object inside a unit */
	long last_unit;
	void (*fn)(unsigned int unit, void *arg);
	void *arg;
};

static void pcpu_present_page(char *start, char *end, void *arg)
{
	struct pcpu_present_ctx *ctx = arg;
	char *page;

	for (page = start; page < end; page += pcpu_geo.page_size) {
		size_t off = (size_t)(page - ctx->base);
		size_t in_unit = off & (pcpu_geo.unit_size - 1);
		long unit = (long)(off / pcpu_geo.unit_size) - 1;

		if (unit < 0 || in_unit < ctx->first || in_unit > ctx->last ||
		    unit == ctx->last_unit)
			continue;
		ctx->last_unit = unit;
		ctx->fn((unsigned int)unit, ctx->arg);
	}
}

/* @ptr, @size describe an object inside one unit; errno EINVAL if not. */
static bool pcpu_object_span_ok(const void *ptr, size_t size)
{
	size_t in_unit;

	if (!ptr || pcpu_ensure_init())
		goto bad;
	in_unit = (uintptr_t)ptr & (pcpu_geo.unit_size - 1);
	if (size && size <= pcpu_geo.unit_size - in_unit)
		return true;
bad:
	errno = EINVAL;
	return false;
}

/**
 * pcpu_for_each_present_unit - call @fn for each unit whose copy of
 * [@ptr, @ptr + @size) may hold something other than zero
 * @ptr: a per-CPU pointer
 * @size: the object's size
 * @fn: called once per such unit, in unit order
 * @arg: passed to @fn
 *
 * A unit page that was never touched reads zero, and reading it would
 * allocate it (design decision 3), so units whose pages do not exist are
 * skipped without being read; the kernel says which exist (one
 * PAGEMAP_SCAN or pagemap read).  If it cannot say, every unit is visited.
 * @fn may read the unit's copy (pcpu_read_unit()), not free @ptr.
 * A NULL @ptr, a @size of 0 or one reaching past the unit set errno to
 * EINVAL and visit nothing.
 *
 * Context: any thread (not a signal handler); one system call.
 */
void pcpu_for_each_present_unit(const void *ptr, size_t size,
				void (*fn)(unsigned int unit, void *arg),
				void *arg)
{
	char *p = (char *)ptr, *base;
	size_t pmask, off;
	struct pcpu_present_ctx ctx;
	unsigned int u;

	if (!pcpu_object_span_ok(ptr, size))
		return;
	base = pcpu_unit_base(p);
	pmask = pcpu_geo.page_size - 1;
	off = (size_t)(p - base);
	ctx = (struct pcpu_present_ctx){
		base, off & ~pmask, (off + size - 1) & ~pmask, -1, fn, arg};
	if (!pcpu_os_scan_present(
		    base + pcpu_geo.unit_size + ctx.first,
		    (size_t)(pcpu_geo.nr_units - 1) * pcpu_geo.unit_size +
			    ctx.last - ctx.first + pcpu_geo.page_size,
		    pcpu_present_page, &ctx))
		return;
	for (u = 0; u < pcpu_geo.nr_units; u++)
		fn(u, arg);
}

struct pcpu_sum_ctx {
	const char *ptr;
	size_t size;
	int is_signed;
	int64_t sum;
};

/* One copy, of @bits bits, widened as signed or unsigned. */
#define PCPU_LOAD_WIDE(p, bits, is_signed)                                    \
	((is_signed) ? (int64_t)(int##bits##_t)__atomic_load_n(               \
			       (const uint##bits##_t *)(p), __ATOMIC_RELAXED) \
		     : (int64_t)__atomic_load_n((const uint##bits##_t *)(p),  \
						__ATOMIC_RELAXED))

static void pcpu_sum_unit(unsigned int unit, void *arg)
{
	struct pcpu_sum_ctx *c = arg;
	const char *p = c->ptr + (size_t)(unit + 1) * pcpu_geo.unit_size;
	int64_t v;

	switch (c->size) {
	case 1:
		v = PCPU_LOAD_WIDE(p, 8, c->is_signed);
		break;
	case 2:
		v = PCPU_LOAD_WIDE(p, 16, c->is_signed);
		break;
	case 4:
		v = PCPU_LOAD_WIDE(p, 32, c->is_signed);
		break;
	default:
		v = PCPU_LOAD_WIDE(p, 64, 0);
	}
	c->sum = (int64_t)((uint64_t)c->sum + (uint64_t)v); /* wraps */
}

/**
 * pcpu_unit_sum - the sum of a per-CPU integer's copies (pcpu_sum())
 * @ptr: a per-CPU pointer to an integer of @size bytes
 * @size: 1, 2, 4 or 8
 * @is_signed: whether the integer is signed (the copies are widened so)
 *
 * Visits the units whose page of the object exists only, each copy read
 * with one relaxed atomic load.
 *
 * Context: any thread (not a signal handler); one system call.
 * Return: the sum, as a 64-bit integer (pcpu_sum() narrows it to the
 * object's type); 0 with errno EINVAL for a @size other than 1, 2, 4, 8
 * or a NULL @ptr.
 */
int64_t pcpu_unit_sum(const void *ptr, size_t size, int is_signed)
{
	struct pcpu_sum_ctx c = {ptr, size, is_signed, 0};

	if ((size != 1 && size != 2 && size != 4 && size != 8) ||
	    !pcpu_object_span_ok(ptr, size)) {
		errno = EINVAL;
		return 0;
	}
	pcpu_for_each_present_unit(ptr, size, pcpu_sum_unit, &c);
	return c.sum;
}
