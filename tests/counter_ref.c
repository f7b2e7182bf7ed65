// SPDX-License-Identifier: MIT
/*
 * pcpu_counter and pcpu_ref.  One process per case.
 */
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>

#include <pcpu/counter.h>
#include <pcpu/ref.h>

#include "percpu-internal.h"

#define THREADS 4
#define ADDS test_scaled(1000000)

static struct pcpu_counter ctr;

static void *adder(void *arg)
{
	long id = (long)arg;

	for (long i = 0; i < ADDS; i++)
		pcpu_counter_add(&ctr, id % 2 ? 3 : -1);
	return NULL;
}

/* Concurrent adds from 4 threads: the exact sum is exact, the approximate
 * read is within batch x units of it. */
static void t_counter_sum_exact_under_concurrency(void)
{
	pthread_t t[THREADS];
	int64_t want = (int64_t)ADDS * (3 + 3 - 1 - 1) + 100;

	CHECK_EQ(pcpu_counter_init(&ctr, 100), 0);
	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, adder, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(pcpu_counter_sum(&ctr), want);
	CHECK(llabs(pcpu_counter_read(&ctr) - want) <=
	      (long long)pcpu_counter_batch * pcpu_nr_units());
	pcpu_counter_destroy(&ctr);
}

/* A CPU's delta folds into the shared count when it reaches the batch. */
static void t_counter_batch_folds(void)
{
	cpu_set_t set;
	int64_t i;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	CHECK(sched_setaffinity(0, sizeof(set), &set) == 0);
	CHECK_EQ(pcpu_counter_init(&ctr, 0), 0);
	for (i = 1; i < 10; i++) {
		pcpu_counter_add_batch(&ctr, 1, 10);
		CHECK_EQ(pcpu_counter_read(&ctr), 0);
		CHECK_EQ(pcpu_ptr(ctr.units, 0)->total -
				 pcpu_ptr(ctr.units, 0)->folded,
			 i);
	}
	pcpu_counter_add_batch(&ctr, 1, 10); /* reaches 10: folds */
	CHECK_EQ(pcpu_counter_read(&ctr), 10);
	CHECK_EQ(pcpu_ptr(ctr.units, 0)->total - pcpu_ptr(ctr.units, 0)->folded,
		 0);
	pcpu_counter_add_batch(&ctr, -25, 10); /* -25 folds at once */
	CHECK_EQ(pcpu_counter_read(&ctr), -15);
	CHECK_EQ(pcpu_counter_read_positive(&ctr), 0);
	CHECK_EQ(pcpu_counter_sum(&ctr), -15);
	pcpu_counter_set(&ctr, 1000);
	CHECK_EQ(pcpu_counter_sum(&ctr), 1000);
	pcpu_counter_destroy(&ctr);
}

/* Compare is approximate when far, exact when close. */
static void t_counter_compare(void)
{
	CHECK_EQ(pcpu_counter_init(&ctr, 0), 0);
	for (int i = 0; i < 5; i++)
		pcpu_counter_inc(&ctr); /* stays in a delta */
	CHECK_EQ(pcpu_counter_read(&ctr), 0);
	CHECK_EQ(pcpu_counter_compare(&ctr, 5), 0);
	CHECK_EQ(pcpu_counter_compare(&ctr, 4), 1);
	CHECK_EQ(pcpu_counter_compare(&ctr, 6), -1);
	CHECK_EQ(pcpu_counter_compare(&ctr, -1000000), 1);
	CHECK_EQ(pcpu_counter_compare(&ctr, 1000000), -1);
	pcpu_counter_destroy(&ctr);
}

/* init_many shares one allocation; counters stay independent. */
static void t_counter_init_many_shares_one_allocation(void)
{
	struct pcpu_counter c[16];
	struct pcpu_stats_info before, after;

	pcpu_stats_get(&before);
	CHECK_EQ(pcpu_counter_init_many(c, 7, 16), 0);
	pcpu_stats_get(&after);
	CHECK_EQ(after.nr_alloc - before.nr_alloc, 1);
	for (int i = 0; i < 16; i++)
		pcpu_counter_add(&c[i], i);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(pcpu_counter_sum(&c[i]), 7 + i);
	pcpu_counter_destroy_many(c, 16);
	pcpu_stats_get(&after);
	CHECK_EQ(after.nr_cur_alloc, before.nr_cur_alloc);
}

