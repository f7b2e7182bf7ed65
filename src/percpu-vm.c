// SPDX-License-Identifier: MIT
/*
 * percpu-vm.c - the VM chunk backend: chunks are address-space
 * reservations, populated and depopulated with madvise().
 *
 * A chunk is one read-write MAP_NORESERVE mapping of (nr_units + 1) units
 * for its whole life.  The first unit is the guard that per-CPU pointers
 * point into; unit u (CPU u) starts at base + (u + 1) * unit_size.
 *
 * In userspace the kernel already backs anonymous memory lazily, page by
 * page, on first touch.  So "populating" a page range is, by default,
 * bookkeeping: nothing is touched, and a unit page costs RAM only once its
 * CPU (or the program) writes it.  In strict mode (PCPU_STRICT=1, and debug
 * builds) unpopulated pages are guard regions, so populating removes the
 * guards and a stray access to an unpopulated page faults.  Depopulating
 * always gives the memory back (MADV_DONTNEED, or a guard install, which
 * zaps too).  Neither ever changes the number of mappings of the process.
 *
 * Like the kernel's backend, this file never edits the allocator's
 * bookkeeping: the core marks pages populated after these functions
 * succeed.
 */
#include <errno.h>
#include <stdlib.h>

#include "percpu-internal.h"
#include "sanitize.h"
#include "trace.h"

static int pcpu_page_idx(unsigned int unit, int page)
{
	return (int)unit * pcpu_geo.unit_pages + page;
}

static char *pcpu_chunk_addr(const struct pcpu_chunk *chunk, unsigned int unit,
			     int page)
{
	return chunk->base_addr + (size_t)(unit + 1) * pcpu_geo.unit_size +
	       ((size_t)page << pcpu_geo.page_shift);
}

/* Pages [page_start, page_end) of every unit, as one strided range. */
static struct pcpu_os_range pcpu_unit_range(const struct pcpu_chunk *chunk,
					    int page_start, int page_end)
{
	struct pcpu_os_range r = {
		.addr = pcpu_chunk_addr(chunk, 0, page_start),
		.len = (size_t)(page_end - page_start) << pcpu_geo.page_shift,
		.stride = pcpu_geo.unit_size,
		.count = pcpu_geo.nr_units,
	};

	return r;
}

/**
 * pcpu_get_pages - get the temp pages array
 *
 * The one array of nr_units * unit_pages entries, indexed by
 * pcpu_page_idx(), that carries what pcpu_alloc_pages() did to
 * pcpu_map_pages(), and what pcpu_unmap_pages() did to pcpu_free_pages().
 *
 * Context: pcpu_g.alloc_mutex, which serializes every user of the array.
 * Return: the array (allocated at start-up; never NULL once initialized).
 */
void **pcpu_get_pages(void)
{
	lockdep_assert_held_mutex();
	return pcpu_g.pages;
}

/**
 * pcpu_free_pages - release what pcpu_alloc_pages() recorded for @chunk
 * @chunk: chunk pages were allocated for
 * @pages: array of pages to be freed, indexed by pcpu_page_idx()
 * @page_start: page index of the first page to be freed
 * @page_end: page index of the last page to be freed + 1
 *
 * Forgets the unit pages [@page_start, @page_end) of every unit.  The
 * memory itself is returned by pcpu_unmap_pages(), which runs first.
 *
 * Context: pcpu_g.alloc_mutex.
 */
void pcpu_free_pages(struct pcpu_chunk *chunk, void **pages, int page_start,
		     int page_end)
{
	unsigned int unit;
	int i;

	lockdep_assert_held_mutex();
	(void)chunk;
	for (unit = 0; unit < pcpu_geo.nr_units; unit++)
		for (i = page_start; i < page_end; i++)
			pages[pcpu_page_idx(unit, i)] = NULL;
}

/**
 * pcpu_alloc_pages - allocate the unit pages [@page_start, @page_end)
 * @chunk: target chunk
 * @pages: array to put the allocated pages into, indexed by pcpu_page_idx()
 * @page_start: page index of the first page to be allocated
 * @page_end: page index of the last page to be allocated + 1
 *
 * Records the address of every unit page of the range in @pages for
 * pcpu_map_pages().  Anonymous memory is committed by the kernel on first
 * touch (the chunk is MAP_NORESERVE), and the NUMA policy of each unit was
 * set when the chunk was created, so nothing is committed here: that is
 * what keeps the pages of CPUs that never run the program free.
 *
 * Context: pcpu_g.alloc_mutex.
 * Return: 0.
 */
