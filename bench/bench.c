// SPDX-License-Identifier: MIT
/*
 * bench.c - libpcpu's benchmarks.  Every figure is the median of several
 * repetitions, printed with its spread (min-max) and, where there is one,
 * the ratio to a baseline measured in the same run.  Results go to stdout
 * as a table and to bench/results/latest.{md,csv}.
 *
 *   pcpu-bench [--quick] [--out DIR] [filter]
 *
 * --quick runs every benchmark once at tiny sizes (the smoke test of
 * `make test`); a filter runs only benchmarks whose name contains it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pcpu.h>
#include <pcpu/counter.h>
#include <pcpu/ops.h>
#include <pthread.h>
#include <sched.h>

#include "percpu-internal.h"

#define MAX_REPS 15

static bool quick;
static int reps = 5;
static FILE *md, *csv;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct stat3 {
	double med, min, max;
};

static struct stat3 summarize(double *v, int n)
{
	struct stat3 s;

	qsort(v, n, sizeof(*v), cmp_double);
	s.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	s.min = v[0];
	s.max = v[n - 1];
	return s;
}

/* One row of the results: what, the median and spread, a baseline ratio. */
static void row(const char *bench, const char *what, struct stat3 s,
		const char *unit, double baseline, const char *note)
{
	char ratio[32] = "";

	if (baseline > 0)
		snprintf(ratio, sizeof(ratio), "%.2fx", baseline / s.med);
	printf("  %-44s %10.1f %-6s [%8.1f - %8.1f] %8s %s\n", what, s.med,
	       unit, s.min, s.max, ratio, note ? note : "");
	if (md)
		fprintf(md, "| %s | %s | %.1f %s | %.1f - %.1f | %s | %s |\n",
			bench, what, s.med, unit, s.min, s.max, ratio,
			note ? note : "");
	if (csv)
		fprintf(csv, "%s,\"%s\",%.3f,%.3f,%.3f,%s,%s,\"%s\"\n", bench,
			what, s.med, s.min, s.max, unit, ratio,
			note ? note : "");
	fflush(stdout);
}

static void header(const char *name, const char *what)
{
	printf("\n%s: %s\n", name, what);
	if (md)
		fprintf(md,
			"\n### %s\n%s\n\n| bench | figure | median | "
			"spread | vs baseline | note "
			"|\n|---|---|---|---|---|---|\n",
			name, what);
}

static void start_allocator(unsigned int nr_units, int strict)
{
	struct pcpu_config cfg;

	pcpu_test_reset();
	pcpu_config_init(&cfg);
	cfg.nr_units = nr_units; /* 0: the possible CPUs */
	cfg.strict = strict;
	cfg.balance = 0;
	if (pcpu_init(&cfg)) {
		fprintf(stderr, "pcpu_init failed\n");
		exit(1);
	}
}

static void shuffle(void **p, size_t n, uint64_t *s)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rnd(s) % (i + 1);
		void *t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
}

/* ------------------------------------------------------------------ */

/* The kernel bitmap allocator's published figures for this shape:
 * Dennis Zhou, "percpu: replace area map allocator with bitmap", v2 cover
 * letter, 2017 (ms per 2^20 allocations / frees; other hardware). */
static const struct {
	size_t size;
	double alloc_ms, free_ms;
} kernel_2017[] = {{4, 490, 70},
		   {16, 520, 70},
		   {64, 610, 80},
		   {256, 960, 110},
		   {1024, 3520, 200}};

