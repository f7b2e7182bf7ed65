// SPDX-License-Identifier: MIT
/*
 * percpu-lookup.c - the reverse lookup: per-CPU pointer -> chunk.
 *
 * pcpu_free() gets an address and nothing else (no per-allocation
 * header: per-CPU data stays dense).  A per-CPU pointer points into its
 * chunk's guard unit, so rounding it down to the unit size gives the
 * chunk's base; an open-addressing hash table keyed on base / unit_size
 * finds the chunk in O(1).  The kernel's pcpu_chunk_addr_search() does
 * this job with its own address map; this file owns the table.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "percpu-internal.h"

static inline size_t pcpu_lookup_hash(const char *base)
{
	uint64_t key = (uintptr_t)base / pcpu_geo.unit_size;

	return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20);
}

/**
 * pcpu_chunk_addr_search - the chunk a per-CPU pointer belongs to
 * @base: the pointer rounded down to the unit size (a chunk's base)
 *
 * Context: pcpu_g.lock.
 * Return: the chunk whose base is @base, or NULL.
 */
struct pcpu_chunk *pcpu_chunk_addr_search(const char *base)
{
	size_t mask = pcpu_g.lookup_cap - 1, h = pcpu_lookup_hash(base) & mask;
	struct pcpu_chunk *c;

	lockdep_assert_held_lock();
	while ((c = pcpu_g.lookup[h])) {
		if (c->base_addr == base)
			return c;
		h = (h + 1) & mask;
	}
	return NULL;
}

static void pcpu_lookup_put(struct pcpu_chunk **tab, size_t cap,
			    struct pcpu_chunk *chunk)
{
	size_t h = pcpu_lookup_hash(chunk->base_addr) & (cap - 1);

	while (tab[h])
		h = (h + 1) & (cap - 1);
	tab[h] = chunk;
}

/**
 * pcpu_lookup_remove - forget @chunk
 * @chunk: a chunk that pcpu_lookup_insert() added
 *
 * Removes with backward shifting, so that probes never meet a hole.
 *
 * Context: pcpu_g.lock.
 */
void pcpu_lookup_remove(struct pcpu_chunk *chunk)
{
	size_t mask = pcpu_g.lookup_cap - 1;
	size_t h = pcpu_lookup_hash(chunk->base_addr) & mask, j;

	lockdep_assert_held_lock();
	while (pcpu_g.lookup[h] != chunk)
		h = (h + 1) & mask;
	pcpu_g.lookup[h] = NULL;
	for (j = (h + 1) & mask; pcpu_g.lookup[j]; j = (j + 1) & mask) {
		struct pcpu_chunk *c = pcpu_g.lookup[j];
		size_t home = pcpu_lookup_hash(c->base_addr) & mask;

		/* move c into the hole unless its home lies in (h, j] */
		if (((j - home) & mask) >= ((j - h) & mask)) {
			pcpu_g.lookup[h] = c;
			pcpu_g.lookup[j] = NULL;
			h = j;
		}
	}
	pcpu_g.lookup_used--;
}

/**
 * pcpu_lookup_reserve - make room for one more chunk
 *
 * Doubles the table (allocated outside the lock, swapped in under it)
 * when it would be more than half full.
 *
 * Context: pcpu_g.alloc_mutex; takes pcpu_g.lock.
 * Return: 0, or -ENOMEM (nothing changed).
 */
int pcpu_lookup_reserve(void)
{
	size_t cap = pcpu_g.lookup_cap * 2, i;
	struct pcpu_chunk **tab, **old;

	lockdep_assert_held_mutex();
	if ((pcpu_g.lookup_used + 1) * 2 <= pcpu_g.lookup_cap)
		return 0;
	tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	pcpu_lock();
	for (i = 0; i < pcpu_g.lookup_cap; i++)
		if (pcpu_g.lookup[i])
			pcpu_lookup_put(tab, cap, pcpu_g.lookup[i]);
	old = pcpu_g.lookup;
	pcpu_g.lookup = tab;
	pcpu_g.lookup_cap = cap;
	pcpu_unlock();
	free(old);
	return 0;
}

/**
 * pcpu_lookup_insert - make @chunk findable by pcpu_chunk_addr_search()
 * @chunk: a new chunk; pcpu_lookup_reserve() made room
 *
 * Context: pcpu_g.lock.
 */
void pcpu_lookup_insert(struct pcpu_chunk *chunk)
{
	lockdep_assert_held_lock();
	pcpu_lookup_put(pcpu_g.lookup, pcpu_g.lookup_cap, chunk);
	pcpu_g.lookup_used++;
}