int pcpu_alloc_pages(struct pcpu_chunk *chunk, void **pages, int page_start,
		     int page_end)
{
	unsigned int unit;
	int i;

	lockdep_assert_held_mutex();
	for (unit = 0; unit < pcpu_geo.nr_units; unit++)
		for (i = page_start; i < page_end; i++)
			pages[pcpu_page_idx(unit, i)] =
				pcpu_chunk_addr(chunk, unit, i);
	return 0;
}

/**
 * pcpu_pre_unmap_flush - flush cache prior to unmapping
 * @chunk: chunk the regions to be flushed belongs to
 * @page_start: page index of the first page to be flushed
 * @page_end: page index of the last page to be flushed + 1
 *
 * Called once for the whole region before pcpu_unmap_pages().  Userspace
 * on cache-coherent hardware has no cache maintenance to do; the kernel's
 * hook is kept so the sequence reads as the kernel's.  (The memory
 * checkers' shadow is cleared by pcpu_depopulate_chunk() itself.)
 *
 * Context: pcpu_g.alloc_mutex.
 */
void pcpu_pre_unmap_flush(struct pcpu_chunk *chunk, int page_start,
			  int page_end)
{
	lockdep_assert_held_mutex();
	(void)chunk;
	(void)page_start;
	(void)page_end;
}

/* Unmap pages [page_start, page_end) of every unit; see pcpu_unmap_pages. */
static int __pcpu_unmap_pages(struct pcpu_chunk *chunk, int page_start,
			      int page_end)
{
	struct pcpu_os_range r = pcpu_unit_range(chunk, page_start, page_end);

	if (pcpu_geo.strict)
		return pcpu_os_guard(&r);
	return pcpu_os_zap(&r);
}

/**
 * pcpu_unmap_pages - unmap pages out of a pcpu_chunk
 * @chunk: chunk of interest
 * @pages: pages array which can be used to pass information to free
 * @page_start: page index of the first page to unmap
 * @page_end: page index of the last page to unmap + 1
 *
 * For each unit, gives the memory of pages [@page_start, @page_end) back
 * to the system: MADV_DONTNEED (the pages stay mapped and read back zero),
 * or in strict mode a guard install (they fault).  All units go in one
 * call when the kernel allows it (a full unit range is contiguous across
 * units; otherwise process_madvise() on ourselves), since each call costs
 * a TLB shootdown.  A failure leaves pages populated but zero (the core
 * only depopulates pages with no allocation in them, and free areas are
 * zero in every unit), so it is harmless and only counted.
 *
 * Context: pcpu_g.alloc_mutex.
 */
void pcpu_unmap_pages(struct pcpu_chunk *chunk, void **pages, int page_start,
		      int page_end)
{
	lockdep_assert_held_mutex();
	(void)pages;
	(void)__pcpu_unmap_pages(chunk, page_start, page_end);
}

/**
 * pcpu_post_unmap_tlb_flush - flush TLB after unmapping
 * @chunk: pcpu_chunk the regions to be flushed belong to
 * @page_start: page index of the first page to be flushed
 * @page_end: page index of the last page to be flushed + 1
 *
 * madvise() flushes the TLB itself; nothing is left to do.  Kept as the
 * hook the reclaim path calls once per chunk, as the kernel does.
 *
 * Context: pcpu_g.alloc_mutex.
 */
void pcpu_post_unmap_tlb_flush(struct pcpu_chunk *chunk, int page_start,
			       int page_end)
{
	lockdep_assert_held_mutex();
	(void)chunk;
	(void)page_start;
	(void)page_end;
}

/**
 * pcpu_map_pages - map pages into a pcpu_chunk
 * @chunk: chunk of interest
 * @pages: pages array containing pages to be mapped
 * @page_start: page index of the first page to map
 * @page_end: page index of the last page to map + 1
 *
 * For each unit, makes pages [@page_start, @page_end) usable.  By default
 * they already are (mapped read-write, untouched, reading zero), so this is
 * free.  In strict mode it removes the guards, for all units in as few
 * calls as the kernel allows; if that fails midway, every unit is guarded
 * again, the failing one included, and the error returned.
 *
 * NUMA placement is set for each unit when the chunk is created (a policy
 * set here, per unit and per populate, would split the chunk's mapping),
 * and the reverse lookup (address -> chunk) is per chunk too: per-CPU
 * pointers point into the guard unit, which is never mapped, so it is
 * registered once by the core when the chunk is created.
 *
 * Context: pcpu_g.alloc_mutex.
 * Return: 0, or a negative errno with no unit of the range accessible.
 */