static void bench_kernel_shape(void)
{
	size_t n = quick ? 4096 : (size_t)1 << 20;
	void **p = malloc(n * sizeof(*p));
	uint64_t seed = 7;

	header("kernel_shape",
	       "2^20 allocations of one size, then frees in random order "
	       "(ns per operation; 2 units)");
	for (size_t k = 0; k < sizeof(kernel_2017) / sizeof(kernel_2017[0]);
	     k++) {
		double a[MAX_REPS], f[MAX_REPS], t0;
		char what[64], note[96];

		for (int r = 0; r < reps; r++) {
			start_allocator(2, 0);
			t0 = now_ns();
			for (size_t i = 0; i < n; i++)
				p[i] = pcpu_alloc(kernel_2017[k].size, 4);
			a[r] = (now_ns() - t0) / n;
			shuffle(p, n, &seed);
			t0 = now_ns();
			for (size_t i = 0; i < n; i++)
				pcpu_free(p[i]);
			f[r] = (now_ns() - t0) / n;
		}
		snprintf(what, sizeof(what), "alloc %zu B",
			 kernel_2017[k].size);
		snprintf(note, sizeof(note),
			 "kernel 2017: %.0f ns/op (other hardware)",
			 kernel_2017[k].alloc_ms * 1e6 / (1 << 20));
		row("kernel_shape", what, summarize(a, reps), "ns/op",
		    kernel_2017[k].alloc_ms * 1e6 / (1 << 20), note);
		snprintf(what, sizeof(what), "free %zu B", kernel_2017[k].size);
		snprintf(note, sizeof(note),
			 "kernel 2017: %.0f ns/op (other hardware)",
			 kernel_2017[k].free_ms * 1e6 / (1 << 20));
		row("kernel_shape", what, summarize(f, reps), "ns/op",
		    kernel_2017[k].free_ms * 1e6 / (1 << 20), note);
	}
	free(p);
}

/* Alloc + write unit 0 + free of one 8-byte object, over and over: the
 * zeroing cost (cleaner) is included, amortized as it happens. */
static void bench_hot_pair(void)
{
	static const unsigned int units[] = {2, 256};
	long n = quick ? 10000 : 2000000;

	header("hot_pair",
	       "pcpu_alloc(8) + write unit 0 + pcpu_free, same object "
	       "over and over (ns per pair, zeroing included)");
	for (int k = 0; k < 2; k++) {
		double v[MAX_REPS], t0;
		char what[64];

		for (int r = 0; r < reps; r++) {
			start_allocator(units[k], 0);
			t0 = now_ns();
			for (long i = 0; i < n; i++) {
				uint64_t *q = pcpu_alloc(8, 8);

				*pcpu_ptr(q, 0) = 1;
				pcpu_free(q);
			}
			v[r] = (now_ns() - t0) / n;
		}
		snprintf(what, sizeof(what), "alloc+free 8 B, %u units",
			 units[k]);
		row("hot_pair", what, summarize(v, reps), "ns", 0, NULL);
	}
}

/* Random-order pairs with many live objects: free a random live one,
 * allocate a new one in its place. */
static void bench_random_pairs(void)
{
	static const unsigned int units[] = {2, 256};
	size_t live = quick ? 10000 : 1000000;
	long n = quick ? 10000 : 2000000;
	void **p = malloc(live * sizeof(*p));

	header("random_pairs",
	       "10^6 live 8-byte objects; free a random one, allocate "
	       "another (ns per pair, zeroing included)");
	for (int k = 0; k < 2; k++) {
		double v[MAX_REPS], w[MAX_REPS], m[MAX_REPS], t0;
		static struct stat3 mb;
		uint64_t seed = 99;
		char what[64];

		for (int r = 0; r < reps; r++) {
			start_allocator(units[k], 0);
			for (size_t i = 0; i < live; i++) {
				p[i] = pcpu_alloc(8, 8);
				*pcpu_ptr((uint64_t *)p[i], 0) = i;
			}
			t0 = now_ns();
			for (long i = 0; i < n; i++) {
				size_t j = rnd(&seed) % live;

				pcpu_free(p[j]);
				p[j] = pcpu_alloc(8, 8);
			}
			v[r] = (now_ns() - t0) / n;
			/* the same with the program writing its new object in
			 * unit 0, so that the cleaner has bytes to clear */
			t0 = now_ns();
			for (long i = 0; i < n; i++) {
				size_t j = rnd(&seed) % live;

				pcpu_free(p[j]);
				p[j] = pcpu_alloc(8, 8);
				*pcpu_ptr((uint64_t *)p[j], 0) = 1;
			}
			w[r] = (now_ns() - t0) / n;
		}
		if (k == 0) {
			/* baseline: malloc/free with the same pattern */
			for (int r = 0; r < reps; r++) {
				for (size_t i = 0; i < live; i++)
					p[i] = malloc(8);
				t0 = now_ns();
				for (long i = 0; i < n; i++) {
					size_t j = rnd(&seed) % live;

					free(p[j]);
					p[j] = malloc(8);
				}
				m[r] = (now_ns() - t0) / n;
				for (size_t i = 0; i < live; i++)
					free(p[i]);
			}
			mb = summarize(m, reps);
			row("random_pairs", "malloc(8) + free, same pattern",
			    mb, "ns", 0, "baseline");
		}
		snprintf(what, sizeof(what), "random pair 8 B, %u units",
			 units[k]);
		row("random_pairs", what, summarize(v, reps), "ns", mb.med,
		    NULL);
		snprintf(what, sizeof(what),
			 "random pair 8 B + write unit 0, %u units", units[k]);
		row("random_pairs", what, summarize(w, reps), "ns", 0,
		    "includes a cache miss on the object");
	}
	free(p);
}

