// SPDX-License-Identifier: MIT
/*
 * Fault injection over a scripted workload: the Nth system call of each
 * kind fails, for every N the workload reaches, with ENOMEM, EAGAIN and
 * EPERM.  After each run: the failing public call returned NULL + ENOMEM
 * (or the work went on another way), the invariants hold, every live
 * object kept its data in every unit, and no mapping is left behind.
 */
#include "test.h"

#include <stdbool.h>
#include <sys/resource.h>

#include <pcpu.h>

#include "percpu-internal.h"

#define NOBJ 600
#define UNITS 4

static void *objs[NOBJ];
static size_t sizes[NOBJ];

static int strict_mode = 1;

static void setup(void)
{
	struct pcpu_config cfg;

	pcpu_test_reset();
	pcpu_geo.force_numa = true; /* make bind calls happen on one node */
	pcpu_config_init(&cfg);
	cfg.nr_units = UNITS;
	cfg.strict = strict_mode;
	cfg.balance = 0;
	cfg.unit_size = 16384;
	CHECK_EQ(pcpu_init(&cfg), 0);
}

static unsigned char pat(int i, unsigned int u, size_t k)
{
	return (unsigned char)(i * 31 + u * 7 + k) | 1;
}

static bool check_live(void)
{
	for (int i = 0; i < NOBJ; i++) {
		if (!objs[i])
			continue;
		for (unsigned int u = 0; u < UNITS; u++)
			for (size_t k = 0; k < sizes[i]; k++)
				if (pcpu_ptr((unsigned char *)objs[i], u)[k] !=
				    pat(i, u, k))
					return false;
	}
	return true;
}

/* The workload: mixed sizes over several chunks, frees, balance, reuse.
 * Returns the number of allocations that failed (each with ENOMEM). */
static int workload(void)
{
	int failed = 0;

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < NOBJ; i++) {
			if (objs[i])
				continue;
			sizes[i] = 4 + (size_t)(i * 37 + round * 11) % 700;
			errno = 0;
			objs[i] = pcpu_alloc(sizes[i], 8);
			if (!objs[i]) {
				CHECK_EQ(errno, ENOMEM);
				failed++;
				continue;
			}
			for (unsigned int u = 0; u < UNITS; u++)
				for (size_t k = 0; k < sizes[i]; k++)
					CHECK_EQ(pcpu_ptr((unsigned char *)
								  objs[i],
							  u)[k],
						 0);
			for (unsigned int u = 0; u < UNITS; u++)
				for (size_t k = 0; k < sizes[i]; k++)
					pcpu_ptr((unsigned char *)objs[i],
						 u)[k] = pat(i, u, k);
		}
		for (int i = round % 2; i < NOBJ; i += 2) {
			pcpu_free(objs[i]);
			objs[i] = NULL;
		}
		pcpu_balance();
		pcpu_verify_all();
		CHECK(check_live());
	}
	/* empty most pages so that reclaim depopulates them */
	for (int i = NOBJ / 4; i < NOBJ; i++) {
		pcpu_free(objs[i]);
		objs[i] = NULL;
	}
	pcpu_balance();
	pcpu_balance();
	pcpu_verify_all();
	CHECK(check_live());
	return failed;
}

static void teardown_and_check_maps(int maps_before)
{
	for (int i = 0; i < NOBJ; i++) {
		pcpu_free(objs[i]);
		objs[i] = NULL;
	}
	pcpu_balance();
	pcpu_balance();
	pcpu_verify_all();
	pcpu_test_reset();
	CHECK_MAPS_EQ(test_vma_count(), maps_before);
}

/* Every failure point of every kind of system call, three errnos. */
static void t_fault_injection_sweep(void)
{
	static const enum pcpu_os_call kinds[] = {
		PCPU_OS_RESERVE, PCPU_OS_GUARD_INSTALL, PCPU_OS_GUARD_REMOVE,
		PCPU_OS_ZAP,	 PCPU_OS_NOHUGEPAGE,	PCPU_OS_BIND,
		PCPU_OS_SCAN};
	static const char *const names[] = {
		"reserve",    "guard_install", "guard_remove", "zap",
		"nohugepage", "bind",	       "scan"};
	static const int errs[] = {ENOMEM, EAGAIN, EPERM};
	int maps_before, total = 0;

	/* the first start-up grows the heap: count mappings after it */
	setup();
	pcpu_test_reset();
	maps_before = test_vma_count();

	for (strict_mode = 1; strict_mode >= 0; strict_mode--)
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			unsigned long calls;

			setup();
			pcpu_os_inject_fault(kinds[k], 0, 0);
			CHECK_EQ(workload(), 0);
			calls = pcpu_os_calls(kinds[k]);
			teardown_and_check_maps(maps_before);
			for (size_t e = 0; e < 3; e++)
				for (unsigned long n = 1; n <= calls; n++) {
					int failed;

					setup();
					pcpu_os_inject_fault(kinds[k], n,
							     errs[e]);
					failed = workload();
					pcpu_os_inject_fault(kinds[k], 0, 0);
					CHECK(failed <= 1);
					total++;
					teardown_and_check_maps(maps_before);
				}
			printf("strict=%d %-14s %3lu calls in the workload, "
			       "each failed with "
			       "ENOMEM, EAGAIN, EPERM\n",
			       strict_mode, names[k], calls);
		}
	printf("%d injections, all recovered\n", total);
	CHECK(total > 100);
}

