// SPDX-License-Identifier: MIT
/*
 * demo.c - libpcpu at work: a thread per online CPU updates per-CPU
 * counters and structures, half of them are freed in random order, the
 * balance work runs, and every surviving object is checked in every unit.
 *
 * By default the allocator is started with 256 units (as on a 256-CPU
 * machine) to show that idle units cost nothing; PCPU_NR_UNITS overrides.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pcpu.h>

#define NR_OBJECTS 20000
#define ROUNDS 50

struct object {
	void *p;
	size_t size; /* 8: a counter; else a struct filled with a pattern */
	size_t id;
};

static struct object objs[NR_OBJECTS];
static unsigned int nr_cpus;

static unsigned char pattern(size_t obj, unsigned int cpu, size_t i)
{
	return (unsigned char)(obj * 7 + cpu * 13 + i) | 1;
}

/* Each thread is pinned to one CPU and writes that CPU's copies only. */
static void *worker(void *arg)
{
	unsigned int cpu = (unsigned int)(uintptr_t)arg;
	cpu_set_t set;
	size_t i;
	int r;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	for (r = 0; r < ROUNDS; r++)
		for (i = 0; i < NR_OBJECTS; i++) {
			if (objs[i].size == 8) {
				(*pcpu_ptr((uint64_t *)objs[i].p, cpu))++;
			} else if (r == 0) {
				unsigned char *c = pcpu_ptr(
					(unsigned char *)objs[i].p, cpu);

				for (size_t k = 0; k < objs[i].size; k++)
					c[k] = pattern(objs[i].id, cpu, k);
			}
		}
	return NULL;
}

static long status_kb(const char *key)
{
	char line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static int vma_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	int c, n = 0;

	while (f && (c = fgetc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

static int check_object(size_t i, unsigned int nr_units)
{
	for (unsigned int u = 0; u < nr_units; u++) {
		if (objs[i].size == 8) {
			uint64_t want = u < nr_cpus ? ROUNDS : 0;

			if (*pcpu_ptr((uint64_t *)objs[i].p, u) != want)
				return -1;
			continue;
		}
		/* idle units are not read: they were never touched */
		if (u >= nr_cpus)
			continue;
		for (size_t k = 0; k < objs[i].size; k++)
			if (pcpu_ptr((unsigned char *)objs[i].p, u)[k] !=
			    pattern(objs[i].id, u, k))
				return -1;
	}
	return 0;
}

int main(void)
{
	struct pcpu_config cfg;
	struct pcpu_stats_info info;
	pthread_t *threads;
	struct timespec t0, t1;
	unsigned int u, nr_units;
	size_t i, live = 0, bad = 0;
	uint64_t seed = 88172645463325252ULL;
	long rss0;

	nr_cpus = (unsigned int)sysconf(_SC_NPROCESSORS_ONLN);
	pcpu_config_init(&cfg);
	if (!getenv("PCPU_NR_UNITS"))
		cfg.nr_units = 256;
	if (pcpu_init(&cfg)) {
		perror("pcpu_init");
		return 1;
	}
	nr_units = pcpu_nr_units();
	if (nr_cpus > nr_units)
		nr_cpus = nr_units;
	rss0 = status_kb("VmRSS") + status_kb("VmPTE");
	clock_gettime(CLOCK_MONOTONIC, &t0);

	for (i = 0; i < NR_OBJECTS; i++) {
		size_t size = i % 2 ? 8 : (size_t)4 << (i / 2 % 11);

		objs[i].size = size;
		objs[i].id = i;
		objs[i].p = pcpu_alloc(size, size == 8 ? 8 : 4);
		if (!objs[i].p) {
			perror("pcpu_alloc");
			return 1;
		}
	}
	threads = calloc(nr_cpus, sizeof(*threads));
	for (u = 0; u < nr_cpus; u++)
		pthread_create(&threads[u], NULL, worker, (void *)(uintptr_t)u);
	for (u = 0; u < nr_cpus; u++)
		pthread_join(threads[u], NULL);

	/* free half, in random order */
	for (i = NR_OBJECTS - 1; i > 0; i--) {
		size_t j;
		struct object t;

		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		j = seed % (i + 1);
		t = objs[i];
		objs[i] = objs[j];
		objs[j] = t;
	}
	for (i = 0; i < NR_OBJECTS / 2; i++) {
		pcpu_free(objs[i].p);
		objs[i].p = NULL;
	}
	pcpu_balance();
	for (i = NR_OBJECTS / 2; i < NR_OBJECTS; i++, live++)
		bad += check_object(i, nr_units) != 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);

	printf("libpcpu demo: %u threads on %u CPUs, %u units per chunk\n",
	       nr_cpus, nr_cpus, nr_units);
	printf("  objects allocated   : %d (8 B counters and 4 B-4 KiB "
	       "structs)\n",
	       NR_OBJECTS);
	printf("  objects live/checked: %zu, %zu bad\n", live, bad);
	pcpu_stats_get(&info);
	printf("  chunks              : %lu\n", info.nr_chunks);
	printf("  populated pages     : %lu per unit (%lu KiB of address "
	       "space over all units)\n",
	       info.nr_populated_pages,
	       info.nr_populated_pages * (unsigned long)sysconf(_SC_PAGESIZE) *
		       nr_units / 1024);
	printf("  RSS + page tables   : %ld KiB over start (idle units cost "
	       "nothing)\n",
	       status_kb("VmRSS") + status_kb("VmPTE") - rss0);
	printf("  VMAs                : %d\n", vma_count());
	printf("  elapsed             : %.1f ms\n\n",
	       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	pcpu_stats_print(stdout);
	free(threads);
	if (bad) {
		fprintf(stderr, "demo: %zu objects lost their data\n", bad);
		return 1;
	}
	return 0;
}
