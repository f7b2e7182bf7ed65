// SPDX-License-Identifier: MIT
/*
 * kernel_style.c - code written as in the kernel, through <pcpu/linux.h>:
 * per-CPU statistics, a percpu_counter and a refcounted object.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <pcpu/linux.h>

struct net_stats {
	u64 rx_packets;
	u64 rx_bytes;
	u32 drops;
};

struct conn {
	struct percpu_ref ref;
	struct net_stats __percpu *stats;
	struct percpu_counter inflight;
	int released;
};

static struct conn conn;

static void conn_release(struct percpu_ref *ref)
{
	struct conn *c =
		(struct conn *)((char *)ref - offsetof(struct conn, ref));

	c->released++;
}

static void *rx_loop(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200000; i++) {
		if (!percpu_ref_tryget_live(&conn.ref))
			break;
		this_cpu_inc(conn.stats->rx_packets);
		this_cpu_add(conn.stats->rx_bytes, 64);
		if (i % 100 == 0)
			this_cpu_inc(conn.stats->drops);
		percpu_counter_inc(&conn.inflight);
		percpu_counter_dec(&conn.inflight);
		percpu_ref_put(&conn.ref);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[4];
	u64 packets = 0, bytes = 0;
	u32 drops = 0;
	int cpu;

	conn.stats = alloc_percpu(struct net_stats);
	if (!conn.stats ||
	    percpu_ref_init(&conn.ref, conn_release, 0, GFP_KERNEL) ||
	    percpu_counter_init(&conn.inflight, 0, GFP_KERNEL))
		return 1;
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, rx_loop, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for_each_possible_cpu(cpu)
	{
		struct net_stats *s = per_cpu_ptr(conn.stats, cpu);

		packets += s->rx_packets;
		bytes += s->rx_bytes;
		drops += s->drops;
	}
	percpu_ref_kill(&conn.ref);
	printf("kernel-style: %llu packets, %llu bytes, %u drops on %u CPUs; "
	       "inflight %lld; released %d\n",
	       (unsigned long long)packets, (unsigned long long)bytes, drops,
	       num_possible_cpus(),
	       (long long)percpu_counter_sum(&conn.inflight), conn.released);
	if (packets != 800000 || bytes != 800000ull * 64 || drops != 8000 ||
	    percpu_counter_sum(&conn.inflight) != 0 || conn.released != 1)
		return 1;
	percpu_counter_destroy(&conn.inflight);
	percpu_ref_exit(&conn.ref);
	free_percpu(conn.stats);
	return 0;
}