/* With RLIMIT_AS lowered allocations fail with ENOMEM; raised again, they
 * succeed. */
static void t_rlimit_as_enomem_then_recovers(void)
{
	struct rlimit old, low;
	void *p[64];
	int n = 0;

	setup();
	CHECK(getrlimit(RLIMIT_AS, &old) == 0);
	low = old;
	/* what is mapped now, plus a little: not enough for many chunks */
	low.rlim_cur = 0;
	{
		FILE *f = fopen("/proc/self/status", "r");
		char line[256];

		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "VmSize:", 7))
				low.rlim_cur =
					(rlim_t)strtol(line + 7, NULL, 10) *
						1024 +
					(rlim_t)(256 << 10);
		fclose(f);
	}
	CHECK(setrlimit(RLIMIT_AS, &low) == 0);
	for (n = 0; n < 64; n++) {
		errno = 0;
		p[n] = pcpu_alloc(pcpu_unit_size(), 8);
		if (!p[n])
			break;
	}
	CHECK(n < 64);
	CHECK_EQ(errno, ENOMEM);
	pcpu_verify_all();
	CHECK(setrlimit(RLIMIT_AS, &old) == 0);
	p[n] = pcpu_alloc(pcpu_unit_size(), 8);
	CHECK(p[n] != NULL);
	printf("%d chunk-sized allocations under the limit, then ENOMEM, then "
	       "success once raised\n",
	       n);
}

/* A multi-node host whose seccomp profile refuses mbind (EPERM), or a
 * kernel without it (ENOSYS): allocation goes on with first-touch
 * placement, later chunks stop asking, and the statistics say so. */
static void t_numa_bind_refused_falls_back_to_first_touch(void)
{
	static const int errs[] = {EPERM, ENOSYS, EINVAL};
	static const char *const names[] = {"EPERM", "ENOSYS", "EINVAL"};
	char line[96], *buf;
	size_t len;

	for (int e = 0; e < 3; e++) {
		FILE *f = open_memstream(&buf, &len);
		unsigned long binds;
		void *p[40];

		setup();
		CHECK(pcpu_geo.unit_node != NULL);
		pcpu_os_inject_fault(PCPU_OS_BIND, 1, errs[e]);
		for (int i = 0; i < 40; i++) { /* 40 x 4 KiB: several chunks */
			p[i] = pcpu_alloc(4096, 8);
			CHECK(p[i] != NULL);
			*(int *)pcpu_ptr(p[i], UNITS - 1) = i;
		}
		binds = pcpu_os_calls(PCPU_OS_BIND);
		CHECK_EQ(binds,
			 1UL); /* the refused one; no chunk asked again */
		CHECK_EQ(pcpu_stats_print(f), 0);
		fclose(f);
		snprintf(line, sizeof(line),
			 "NUMA placement: first touch (mbind: %s)", names[e]);
		CHECK(strstr(buf, line) != NULL);
		free(buf);
		for (int i = 0; i < 40; i++) {
			CHECK_EQ(*(int *)pcpu_ptr(p[i], UNITS - 1), i);
			pcpu_free(p[i]);
		}
		pcpu_os_inject_fault(PCPU_OS_BIND, 0, 0);
	}
	/* out of memory still fails the call, and leaves nothing off */
	setup();
	pcpu_os_inject_fault(PCPU_OS_BIND, 1, ENOMEM);
	errno = 0;
	CHECK(pcpu_alloc(8, 8) == NULL);
	CHECK_EQ(errno, ENOMEM);
	void *q = pcpu_alloc(8, 8);
	CHECK(q != NULL);
	pcpu_free(q);
	CHECK(pcpu_os_calls(PCPU_OS_BIND) >= 2UL);
	pcpu_os_inject_fault(PCPU_OS_BIND, 0, 0);
}

static const struct test_case cases[] = {
	{"fault_injection_sweep", t_fault_injection_sweep, 0},
	{"rlimit_as_enomem_then_recovers", t_rlimit_as_enomem_then_recovers, 0},
	{"numa_bind_refused_falls_back_to_first_touch",
	 t_numa_bind_refused_falls_back_to_first_touch, 0},
};

TEST_MAIN(cases)