/* The backend: populate / depopulate one page in every one of 256 units. */
static void bench_populate(void)
{
	int runs = quick ? 5 : 300;
	double *v = malloc(sizeof(double) * runs);

	header("populate",
	       "pcpu_populate_chunk / pcpu_depopulate_chunk of one page "
	       "across 256 units (us per call, median of 300)");
	for (int strict = 0; strict < 2; strict++) {
		struct pcpu_chunk *c;
		const char *mode = strict ? "strict" : "default";
		char what[96];
		double t0;

		start_allocator(256, strict);
		pthread_mutex_lock(&pcpu_g.alloc_mutex);
		c = pcpu_create_chunk();
		for (int touch = 0; touch < 2; touch++) {
			double pop[300], dep[300];

			for (int i = 0; i < runs; i++) {
				t0 = now_ns();
				pcpu_populate_chunk(c, 1, 2);
				pop[i] = (now_ns() - t0) / 1e3;
				if (touch)
					for (unsigned int u = 0; u < 256; u++)
						c->base_addr
							[(u +
							  1) * pcpu_g.unit_size +
							 pcpu_g.page_size] = 1;
				t0 = now_ns();
				pcpu_depopulate_chunk(c, 1, 2);
				dep[i] = (now_ns() - t0) / 1e3;
			}
			if (!touch) {
				snprintf(what, sizeof(what),
					 "populate, %s mode", mode);
				row("populate", what, summarize(pop, runs),
				    "us", 0, NULL);
			}
			snprintf(what, sizeof(what), "depopulate, %s mode, %s",
				 mode,
				 touch ? "every unit page written"
				       : "pages untouched");
			row("populate", what, summarize(dep, runs), "us", 0,
			    NULL);
		}
		pcpu_destroy_chunk(c);
		pthread_mutex_unlock(&pcpu_g.alloc_mutex);
	}
	free(v);
}

/* ------------------------------------------------------------------
 * this-CPU update methods
 */

enum method {
	M_PCPU_ADD,
	M_COUNTER_ADD,
	M_TLS,
	M_SHARED_ATOMIC,
	M_THREAD_SLOT_ATOMIC,
	M_GETCPU_ATOMIC,
	M_RSEQ_CPU_ATOMIC,
	M_NR
};
static const char *const method_names[] = {
	"pcpu_add (rseq)",
	"pcpu_counter_add",
	"__thread plain add",
	"one shared atomic",
	"atomic on per-thread padded slot",
	"sched_getcpu + atomic on padded slot",
	"rseq cpu_id + atomic on padded slot"};

struct padded {
	uint64_t v;
	char pad[56];
} __attribute__((aligned(64)));

static uint64_t *upd_pcpu;
static struct pcpu_counter upd_ctr;
static struct padded upd_shared, upd_slots[256];
static __thread uint64_t upd_tls;
static long upd_iters;
static pthread_barrier_t upd_barrier;
static double upd_ns[64];

struct upd_arg {
	enum method m;
	int id;
};

static void *upd_thread(void *p)
{
	struct upd_arg *a = p;
	long n = upd_iters;
	double t0;

	pthread_barrier_wait(&upd_barrier);
	t0 = now_ns();
	switch (a->m) {
	case M_PCPU_ADD:
		for (long i = 0; i < n; i++)
			pcpu_add(upd_pcpu, 1);
		break;
	case M_COUNTER_ADD:
		for (long i = 0; i < n; i++)
			pcpu_counter_add(&upd_ctr, 1);
		break;
	case M_TLS:
		for (long i = 0; i < n; i++) {
			upd_tls++;
			__asm__ __volatile__("" ::: "memory");
		}
		break;
	case M_SHARED_ATOMIC:
		for (long i = 0; i < n; i++)
			__atomic_fetch_add(&upd_shared.v, 1, __ATOMIC_RELAXED);
		break;
	case M_THREAD_SLOT_ATOMIC:
		for (long i = 0; i < n; i++)
			__atomic_fetch_add(&upd_slots[a->id].v, 1,
					   __ATOMIC_RELAXED);
		break;
	case M_GETCPU_ATOMIC:
		for (long i = 0; i < n; i++)
			__atomic_fetch_add(&upd_slots[sched_getcpu() & 255].v,
					   1, __ATOMIC_RELAXED);
		break;
	default:
		for (long i = 0; i < n; i++) {
			unsigned int c = *(volatile unsigned int
						   *)(pcpu_rseq_area() +
						      PCPU_RSEQ_CPU_ID_OFFSET);

			__atomic_fetch_add(&upd_slots[c & 255].v, 1,
					   __ATOMIC_RELAXED);
		}
	}
	upd_ns[a->id] = (now_ns() - t0) / n;
	return NULL;
}