static void count_present(char *start, char *end, void *arg)
{
	*(size_t *)arg += (size_t)(end - start);
}

/* With 256 units and one CPU used, a sum reads no idle unit (no unit page
 * appears); a set neither. */
static void t_counter_sum_skips_idle_units(void)
{
	struct pcpu_config cfg;
	size_t before = 0, after = 0;
	char *base;

	pcpu_config_init(&cfg);
	cfg.nr_units = 256;
	CHECK_EQ(pcpu_init(&cfg), 0);
	CHECK_EQ(pcpu_counter_init(&ctr, 0), 0);
	pcpu_ptr(ctr.units, 0)->total = 5; /* as if CPU 0 added 5 */
	base = (char *)((uintptr_t)ctr.units & ~(pcpu_geo.unit_size - 1));
	pcpu_os_scan_present(base + pcpu_geo.unit_size,
			     pcpu_geo.chunk_size - pcpu_geo.unit_size,
			     count_present, &before);
	CHECK_EQ(pcpu_counter_sum(&ctr), 5);
	pcpu_counter_set(&ctr, 1);
	CHECK_EQ(pcpu_counter_sum(&ctr), 1);
	pcpu_os_scan_present(base + pcpu_geo.unit_size,
			     pcpu_geo.chunk_size - pcpu_geo.unit_size,
			     count_present, &after);
	CHECK_EQ(after, before);
	CHECK(before <= 4 * pcpu_geo.page_size);
}

/* --- refs --- */

static struct pcpu_ref ref;
static int released;
static bool stop, killed_confirmed;
static long live_after_kill;

static void on_release(struct pcpu_ref *r)
{
	CHECK(r == &ref);
	__atomic_fetch_add(&released, 1, __ATOMIC_SEQ_CST);
}

static void on_confirm(struct pcpu_ref *r)
{
	(void)r;
	TEST_STORE(killed_confirmed, true);
}

static void *getter(void *arg)
{
	(void)arg;
	while (!TEST_LOAD(stop)) {
		bool confirmed = TEST_LOAD(killed_confirmed);

		if (pcpu_ref_tryget_live(&ref)) {
			if (confirmed)
				__atomic_fetch_add(&live_after_kill, 1,
						   __ATOMIC_RELAXED);
			CHECK_EQ(TEST_LOAD(released), 0); /* never early */
			pcpu_ref_get(&ref);
			pcpu_ref_put(&ref);
			pcpu_ref_put(&ref);
		} else if (pcpu_ref_tryget(&ref)) {
			CHECK_EQ(TEST_LOAD(released), 0);
			pcpu_ref_put(&ref);
		}
	}
	return NULL;
}

/* A ref killed while 4 threads get and put calls release exactly once,
 * never early; tryget_live fails once the kill is confirmed. */
static void t_ref_kill_releases_once(void)
{
	pthread_t t[THREADS];

	for (int round = 0; round < 20; round++) {
		released = 0;
		stop = false;
		killed_confirmed = false;
		CHECK_EQ(pcpu_ref_init(&ref, on_release, 0), 0);
		for (int i = 0; i < THREADS; i++)
			pthread_create(&t[i], NULL, getter, NULL);
		usleep(2000);
		pcpu_ref_kill_and_confirm(&ref, on_confirm);
		usleep(2000);
		TEST_STORE(stop, true);
		for (int i = 0; i < THREADS; i++)
			pthread_join(t[i], NULL);
		CHECK_EQ(released, 1);
		CHECK(pcpu_ref_is_zero(&ref));
		CHECK(!pcpu_ref_tryget_live(&ref));
		CHECK(!pcpu_ref_tryget(&ref));
		pcpu_ref_exit(&ref);
	}
	CHECK_EQ(live_after_kill, 0);
}

/* Switching to atomic and back keeps the count; percpu gets afterwards go
 * to the units again; kill then drops to zero. */
