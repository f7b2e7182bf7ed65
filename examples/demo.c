// SPDX-License-Identifier: MIT
/*
 * demo.c - libpcpu in one screen (`make demo`).
 *
 * A thread per CPU of the caller's mask (taskset -c 0 make demo: one)
 * counts requests with pcpu_inc() on a per-CPU u64 and with a
 * pcpu_counter, and bumps 10^5 per-CPU statistics counters, while the main
 * thread reads the sums as they grow.  The allocator runs with 256 units,
 * as on a 256-CPU machine: the memory it costs is what the threads wrote,
 * beside what one padded copy per CPU would cost.  The demo never reads
 * an idle unit: pcpu_sum() and the statistics ask the kernel which unit
 * pages exist.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pcpu.h>
#include <pcpu/counter.h>
#include <pcpu/read.h>

#define UNITS 256
#define NR_STATS 100 /* objects of 1000 u64 counters: 10^5 counters */
#define PER_STAT 1000
static uint64_t *requests;
static struct pcpu_counter served;
static uint64_t *stats[NR_STATS];
static int stop;
static long done_adds[CPU_SETSIZE];

/* until told to stop: one request, one served, one statistic each time */
static void *worker(void *arg)
{
	long id = (long)arg, i;

	for (i = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); i++) {
		pcpu_inc(requests);
		pcpu_counter_inc(&served);
		pcpu_inc(&stats[i % NR_STATS][(i / NR_STATS) % PER_STAT]);
	}
	done_adds[id] = i;
	return NULL;
}

/* resident + page-table KiB of the process (/proc/self/status) */
static long mem_kib(void)
{
	char line[256];
	long kib = 0, v;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1 ||
		    sscanf(line, "VmPTE: %ld", &v) == 1)
			kib += v;
	if (f)
		fclose(f);
	return kib;
}

/* "this-CPU operations: ...; NUMA placement: ..." from the status lines */
static void print_status(void)
{
	char *buf = NULL, *second, *end;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f || pcpu_status_print(f))
		return;
	fclose(f);
	second = strchr(buf, '\n');
	if (second && (end = strchr(second + 1, '\n'))) {
		*second++ = '\0';
		*end = '\0';
		printf("status: %s; %s\n", buf, second);
	}
	free(buf);
}

int main(void)
{
	struct pcpu_config cfg;
	struct pcpu_stats_info info;
	cpu_set_t mask;
	pthread_t t[CPU_SETSIZE];
	int n, i;
	long before;
	uint64_t total = 0, adds = 0;
	double naive_mib;

	CPU_ZERO(&mask);
	sched_getaffinity(0, sizeof(mask), &mask);
	n = CPU_COUNT(&mask);
	pcpu_config_init(&cfg);
	cfg.nr_units = getenv("PCPU_NR_UNITS") ? 0 : UNITS;
	if (pcpu_init(&cfg)) {
		perror("pcpu_init");
		return 1;
	}
	printf("libpcpu demo: %d thread%s on %d CPU%s (your CPU mask), %u "
	       "units (simulated CPUs)\n",
	       n, n > 1 ? "s" : "", n, n > 1 ? "s" : "", pcpu_nr_units());
	print_status();
	before = mem_kib();
	requests = pcpu_alloc_type(uint64_t);
	if (!requests || pcpu_counter_init(&served, 0))
		return 1;
	for (i = 0; i < NR_STATS; i++)
		if (!(stats[i] = pcpu_alloc_array(uint64_t, PER_STAT)))
			return 1;
	for (long k = 0; k < n; k++)
		pthread_create(&t[k], NULL, worker, (void *)k);
	for (int k = 0; k < 4; k++) {
		usleep(100000);
		printf("  while they run: pcpu_sum(requests) = %-10llu "
		       "pcpu_counter_sum(&served) = %lld\n",
		       (unsigned long long)pcpu_sum(requests),
		       (long long)pcpu_counter_sum(&served));
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		adds += done_adds[i];
	}
	for (i = 0; i < NR_STATS; i++)
		for (int j = 0; j < PER_STAT; j++)
			total += pcpu_sum(&stats[i][j]);
	printf("joined: requests %llu, served %lld, statistics %llu; the "
	       "threads made %llu of each: %s\n",
	       (unsigned long long)pcpu_sum(requests),
	       (long long)pcpu_counter_sum(&served), (unsigned long long)total,
	       (unsigned long long)adds,
	       pcpu_sum(requests) == adds && total == adds &&
			       pcpu_counter_sum(&served) == (int64_t)adds
		       ? "exact"
		       : "MISMATCH");
	pcpu_stats_get(&info);
	naive_mib = (double)pcpu_nr_units() * 64 * (NR_STATS * PER_STAT + 2) /
		    (1 << 20);
	printf("memory for 10^5 + 2 counters over %u units: %.1f MiB (RSS + "
	       "page tables); one 64-byte padded copy per CPU: %.0f MiB\n",
	       pcpu_nr_units(), (double)(mem_kib() - before) / 1024, naive_mib);
	printf("units touched: %d of %u (highest %d), asked of the kernel; "
	       "idle units cost nothing\n",
	       info.units_with_pages, pcpu_nr_units(),
	       info.max_unit_with_pages);
	return 0;
}