/* Mean ns/op per thread for @m with @threads threads. */
static double upd_run(enum method m, int threads)
{
	pthread_t t[64];
	struct upd_arg a[64];
	double sum = 0;

	pthread_barrier_init(&upd_barrier, NULL, (unsigned int)threads);
	for (int i = 0; i < threads; i++) {
		a[i] = (struct upd_arg){m, i};
		pthread_create(&t[i], NULL, upd_thread, &a[i]);
	}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&upd_barrier);
	for (int i = 0; i < threads; i++)
		sum += upd_ns[i];
	return sum / threads;
}

static void bench_update(void)
{
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	int threads[3] = {1, 2, 2 * ncpu};

	upd_iters = quick ? 100000 : 20000000;
	header("update",
	       "add 1 to a per-CPU (or shared) 64-bit counter; ns per op per "
	       "thread (aggregate = per-thread / threads); baseline: "
	       "sched_getcpu + atomic");
	start_allocator(0, 0);
	upd_pcpu = pcpu_alloc(8, 8);
	pcpu_counter_init(&upd_ctr, 0);
	if (!pcpu_rseq_limit)
		printf("  (rseq not in use here: pcpu_add runs atomic)\n");
	for (int k = 0; k < 3; k++) {
		double base[MAX_REPS], v[MAX_REPS];
		struct stat3 b;

		if (k == 2 && threads[2] == 2)
			break;
		for (int r = 0; r < reps; r++)
			base[r] = upd_run(M_GETCPU_ATOMIC, threads[k]);
		b = summarize(base, reps);
		for (int m = 0; m < M_NR; m++) {
			char what[96], note[64];
			struct stat3 st;

			for (int r = 0; r < reps; r++)
				v[r] = m == M_GETCPU_ATOMIC
					       ? base[r]
					       : upd_run((enum method)m,
							 threads[k]);
			st = summarize(v, reps);
			snprintf(what, sizeof(what), "%s, %d thread%s",
				 method_names[m], threads[k],
				 threads[k] > 1 ? "s" : "");
			snprintf(note, sizeof(note), "aggregate %.2f ns/op",
				 st.med / threads[k]);
			row("update", what, st, "ns/op", b.med, note);
		}
	}
	pcpu_counter_destroy(&upd_ctr);
	pcpu_free(upd_pcpu);
}

static const struct {
	const char *name;
	void (*fn)(void);
} benches[] = {
	{"update", bench_update},     {"kernel_shape", bench_kernel_shape},
	{"hot_pair", bench_hot_pair}, {"random_pairs", bench_random_pairs},
	{"populate", bench_populate},
};

int main(int argc, char **argv)
{
	const char *filter = NULL, *out = "bench/results";
	char path[512];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out = argv[++i];
		else
			filter = argv[i];
	}
	if (quick)
		reps = 1;
	mkdir(out, 0755);
	snprintf(path, sizeof(path), "%s/latest.md", out);
	md = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/latest.csv", out);
	csv = fopen(path, "w");
	if (md)
		fprintf(md,
			"# libpcpu benchmarks\n\n%ld online CPUs; median "
			"of %d repetitions, spread = min - max.\n",
			sysconf(_SC_NPROCESSORS_ONLN), reps);
	if (csv)
		fprintf(csv,
			"bench,figure,median,min,max,unit,vs_baseline,note\n");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		if (!filter || strstr(benches[i].name, filter))
			benches[i].fn();
	if (md)
		fclose(md);
	if (csv)
		fclose(csv);
	printf("\nresults: %s/latest.md, %s/latest.csv\n", out, out);
	return 0;
}