static void t_ref_switch_modes(void)
{
	released = 0;
	CHECK_EQ(pcpu_ref_init(&ref, on_release, PCPU_REF_ALLOW_REINIT), 0);
	for (int i = 0; i < 10; i++)
		pcpu_ref_get(&ref);
	pcpu_ref_switch_to_atomic_sync(&ref);
	CHECK_EQ(ref.count, 11);
	for (int i = 0; i < 5; i++)
		pcpu_ref_put(&ref);
	CHECK_EQ(ref.count, 6);
	pcpu_ref_switch_to_percpu(&ref);
	CHECK(!(ref.percpu_count_ptr & __PCPU_REF_ATOMIC));
	for (int i = 0; i < 5; i++)
		pcpu_ref_put(&ref);
	if (*__pcpu_rseq_limit())
		CHECK(ref.count > PCPU_REF_BIAS / 2); /* puts went per CPU */
	CHECK_EQ(released, 0);
	pcpu_ref_kill(&ref);
	CHECK_EQ(released, 1);
	CHECK(pcpu_ref_is_zero(&ref));
	/* reinit brings it back */
	pcpu_ref_reinit(&ref);
	CHECK(!pcpu_ref_is_dying(&ref));
	CHECK(pcpu_ref_tryget_live(&ref));
	pcpu_ref_put(&ref);
	pcpu_ref_kill(&ref);
	CHECK_EQ(released, 2);
	pcpu_ref_exit(&ref);
}

/* Init flags: atomic start and dead start. */
static void t_ref_init_flags(void)
{
	released = 0;
	CHECK_EQ(pcpu_ref_init(&ref, on_release, PCPU_REF_INIT_ATOMIC), 0);
	CHECK_EQ(ref.count, 1);
	pcpu_ref_get_many(&ref, 3);
	CHECK_EQ(ref.count, 4);
	pcpu_ref_put_many(&ref, 4);
	CHECK_EQ(released, 1);
	pcpu_ref_exit(&ref);
	CHECK_EQ(pcpu_ref_init(&ref, on_release, PCPU_REF_INIT_DEAD), 0);
	CHECK(pcpu_ref_is_zero(&ref));
	CHECK(!pcpu_ref_tryget(&ref));
	pcpu_ref_resurrect(&ref);
	CHECK(pcpu_ref_tryget_live(&ref));
	pcpu_ref_put(&ref);
	pcpu_ref_exit(&ref);
}

/* Each misuse of a ref, in a child: which one (arg), what it must say. */
static void ref_misuse_child(void *arg)
{
	int which = (int)(intptr_t)arg;

	CHECK_EQ(pcpu_ref_init(&ref, NULL, 0), 0);
	switch (which) {
	case 0: /* killed twice */
		pcpu_ref_get(&ref);
		pcpu_ref_kill(&ref);
		pcpu_ref_kill(&ref);
		break;
	case 1: /* more puts than gets */
		pcpu_ref_kill(&ref);
		pcpu_ref_put(&ref);
		break;
	case 2: /* reinit while references are held */
		pcpu_ref_get(&ref);
		pcpu_ref_kill(&ref);
		pcpu_ref_reinit(&ref);
		break;
	case 3: /* resurrect a ref that was never killed */
		pcpu_ref_resurrect(&ref);
		break;
	}
}

/* Misuse is reported on stderr and aborts; an unknown init flag is
 * -EINVAL with the ref untouched. */
static void t_ref_misuse_aborts_with_a_message(void)
{
	static const char *const said[] = {"killed twice", "below zero",
					   "still has references",
					   "was not killed"};
	struct pcpu_ref r = {.count = 42};
	char err[512];

	for (int i = 0; i < 4; i++) {
		int st = test_in_child(ref_misuse_child, (void *)(intptr_t)i,
				       err, sizeof(err));

		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
		CHECK(strstr(err, said[i]) != NULL);
	}
	CHECK_EQ(pcpu_ref_init(&r, NULL, 1u << 5), -EINVAL);
	CHECK_EQ(r.count, 42);
}

static const struct test_case cases[] = {
	{"counter_sum_exact_under_concurrency",
	 t_counter_sum_exact_under_concurrency, 0},
	{"counter_batch_folds", t_counter_batch_folds, 0},
	{"counter_compare", t_counter_compare, 0},
	{"counter_init_many_shares_one_allocation",
	 t_counter_init_many_shares_one_allocation, 0},
	{"counter_sum_skips_idle_units", t_counter_sum_skips_idle_units, 0},
	{"ref_kill_releases_once", t_ref_kill_releases_once, 0},
	{"ref_switch_modes", t_ref_switch_modes, 0},
	{"ref_init_flags", t_ref_init_flags, 0},
	{"ref_misuse_aborts_with_a_message", t_ref_misuse_aborts_with_a_message,
	 0},
};

TEST_MAIN(cases)
