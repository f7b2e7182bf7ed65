// SPDX-License-Identifier: MIT
/*
 * sanitize.c - poisoning of freed per-CPU areas for AddressSanitizer and
 * valgrind's memcheck (see sanitize.h): which units of an area to mark,
 * on top of the marking primitives of track.h.
 */
#include "sanitize.h"

#include "percpu-internal.h"

#include <stdint.h>

struct pcpu_san_ctx {
	char *base; /* the chunk */
	size_t off, end; /* the object's bytes inside a unit */
	bool live;
};

/* Mark the object's bytes that lie in the unit pages [start, end). */
static void pcpu_san_mark_pages(char *start, char *end, void *arg)
{
	struct pcpu_san_ctx *ctx = arg;
	size_t umask = pcpu_geo.unit_size - 1;
	char *page;

	for (page = start; page < end; page += pcpu_geo.page_size) {
		size_t in_unit = (size_t)(page - ctx->base) & umask;
		size_t lo = in_unit > ctx->off ? in_unit : ctx->off;
		size_t hi = in_unit + pcpu_geo.page_size < ctx->end
				    ? in_unit + pcpu_geo.page_size
				    : ctx->end;

		if (lo < hi)
			pcpu_track_mark(page - in_unit + lo, hi - lo,
					ctx->live);
	}
}

/*
 * Mark the object at per-CPU pointer @ptr in every unit: only in the pages
 * that exist when @present_only (ASan: the shadow of the others is clear
 * and stays so, and touching it would cost memory), in all pages otherwise.
 * If the kernel cannot say which pages exist, an unpoisoning visits all
 * pages and a poisoning none.
 */
static void pcpu_san_mark_units(char *ptr, size_t size, bool live,
				bool present_only)
{
	char *base = pcpu_unit_base(ptr);
	size_t off = (size_t)(ptr - base), pmask = pcpu_geo.page_size - 1;
	struct pcpu_san_ctx ctx = {base, off, off + size, live};
	char *first = base + pcpu_geo.unit_size + (off & ~pmask);
	char *last = base + (size_t)pcpu_geo.nr_units * pcpu_geo.unit_size +
		     ((off + size + pmask) & ~pmask);
	unsigned int u;

	if (present_only &&
	    !pcpu_os_scan_for_checker(first, (size_t)(last - first),
				      pcpu_san_mark_pages, &ctx))
		return;
	if (present_only && !live)
		return;
	for (u = 1; u <= pcpu_geo.nr_units; u++)
		pcpu_track_mark(base + (size_t)u * pcpu_geo.unit_size + off,
				size, live);
}

/**
 * pcpu_san_alloc - an object was handed out: its bytes are live in every
 * unit
 * @ptr: the per-CPU pointer
 * @size: the size asked for (the area's rounding stays poisoned where it
 *        was)
 * @nowait: from pcpu_alloc_nowait(), which makes no system call: every
 *          unit is unpoisoned instead of asking which pages exist
 *
 * Context: any; the area is the caller's.  Under ASan, one system call
 * unless @nowait.
 */
void pcpu_san_alloc(char *ptr, size_t size, bool nowait)
{
	pcpu_san_mark_units(ptr, size, true, PCPU_ASAN && !nowait);
}

/**
 * pcpu_san_free - an object is being freed: poison it
 * @ptr: the per-CPU pointer
 * @size: the area's size
 *
 * Under ASan only the units whose pages exist are poisoned (one system
 * call says which); under valgrind, every unit.
 *
 * Context: pcpu_g.lock, before the area is marked dirty (so neither the
 * cleaner nor a new allocation can be working on it).
 */
void pcpu_san_free(char *ptr, size_t size)
{
	pcpu_san_mark_units(ptr, size, false, PCPU_ASAN);
}

/**
 * pcpu_san_forget - pages are about to be zapped or given back: clear
 * their poison (ASan; valgrind follows munmap itself)
 * @ptr: a per-CPU pointer to the first byte of the range
 * @size: bytes of each unit
 *
 * Context: pcpu_g.alloc_mutex; one system call under ASan.
 */
void pcpu_san_forget(char *ptr, size_t size)
{
	if (PCPU_ASAN)
		pcpu_san_mark_units(ptr, size, true, true);
}

/**
 * pcpu_san_open - let the cleaner read and clear dirty bytes of one unit
 * @addr: the bytes
 * @len: their length
 *
 * Context: the cleaner, on a dirty area.
 */
void pcpu_san_open(char *addr, size_t len)
{
	pcpu_track_mark(addr, len, true);
}

/**
 * pcpu_san_close - the cleaner is done with bytes it opened: poisoned
 * again, as free memory is
 * @addr: the bytes
 * @len: their length
 *
 * Context: the cleaner.
 */
void pcpu_san_close(char *addr, size_t len)
{
	pcpu_track_mark(addr, len, false);
}
