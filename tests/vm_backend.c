// SPDX-License-Identifier: MIT
/*
 * The VM chunk backend (src/percpu-vm.c): each seed function against its
 * contract.  One process per test case: `vm_backend <case>`.
 */
#include "test.h"

#include <setjmp.h>
#include <stdbool.h>

#include <pcpu.h>

#include "percpu-internal.h"

static sigjmp_buf probe_jb;

static void probe_handler(int sig)
{
	(void)sig;
	siglongjmp(probe_jb, 1);
}

/* Can @p be read without a fault?  (Reading allocates a page here.) */
static bool accessible(const volatile char *p)
{
	struct sigaction sa, old_segv, old_bus;
	volatile bool ok = false;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = probe_handler;
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	if (sigsetjmp(probe_jb, 1) == 0) {
		(void)*p;
		ok = true;
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	return ok;
}

/* The backend runs under the allocation mutex: each case holds it from
 * its setup on, as the allocator would around every backend call. */
static bool holding_mutex;

static void setup(unsigned int nr_units, int strict)
{
	struct pcpu_config cfg;

	if (holding_mutex)
		pcpu_mutex_unlock();
	pcpu_test_reset();
	pcpu_config_init(&cfg);
	cfg.nr_units = nr_units;
	cfg.strict = strict;
	cfg.balance = 0;
	CHECK_EQ(pcpu_init(&cfg), 0);
	/* Without guard regions (Linux < 6.13) start-up refuses strict mode,
	 * which would take a real process to vm.max_map_count; these cases
	 * drive the backend's mprotect fallback of it on a few chunks. */
	if (strict && !pcpu_geo.strict)
		pcpu_geo.strict = true;
	pcpu_mutex_lock();
	holding_mutex = true;
}

static char *unit_page(struct pcpu_chunk *c, unsigned int unit, int page)
{
	return c->base_addr + (size_t)(unit + 1) * pcpu_geo.unit_size +
	       (size_t)page * pcpu_geo.page_size;
}

/* fork() takes the mutex (libpcpu's fork handlers): let go of it around
 * a child, take it back after. */
static int in_child(void (*fn)(void *), void *arg, char *err, size_t len)
{
	int st;

	pcpu_mutex_unlock();
	st = test_in_child(fn, arg, err, len);
	pcpu_mutex_lock();
	return st;
}

static struct pcpu_chunk *create(void)
{
	struct pcpu_chunk *c = pcpu_create_chunk();

	CHECK(c != NULL);
	CHECK(((uintptr_t)c->base_addr & (pcpu_geo.unit_size - 1)) == 0);
	return c;
}

/* Populate, write every unit page of the range, read it all back. */
static void populate_write_read(int strict)
{
	struct pcpu_chunk *c;
	unsigned int u;
	int pg;

	setup(8, strict);
	c = create();
	CHECK_EQ(pcpu_populate_chunk(c, 1, 4), 0);
	for (u = 0; u < 8; u++)
		for (pg = 1; pg < 4; pg++)
			memset(unit_page(c, u, pg), (int)(u * 16 + pg),
			       pcpu_geo.page_size);
	for (u = 0; u < 8; u++)
		for (pg = 1; pg < 4; pg++) {
			char *p = unit_page(c, u, pg);

			for (size_t i = 0; i < pcpu_geo.page_size; i++)
				CHECK_EQ((unsigned char)p[i], u * 16 + pg);
		}
	if (strict) {
		for (u = 0; u < 8; u++) {
			CHECK(!accessible(unit_page(c, u, 0)));
			CHECK(!accessible(unit_page(c, u, 4)));
		}
	}
	pcpu_depopulate_chunk(c, 1, 4);
	pcpu_post_unmap_tlb_flush(c, 1, 4);
	for (u = 0; u < 8; u++)
		for (pg = 1; pg < 4; pg++) {
			char *p = unit_page(c, u, pg);

			if (strict) {
				CHECK(!accessible(p));
				continue;
			}
			for (size_t i = 0; i < pcpu_geo.page_size; i++)
				CHECK_EQ(p[i], 0);
		}
	pcpu_destroy_chunk(c);
}

static void t_populate_write_read_strict(void)
{
	populate_write_read(1);
}

static void t_populate_write_read_default(void)
{
	populate_write_read(0);
}

/* Depopulating gives the memory back: RSS drops by what was written. */
static void t_depopulate_returns_memory(void)
{
	struct pcpu_chunk *c;
	long before, filled, after;
	unsigned int u;

	setup(256, 0);
	c = create();
	CHECK_EQ(pcpu_populate_chunk(c, 0, 4), 0);
	before = test_rss_kb();
	for (u = 0; u < 256; u++)
		memset(unit_page(c, u, 0), 0x5a, 4 * pcpu_geo.page_size);
	filled = test_rss_kb();
	pcpu_depopulate_chunk(c, 0, 4);
	after = test_rss_kb();
	printf("rss: before %ld KiB, filled %ld KiB, after %ld KiB\n", before,
	       filled, after);
	CHECK(filled - before >=
	      256 * 4 * (long)pcpu_geo.page_size / 1024 - 64);
	CHECK_RSS(after - before < 512);
	CHECK_EQ(unit_page(c, 77, 2)[5], 0);
	pcpu_destroy_chunk(c);
}

/* pcpu_alloc_pages records every unit page; pcpu_free_pages forgets them. */
static void t_pages_array_records_unit_pages(void)
{
	struct pcpu_chunk *c;
	void **pages;
	unsigned int u;
	int pg;

	setup(4, 0);
	c = create();
	pages = pcpu_get_pages();
	CHECK(pages != NULL);
	CHECK(pages == pcpu_get_pages());
	CHECK_EQ(pcpu_alloc_pages(c, pages, 2, 5), 0);
	for (u = 0; u < 4; u++)
		for (pg = 0; pg < pcpu_geo.unit_pages; pg++) {
			void *want =
				pg >= 2 && pg < 5 ? unit_page(c, u, pg) : NULL;

			CHECK(pages[u * pcpu_geo.unit_pages + pg] == want);
		}
	pcpu_free_pages(c, pages, 2, 5);
	for (u = 0; u < 4 * (unsigned int)pcpu_geo.unit_pages; u++)
		CHECK(pages[u] == NULL);
	pcpu_destroy_chunk(c);
}

/* pcpu_map_pages / pcpu_unmap_pages in strict mode toggle accessibility of
 * exactly the range in every unit; the flush hooks bracket them. */
static void t_map_unmap_pages_strict(void)
{
	struct pcpu_chunk *c;
	void **pages;
	unsigned int u;

	setup(4, 1);
	c = create();
	pages = pcpu_get_pages();
	CHECK_EQ(pcpu_alloc_pages(c, pages, 3, 4), 0);
	CHECK_EQ(pcpu_map_pages(c, pages, 3, 4), 0);
	pcpu_post_map_flush(c, 3, 4);
	for (u = 0; u < 4; u++) {
		CHECK(accessible(unit_page(c, u, 3)));
		CHECK(!accessible(unit_page(c, u, 2)));
		unit_page(c, u, 3)[0] = 1;
	}
	pcpu_pre_unmap_flush(c, 3, 4);
	pcpu_unmap_pages(c, pages, 3, 4);
	pcpu_post_unmap_tlb_flush(c, 3, 4);
	pcpu_free_pages(c, pages, 3, 4);
	for (u = 0; u < 4; u++)
		CHECK(!accessible(unit_page(c, u, 3)));
	pcpu_destroy_chunk(c);
}

static void map_failure_sweep(bool guard_regions, bool batch)
{
	struct pcpu_os_caps caps;
	struct pcpu_chunk *c;
	unsigned long k;
	int maps, runs = 0;
	unsigned int u;

	setup(8, 1);
	caps = pcpu_geo.caps;
	caps.guard_regions = guard_regions && caps.guard_regions;
	caps.batch_advice = batch && caps.batch_advice;
	pcpu_os_force_caps(&caps);
	c = create();
	maps = test_vma_count();
	for (k = 1;; k++) {
		int ret;

		pcpu_os_inject_fault(PCPU_OS_GUARD_REMOVE, k, ENOMEM);
		ret = pcpu_populate_chunk(c, 2, 6);
		if (ret == 0)
			break;
		runs++;
		CHECK_EQ(ret, -ENOMEM);
		for (u = 0; u < 8; u++)
			for (int pg = 0; pg < pcpu_geo.unit_pages; pg++)
				CHECK(!accessible(unit_page(c, u, pg)));
		CHECK_MAPS_EQ(test_vma_count(), maps);
		pcpu_os_inject_fault(PCPU_OS_GUARD_REMOVE, 0, 0);
		/* the chunk can be populated again */
		CHECK_EQ(pcpu_populate_chunk(c, 2, 6), 0);
		CHECK(accessible(unit_page(c, 7, 5)));
		pcpu_depopulate_chunk(c, 2, 6);
		CHECK(!accessible(unit_page(c, 7, 5)));
	}
	pcpu_os_inject_fault(PCPU_OS_GUARD_REMOVE, 0, 0);
	printf("guard_regions=%d batch=%d: %d failure points, all rolled "
	       "back\n",
	       caps.guard_regions, caps.batch_advice, runs);
	CHECK(runs >= 1);
	if (!caps.batch_advice)
		CHECK_EQ(runs, 8); /* one per unit */
	for (u = 0; u < 8; u++)
		CHECK(accessible(unit_page(c, u, 2)));
	pcpu_depopulate_chunk(c, 2, 6);
	pcpu_destroy_chunk(c);
	if (!caps.guard_regions)
		if (!TEST_SANITIZED)
			CHECK(test_vma_count() <= maps);
}

/* Every failure point of pcpu_map_pages (strict mode) leaves no unit page
 * accessible, no mapping behind, and the chunk populatable. */
static void t_map_failure_rolls_back(void)
{
	map_failure_sweep(true, true);
	map_failure_sweep(true, false);
	map_failure_sweep(false, false);
}

/* Every failure point of chunk creation leaves no mapping behind. */
static void t_create_failure_leaves_nothing(void)
{
	static const enum pcpu_os_call kinds[] = {
		PCPU_OS_RESERVE, PCPU_OS_GUARD_INSTALL, PCPU_OS_NOHUGEPAGE,
		PCPU_OS_BIND};
	int maps, i;

	pcpu_geo.force_numa = true;
	setup(16, 0);
	CHECK(pcpu_geo.unit_node != NULL);
	maps = test_vma_count();
	for (i = 0; i < 4; i++) {
		pcpu_os_inject_fault(kinds[i], 1, ENOMEM);
		errno = 0;
		CHECK(pcpu_create_chunk() == NULL);
		CHECK_EQ(errno, ENOMEM);
		CHECK_MAPS_EQ(test_vma_count(), maps);
		if (kinds[i] == PCPU_OS_BIND)
			continue; /* a refused mbind is a hint: faults.c */
		pcpu_os_inject_fault(kinds[i], 1, EPERM);
		CHECK(pcpu_create_chunk() == NULL);
		CHECK_EQ(errno, EPERM);
		CHECK_MAPS_EQ(test_vma_count(), maps);
		pcpu_os_inject_fault(kinds[i], 0, 0);
	}
	pcpu_os_inject_fault(PCPU_OS_BIND, 0, 0);
	pcpu_destroy_chunk(create());
	CHECK_MAPS_EQ(test_vma_count(), maps);
}

static void vma_cycles(int strict)
{
	struct pcpu_chunk *c;
	int before, with_chunk, i;

	setup(256, strict);
	if (pcpu_geo.strict_refused) {
		/* what start-up refuses strict mode for: its mprotect
		 * fallback splits the chunk (setup() forced it back on) */
		printf("strict=1: refused here, no guard regions\n");
		return;
	}
	before = test_vma_count();
	c = create();
	with_chunk = test_vma_count();
	printf("strict=%d: VMAs before %d, with one 256-unit chunk %d\n",
	       strict, before, with_chunk);
	if (!TEST_SANITIZED)
		CHECK(with_chunk - before <= 2);
	for (i = 0; i < 1000; i++) {
		CHECK_EQ(pcpu_populate_chunk(c, i % 3, i % 3 + 2), 0);
		unit_page(c, (unsigned int)i % 256, i % 3)[i % 64] = 1;
		pcpu_depopulate_chunk(c, i % 3, i % 3 + 2);
		pcpu_post_unmap_tlb_flush(c, i % 3, i % 3 + 2);
	}
	CHECK_MAPS_EQ(test_vma_count(), with_chunk);
	pcpu_destroy_chunk(c);
	CHECK_MAPS_EQ(test_vma_count(), before);
}

/* 1000 populate/depopulate cycles over 256 units never change the number
 * of mappings. */
static void t_vma_count_stable(void)
{
	vma_cycles(0);
	vma_cycles(1);
}

static void deref_guard(void *arg)
{
	volatile char *p = arg;

	(void)*p;
}

/* The guard unit that per-CPU pointers point into faults when touched. */
static void t_guard_unit_faults(void)
{
	struct pcpu_chunk *c;
	char err[256];
	int st;

	setup(4, 0);
	c = create();
	CHECK_EQ(pcpu_populate_chunk(c, 0, 1), 0);
	st = in_child(deref_guard, c->base_addr + 64, err, sizeof(err));
	CHECK(TEST_SEGV(st, err));
	/* unit 0's copy of the same offset is fine */
	st = in_child(deref_guard, unit_page(c, 0, 0) + 64, err, sizeof(err));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	pcpu_destroy_chunk(c);
}

static void corrupt_and_verify(void *arg)
{
	struct pcpu_chunk *c = arg;

	c->md_blocks[1].contig_hint--;
	pcpu_chunk_verify(c, 0, pcpu_geo.unit_map_bits);
}

/* The debug invariant checker catches a broken hint. */
static void t_invariant_checker_catches_corruption(void)
{
	struct pcpu_chunk *c;
	char err[512];
	int st;

	setup(2, 0);
	c = create();
	pcpu_chunk_verify(c, 0, pcpu_geo.unit_map_bits);
	st = in_child(corrupt_and_verify, c, err, sizeof(err));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CHECK(strstr(err, "block contig_hint") != NULL);
	pcpu_destroy_chunk(c);
}

static const struct test_case cases[] = {
	{"populate_write_read_strict", t_populate_write_read_strict, 0},
	{"populate_write_read_default", t_populate_write_read_default, 0},
	{"depopulate_returns_memory", t_depopulate_returns_memory, 0},
	{"pages_array_records_unit_pages", t_pages_array_records_unit_pages, 0},
	{"map_unmap_pages_strict", t_map_unmap_pages_strict, 0},
	{"map_failure_rolls_back", t_map_failure_rolls_back, 0},
	{"create_failure_leaves_nothing", t_create_failure_leaves_nothing, 0},
	{"vma_count_stable", t_vma_count_stable, 0},
	{"guard_unit_faults", t_guard_unit_faults, 0},
	{"invariant_checker_catches_corruption",
	 t_invariant_checker_catches_corruption, 0},
};

TEST_MAIN(cases)
