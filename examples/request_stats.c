// SPDX-License-Identifier: MIT
/*
 * request_stats.c - per-CPU statistics in a multi-threaded request loop:
 * every worker counts requests, bytes and errors on its CPU's copy with
 * no lock and no atomic; a reporter sums the copies.
 */
#include <pthread.h>
#include <stdio.h>

#include <pcpu/counter.h>
#include <pcpu/ops.h>

struct req_stats {
	uint64_t requests;
	uint64_t bytes;
	uint64_t errors;
};

static struct req_stats *stats;
static struct pcpu_counter latency_us; /* total latency, folded */

static void *worker(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;

	for (int i = 0; i < 500000; i++) {
		seed = seed * 1103515245u + 12345u;
		pcpu_inc(&stats->requests);
		pcpu_add(&stats->bytes, 100 + seed % 900);
		if (seed % 1000 == 0)
			pcpu_inc(&stats->errors);
		pcpu_counter_add(&latency_us, 1 + seed % 50);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[4];
	struct req_stats sum = {0, 0, 0};

	stats = pcpu_alloc(sizeof(*stats), _Alignof(struct req_stats));
	if (!stats || pcpu_counter_init(&latency_us, 0))
		return 1;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (unsigned int u = 0; u < pcpu_nr_units(); u++) {
		struct req_stats *s = pcpu_ptr(stats, u);

		sum.requests += s->requests;
		sum.bytes += s->bytes;
		sum.errors += s->errors;
	}
	printf("requests %llu, bytes %llu, errors %llu, mean latency %.1f us\n",
	       (unsigned long long)sum.requests, (unsigned long long)sum.bytes,
	       (unsigned long long)sum.errors,
	       (double)pcpu_counter_sum(&latency_us) / (double)sum.requests);
	pcpu_counter_destroy(&latency_us);
	pcpu_free(stats);
	return sum.requests == 2000000 ? 0 : 1;
}