int pcpu_map_pages(struct pcpu_chunk *chunk, void **pages, int page_start,
		   int page_end)
{
	struct pcpu_os_range r;
	int ret;

	lockdep_assert_held_mutex();
	(void)pages;
	if (!pcpu_geo.strict)
		return 0;
	r = pcpu_unit_range(chunk, page_start, page_end);
	ret = pcpu_os_unguard(&r);
	if (ret)
		(void)__pcpu_unmap_pages(chunk, page_start, page_end);
	return ret;
}

/**
 * pcpu_post_map_flush - flush cache after mapping
 * @chunk: pcpu_chunk the regions to be flushed belong to
 * @page_start: page index of the first page to be flushed
 * @page_end: page index of the last page to be flushed + 1
 *
 * Called once for the whole region after pcpu_map_pages().  Nothing to do
 * on cache-coherent hardware; the kernel's hook is kept so the sequence
 * reads as the kernel's.
 *
 * Context: pcpu_g.alloc_mutex.
 */
void pcpu_post_map_flush(struct pcpu_chunk *chunk, int page_start, int page_end)
{
	lockdep_assert_held_mutex();
	(void)chunk;
	(void)page_start;
	(void)page_end;
}

/**
 * pcpu_populate_chunk - populate and map an area of a pcpu_chunk
 * @chunk: chunk of interest
 * @page_start: the start page
 * @page_end: the end page
 *
 * For each unit, populate and map pages [@page_start, @page_end) into
 * @chunk.  All or nothing: on failure no unit page of the range is left
 * accessible that was not before.  The caller marks the pages populated.
 *
 * Context: pcpu_g.alloc_mutex; makes system calls only in strict mode.
 * Return: 0, or a negative errno (-ENOMEM, or what the kernel said).
 */
int pcpu_populate_chunk(struct pcpu_chunk *chunk, int page_start, int page_end)
{
	void **pages = pcpu_get_pages();
	int ret;

	lockdep_assert_held_mutex();
	ret = pcpu_alloc_pages(chunk, pages, page_start, page_end);
	if (ret)
		return ret;
	ret = pcpu_map_pages(chunk, pages, page_start, page_end);
	if (ret) {
		pcpu_free_pages(chunk, pages, page_start, page_end);
		return ret;
	}
	pcpu_post_map_flush(chunk, page_start, page_end);
	pcpu_trace3(percpu_populate, chunk->base_addr, page_start, page_end);
	return 0;
}

/**
 * pcpu_depopulate_chunk - depopulate and unmap an area of a pcpu_chunk
 * @chunk: chunk to depopulate
 * @page_start: the start page
 * @page_end: the end page
 *
 * For each unit, depopulate and unmap pages [@page_start, @page_end) from
 * @chunk: the memory goes back to the system.  The range must hold no
 * allocation.  The TLB flush hook, pcpu_post_unmap_tlb_flush(), is left to
 * the caller so that a reclaim pass calls it once per chunk.
 *
 * Context: pcpu_g.alloc_mutex.
 */
void pcpu_depopulate_chunk(struct pcpu_chunk *chunk, int page_start,
			   int page_end)
{
	void **pages = pcpu_get_pages();

	lockdep_assert_held_mutex();
	if (pcpu_san_active())
		pcpu_san_forget(chunk->base_addr + ((size_t)page_start
						    << pcpu_geo.page_shift),
				(size_t)(page_end - page_start)
					<< pcpu_geo.page_shift);
	pcpu_pre_unmap_flush(chunk, page_start, page_end);
	pcpu_unmap_pages(chunk, pages, page_start, page_end);
	pcpu_free_pages(chunk, pages, page_start, page_end);
	pcpu_trace3(percpu_depopulate, chunk->base_addr, page_start, page_end);
}

/*
 * NUMA placement is by first touch unless PCPU_NUMA=bind: the chunk keeps
 * the default (local) policy, so a unit page lands on the node of the CPU
 * that first writes it, which is the unit's own CPU for this-CPU
 * operations; and the chunk stays one mapping.  A policy per node's run of
 * units (PCPU_NUMA=bind) also places pages that another CPU touches first,
 * but the kernel keeps one policy per mapping, so each run costs a mapping
 * of its own: 2-4 mappings a chunk instead of 1-2 on a two-node host.
 *
 * Either way placement is a preference: a kernel or seccomp profile that
 * refuses mbind() (EPERM, ENOSYS, EINVAL...) turns binding off for the
 * rest of the process, and pages land where they are first touched.  Only
 * the kernel running out of memory fails the chunk.
 */
static bool pcpu_bind_oom(int ret)
{
	return ret == -ENOMEM || ret == -EAGAIN;
}

/* Set each unit's NUMA policy, one call per run of units on one node. */
static int pcpu_chunk_bind(struct pcpu_chunk *chunk)
{
	unsigned int u, start;
	int ret;

	if (!pcpu_geo.numa_bind || !pcpu_geo.unit_node ||
	    pcpu_g.numa_fallback_err)
		return 0;
	for (start = 0; start < pcpu_geo.nr_units; start = u) {
		int node = pcpu_geo.unit_node[start];

		for (u = start + 1;
		     u < pcpu_geo.nr_units && pcpu_geo.unit_node[u] == node;
		     u++)
			;
		ret = pcpu_os_bind(pcpu_chunk_addr(chunk, start, 0),
				   (size_t)(u - start) * pcpu_geo.unit_size,
				   node);
		if (pcpu_bind_oom(ret))
			return ret;
		if (ret) {
			pcpu_g.numa_fallback_err = -ret;
			return 0;
		}
	}
	return 0;
}

/**
 * pcpu_create_chunk - create a new chunk
 *
 * Reserves (nr_units + 1) * unit_size bytes aligned to unit_size, so that a
 * per-CPU pointer rounded down to unit_size is the chunk's base.  The first
 * unit becomes the guard (a guard region, or PROT_NONE where the kernel
 * has no guard regions); in strict mode every unit is guarded too, in the
 * same call.  THP is turned off unless units are at least 2 MiB (one touch
 * would otherwise fault in a huge page spanning many units), and with
 * PCPU_NUMA=bind on NUMA machines each run of units on one node prefers
 * that node (a refused preference turns binding off, see above).  No page
 * is populated.
 *
 * Context: pcpu_g.alloc_mutex; makes system calls.
 * Return: the chunk, or NULL with errno set (ENOMEM, or what the kernel
 * said) and nothing left behind.
 */
struct pcpu_chunk *pcpu_create_chunk(void)
{
	struct pcpu_chunk *chunk = pcpu_alloc_chunk();
	struct pcpu_os_range guard;
	void *base;
	int ret;

	lockdep_assert_held_mutex();
	if (!chunk) {
		errno = ENOMEM;
		return NULL;
	}
	ret = pcpu_os_reserve(pcpu_geo.chunk_size, pcpu_geo.unit_size, &base);
	if (ret)
		goto fail_free;
	chunk->base_addr = base;
	guard.addr = base;
	guard.len = pcpu_geo.strict ? pcpu_geo.chunk_size : pcpu_geo.unit_size;
	guard.stride = guard.len;
	guard.count = 1;
	ret = pcpu_os_guard(&guard);
	if (!ret && pcpu_geo.unit_size < (2UL << 20))
		ret = pcpu_os_nohugepage(base, pcpu_geo.chunk_size);
	if (!ret)
		ret = pcpu_chunk_bind(chunk);
	if (ret)
		goto fail_release;
	pcpu_trace1(percpu_create_chunk, chunk->base_addr);
	return chunk;

fail_release:
	(void)pcpu_os_release(base, pcpu_geo.chunk_size);
fail_free:
	pcpu_free_chunk(chunk);
	errno = ret == -ENOMEM || ret == -EAGAIN ? ENOMEM : -ret;
	return NULL;
}

/**
 * pcpu_destroy_chunk - destroy a chunk
 * @chunk: the chunk, already unlinked from the slots and the reverse lookup
 *
 * Returns the chunk's address space and its metadata.
 *
 * Context: pcpu_g.alloc_mutex.
 */
void pcpu_destroy_chunk(struct pcpu_chunk *chunk)
{
	lockdep_assert_held_mutex();
	pcpu_trace1(percpu_destroy_chunk, chunk->base_addr);
	if (chunk->base_addr && pcpu_san_active())
		pcpu_san_forget(chunk->base_addr, pcpu_geo.unit_size);
	if (chunk->base_addr)
		(void)pcpu_os_release(chunk->base_addr, pcpu_geo.chunk_size);
	pcpu_free_chunk(chunk);
}
