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

#include "../tests/test.h"
#include "percpu-internal.h"

#define MAX_REPS 15

static bool quick;
static const char *out_dir = "bench/results";

static FILE *dat_open(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", out_dir, name);
	return fopen(path, "w");
}
static int reps = 5;
static FILE *md, *csv;

#define now_ns test_now_ns
#define rnd test_rand

/* The calling thread's CPU time in ns: the primary figure of a timed loop
 * (the machines are shared; wall time goes beside it). */
static double thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
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
	char ratio[32] = "", flagged[256];

	/* the rule of the benchmarks: a spread over 2x is unstable (rerun) */
	if (s.min > 0 && s.max > 2 * s.min) {
		snprintf(flagged, sizeof(flagged), "UNSTABLE (spread > 2x)%s%s",
			 note && *note ? "; " : "", note ? note : "");
		note = flagged;
	}

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

/*
 * Two configurations timed in the same rounds: @a (first row) and @b
 * (second row), each with its wall figure in the note, the second also
 * with @ratio (computed per round by the caller, named @ratio_name).
 * Sorts the arrays (summarize()).
 */
static void two_rows(const char *bench, const char *unit, int rounds,
		     const char *what_a, double *a, double *wa,
		     const char *what_b, double *b, double *wb,
		     const char *ratio_name, double *ratio)
{
	struct stat3 sr = summarize(ratio, rounds);
	char note[192];

	snprintf(note, sizeof(note), "wall %.2f %s", summarize(wa, rounds).med,
		 unit);
	row(bench, what_a, summarize(a, rounds), unit, 0, note);
	snprintf(note, sizeof(note),
		 "wall %.2f %s; per-round %s %.3f [%.3f - %.3f]",
		 summarize(wb, rounds).med, unit, ratio_name, sr.med, sr.min,
		 sr.max);
	row(bench, what_b, summarize(b, rounds), unit, 0, note);
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

/* @index: PCPU_INDEX_CPU, _CID, or -1 (PCPU_INDEX, else auto) */
static void start_allocator_index(unsigned int nr_units, int strict, int index)
{
	struct pcpu_config cfg;

	pcpu_test_reset();
	pcpu_config_init(&cfg);
	cfg.nr_units = nr_units; /* 0: the possible CPUs */
	cfg.strict = strict;
	cfg.balance = 0;
	cfg.index = index;
	if (pcpu_init(&cfg)) {
		fprintf(stderr, "pcpu_init failed\n");
		exit(1);
	}
}

static void start_allocator(unsigned int nr_units, int strict)
{
	start_allocator_index(nr_units, strict, -1);
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

/* 2^20 allocations of @size (pcpu, or malloc with @use_malloc), then the
 * frees in random order; *@free_ns the free figure.  Thread CPU time. */
static double ks_run(bool use_malloc, size_t size, void **p, size_t n,
		     uint64_t *seed, double *free_ns)
{
	double t0 = thread_cpu_ns(), alloc_ns;

	for (size_t i = 0; i < n; i++)
		p[i] = use_malloc ? malloc(size) : pcpu_alloc(size, 4);
	alloc_ns = (thread_cpu_ns() - t0) / n;
	shuffle(p, n, seed);
	t0 = thread_cpu_ns();
	for (size_t i = 0; i < n; i++) {
		if (use_malloc)
			free(p[i]);
		else
			pcpu_free(p[i]);
	}
	*free_ns = (thread_cpu_ns() - t0) / n;
	return alloc_ns;
}

static void bench_kernel_shape(void)
{
	size_t n = quick ? 4096 : (size_t)1 << 20;
	void **p = malloc(n * sizeof(*p));
	uint64_t seed = 7;

	header("kernel_shape",
	       "2^20 allocations of one size, then frees in random order "
	       "(ns per operation on the thread's CPU clock; 2 units); "
	       "malloc of the same sizes in the same round");
	for (size_t k = 0; k < sizeof(kernel_2017) / sizeof(kernel_2017[0]);
	     k++) {
		double a[MAX_REPS], f[MAX_REPS], ma[MAX_REPS], mf[MAX_REPS];
		double ra[MAX_REPS], rf[MAX_REPS];
		size_t size = kernel_2017[k].size;
		struct stat3 sma, smf, sra, srf;
		char what[64], note[192];

		for (int r = 0; r < reps; r++) {
			start_allocator(2, 0);
			a[r] = ks_run(false, size, p, n, &seed, &f[r]);
			ma[r] = ks_run(true, size, p, n, &seed, &mf[r]);
			ra[r] = a[r] / ma[r];
			rf[r] = f[r] / mf[r];
		}
		sma = summarize(ma, reps);
		smf = summarize(mf, reps);
		sra = summarize(ra, reps);
		srf = summarize(rf, reps);
		snprintf(what, sizeof(what), "alloc %zu B", size);
		snprintf(note, sizeof(note),
			 "malloc %.1f ns, per round pcpu / malloc %.2f "
			 "[%.2f - %.2f]; kernel 2017: %.0f ns/op (other "
			 "hardware)",
			 sma.med, sra.med, sra.min, sra.max,
			 kernel_2017[k].alloc_ms * 1e6 / (1 << 20));
		row("kernel_shape", what, summarize(a, reps), "ns/op", 0, note);
		snprintf(what, sizeof(what), "free %zu B", size);
		snprintf(note, sizeof(note),
			 "malloc's free %.1f ns, per round pcpu / malloc %.2f "
			 "[%.2f - %.2f]; kernel 2017: %.0f ns/op (other "
			 "hardware)",
			 smf.med, srf.med, srf.min, srf.max,
			 kernel_2017[k].free_ms * 1e6 / (1 << 20));
		row("kernel_shape", what, summarize(f, reps), "ns/op", 0, note);
	}
	free(p);
}

/* Alloc + write unit 0 + free of one 8-byte object, over and over: the
 * zeroing cost (cleaner) is included, amortized as it happens.  Thread CPU
 * time, wall beside it; calloc(1, 8) + write + free in the same round. */
static double hp_pairs(bool use_calloc, long n, double *wall)
{
	double c0 = thread_cpu_ns(), w0 = now_ns();

	for (long i = 0; i < n; i++) {
		if (use_calloc) {
			uint64_t *q = calloc(1, 8);

			*(volatile uint64_t *)q = 1;
			free(q);
		} else {
			uint64_t *q = pcpu_alloc(8, 8);

			*pcpu_ptr(q, 0) = 1;
			pcpu_free(q);
		}
	}
	*wall = (now_ns() - w0) / n;
	return (thread_cpu_ns() - c0) / n;
}

static void bench_hot_pair(void)
{
	static const unsigned int units[] = {2, 256};
	int rounds = quick ? 1 : 9;
	long n = quick ? 10000 : 2000000;

	header("hot_pair",
	       "pcpu_alloc(8) + write unit 0 + pcpu_free, same object over and "
	       "over (zeroing included); ns per pair on the thread's CPU "
	       "clock (wall in the note), rounds interleaved; baseline: "
	       "calloc(1, 8) + write + free in the same round");
	for (int k = 0; k < 2; k++) {
		double v[MAX_REPS], m[MAX_REPS], ratio[MAX_REPS];
		double wv[MAX_REPS], wm[MAX_REPS];
		char what_m[64], what_v[64];

		for (int r = 0; r < rounds; r++) {
			start_allocator(units[k], 0);
			v[r] = hp_pairs(false, n, &wv[r]);
			m[r] = hp_pairs(true, n, &wm[r]);
			ratio[r] = v[r] / m[r];
		}
		snprintf(what_m, sizeof(what_m),
			 "calloc+free 8 B (round of %u units)", units[k]);
		snprintf(what_v, sizeof(what_v), "alloc+free 8 B, %u units",
			 units[k]);
		two_rows("hot_pair", "ns", rounds, what_m, m, wm, what_v, v, wv,
			 "pcpu / calloc", ratio);
	}
}

/* Random-order pairs with many live objects: free a random live one,
 * allocate a new one in its place (and write it, as a program would). */
static double rp_pairs(int how, void **p, size_t live, long n, uint64_t *seed,
		       double *wall)
{
	double c0 = thread_cpu_ns(), w0 = now_ns();

	for (long i = 0; i < n; i++) {
		size_t j = rnd(seed) % live;

		if (how == 2) { /* malloc + write */
			free(p[j]);
			p[j] = malloc(8);
			*(volatile uint64_t *)p[j] = 1;
			continue;
		}
		pcpu_free(p[j]);
		p[j] = pcpu_alloc(8, 8);
		if (how == 1)
			*pcpu_ptr((uint64_t *)p[j], 0) = 1;
	}
	*wall = (now_ns() - w0) / n;
	return (thread_cpu_ns() - c0) / n;
}

static void bench_random_pairs(void)
{
	static const unsigned int units[] = {2, 256};
	static const char *const names[] = {"random pair 8 B",
					    "random pair 8 B + write unit 0",
					    "malloc(8) + write + free"};
	int rounds = quick ? 1 : 7;
	size_t live = quick ? 10000 : 1000000;
	long n = quick ? 10000 : 2000000;
	void **p = malloc(live * sizeof(*p));

	header("random_pairs",
	       "10^6 live 8-byte objects; free a random one, allocate another "
	       "(zeroing included); ns per pair on the thread's CPU clock "
	       "(wall in the note), rounds interleaved; baseline: malloc(8) + "
	       "write + free, same pattern, same round");
	for (int k = 0; k < 2; k++) {
		double v[3][MAX_REPS], w[3][MAX_REPS], ratio[MAX_REPS];
		uint64_t seed = 99;

		for (int r = 0; r < rounds; r++) {
			start_allocator(units[k], 0);
			for (size_t i = 0; i < live; i++) {
				p[i] = pcpu_alloc(8, 8);
				*pcpu_ptr((uint64_t *)p[i], 0) = i;
			}
			for (int how = 0; how < 2; how++)
				v[how][r] = rp_pairs(how, p, live, n, &seed,
						     &w[how][r]);
			for (size_t i = 0; i < live; i++)
				p[i] = malloc(8);
			v[2][r] = rp_pairs(2, p, live, n, &seed, &w[2][r]);
			for (size_t i = 0; i < live; i++)
				free(p[i]);
			ratio[r] = v[1][r] / v[2][r];
		}
		for (int how = 0; how < 3; how++) {
			struct stat3 sr = summarize(ratio, rounds);
			char what[96], note[128];

			snprintf(what, sizeof(what), "%s, %u units", names[how],
				 units[k]);
			if (how == 1)
				snprintf(note, sizeof(note),
					 "wall %.1f ns; per-round / malloc + "
					 "write %.2f [%.2f - %.2f]",
					 summarize(w[how], rounds).med, sr.med,
					 sr.min, sr.max);
			else
				snprintf(note, sizeof(note), "wall %.1f ns",
					 summarize(w[how], rounds).med);
			row("random_pairs", what, summarize(v[how], rounds),
			    "ns", 0, note);
		}
	}
	free(p);
}

/* The backend: populate / depopulate one page in every one of 256 units. */
static void bench_populate(void)
{
	int runs = quick ? 5 : 300;

	header("populate",
	       "pcpu_populate_chunk / pcpu_depopulate_chunk of one page "
	       "across 256 units (us per call, median of 300)");
	for (int strict = 0; strict < 2; strict++) {
		struct pcpu_chunk *c;
		const char *mode = strict ? "strict" : "default";
		char what[96];
		double t0;

		start_allocator(256, strict);
		pcpu_mutex_lock();
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
							  1) * pcpu_geo.unit_size +
							 pcpu_geo.page_size] =
							1;
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
		pcpu_mutex_unlock();
	}
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
						   *)(__pcpu_rseq_area() +
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
	if (!*__pcpu_rseq_limit())
		printf("  (rseq not in use here: pcpu_add runs atomic)\n");
	FILE *dat = dat_open("update.dat");

	if (dat) {
		fprintf(dat, "threads");
		for (int m = 0; m < M_NR; m++)
			fprintf(dat, " \"%s\"", method_names[m]);
		fputc('\n', dat);
	}
	for (int k = 0; k < 3; k++) {
		double base[MAX_REPS], v[MAX_REPS];
		struct stat3 b;

		if (k == 2 && threads[2] == 2)
			break;
		if (dat)
			fprintf(dat, "%d", threads[k]);
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
			if (dat)
				fprintf(dat, " %.3f", st.med);
		}
		if (dat)
			fputc('\n', dat);
	}
	if (dat)
		fclose(dat);
	pcpu_counter_destroy(&upd_ctr);
	pcpu_free(upd_pcpu);
}

/* ------------------------------------------------------------------
 * allocation pairs against naive per-CPU arrays and malloc
 */

enum allocator { A_PCPU, A_NAIVE, A_MALLOC };

static unsigned int naive_cpus;

/* One object of @size in every one of naive_cpus "CPUs", zeroed. */
static void *naive_alloc(size_t size)
{
	size_t padded = (size + 63) & ~(size_t)63;
	void *p = aligned_alloc(64, padded * naive_cpus);

	if (p)
		memset(p, 0, padded * naive_cpus);
	return p;
}

static void *any_alloc(enum allocator a, size_t size)
{
	switch (a) {
	case A_PCPU:
		return pcpu_alloc(size, size < 8 ? size : 8);
	case A_NAIVE:
		return naive_alloc(size);
	default:
		return calloc(1, size);
	}
}

static void any_free(enum allocator a, void *p)
{
	if (a == A_PCPU)
		pcpu_free(p);
	else
		free(p);
}

/* ns per alloc+free pair with @live objects live; @random frees a random
 * live object each time, else the same object is freed and reallocated. */
static double pair_run(enum allocator a, size_t size, size_t live, bool random,
		       long n, void **p)
{
	uint64_t seed = 5;
	double t0, ns;

	for (size_t i = 0; i < live; i++)
		p[i] = any_alloc(a, size);
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		size_t j = random ? rnd(&seed) % live : 0;

		any_free(a, p[j]);
		p[j] = any_alloc(a, size);
	}
	ns = (now_ns() - t0) / n;
	for (size_t i = 0; i < live; i++)
		any_free(a, p[i]);
	return ns;
}

static void bench_alloc_pairs(void)
{
	static const size_t sizes[] = {4, 8, 64, 256, 1024, 4096};
	static const size_t lives[] = {1000, 100000, 1000000};
	static const unsigned int units[] = {2, 256};
	static const char *const names[] = {"pcpu", "naive array", "malloc"};
	size_t max_live = quick ? 1000 : 1000000;
	void **p = malloc(max_live * sizeof(*p));
	long n = quick ? 1000 : 200000;

	header("alloc_pairs",
	       "alloc+free pairs, hot (same object) and random, with N live "
	       "objects (ns per pair); naive array = aligned_alloc(units x "
	       "padded size) + memset; baseline: naive array.  Configurations "
	       "whose naive arrays would exceed 1 GiB are skipped.");
	for (int uk = 0; uk < 2; uk++)
		for (size_t si = 0; si < 6; si++)
			for (size_t li = 0; li < 3; li++)
				for (int rnd_ = 0; rnd_ < 2; rnd_++) {
					size_t live = quick ? 1000 : lives[li];
					size_t padded =
						(sizes[si] + 63) & ~(size_t)63;
					struct stat3 st[3];

					if (quick && li)
						continue;
					if ((double)live * padded * units[uk] >
					    1e9)
						continue;
					naive_cpus = units[uk];
					for (int a = 2; a >= 0; a--) {
						double v[MAX_REPS];

						for (int r = 0; r < reps; r++) {
							if (a == A_PCPU)
								start_allocator(
									units[uk],
									0);
							v[r] = pair_run(
								(enum allocator)
									a,
								sizes[si], live,
								rnd_, n, p);
						}
						st[a] = summarize(v, reps);
					}
					for (int a = 0; a < 3; a++) {
						char what[128];

						snprintf(what, sizeof(what),
							 "%s %s %zu B, %zu "
							 "live, %u units",
							 names[a],
							 rnd_ ? "random"
							      : "hot",
							 sizes[si], live,
							 units[uk]);
						row("alloc_pairs", what, st[a],
						    "ns",
						    a == A_NAIVE
							    ? 0
							    : st[A_NAIVE].med,
						    NULL);
					}
				}
	free(p);
}

/* ------------------------------------------------------------------ */

static void mem_row(const char *what, long rss0, long pte0, int vma0)
{
	struct stat3 r = {(double)(test_status_kb("VmRSS") - rss0) / 1024, 0,
			  0};
	struct stat3 t = {(double)(test_status_kb("VmPTE") - pte0) / 1024, 0,
			  0};
	struct stat3 v = {(double)(test_vma_count() - vma0), 0, 0};
	char w[160];

	r.min = r.max = r.med;
	t.min = t.max = t.med;
	v.min = v.max = v.med;
	snprintf(w, sizeof(w), "%s: RSS", what);
	row("memory", w, r, "MiB", 0, "single measurement");
	snprintf(w, sizeof(w), "%s: page tables", what);
	row("memory", w, t, "MiB", 0, NULL);
	snprintf(w, sizeof(w), "%s: VMAs", what);
	row("memory", w, v, "", 0, NULL);
}

/* 10^6 x 8 B at 256 units written by one CPU, vs naive padded arrays. */
static void bench_memory(void)
{
	size_t n = quick ? 10000 : 1000000;
	void **p = calloc(n, sizeof(*p));
	long rss0, pte0;
	int vma0;

	header("memory",
	       "10^6 live 8-byte objects, 256 units, written through unit 0 "
	       "only (growth over the start; page tables counted)");
	start_allocator(256, 0);
	/* the pointer array is the bench's, not libpcpu's: fault it in
	 * before the baseline (whether calloc() reused warm memory depended
	 * on the benchmarks run before, which moved the figure by 7.6 MiB) */
	memset(p, 1, n * sizeof(*p));
	rss0 = test_status_kb("VmRSS");
	pte0 = test_status_kb("VmPTE");
	vma0 = test_vma_count();
	for (size_t i = 0; i < n; i++) {
		p[i] = pcpu_alloc(8, 8);
		*pcpu_ptr((uint64_t *)p[i], 0) = i;
	}
	mem_row("pcpu, live", rss0, pte0, vma0);
	for (size_t i = 0; i < n; i++)
		pcpu_free(p[i]);
	pcpu_balance();
	mem_row("pcpu, after free-all + pcpu_balance", rss0, pte0, vma0);
	pcpu_test_reset();

	rss0 = test_status_kb("VmRSS");
	pte0 = test_status_kb("VmPTE");
	vma0 = test_vma_count();
	naive_cpus = 256;
	for (size_t i = 0; i < n; i++) {
		p[i] = naive_alloc(8); /* 256 x 64 B, zeroed */
		*(uint64_t *)p[i] = i;
	}
	mem_row("naive padded arrays (256 x 64 B each), live", rss0, pte0,
		vma0);
	for (size_t i = 0; i < n; i++)
		free(p[i]);
	free(p);
}

/* Cost per pair as live objects grow, relative to 10^3. */
static void bench_growth(void)
{
	static const size_t lives[] = {1000, 10000, 100000, 1000000, 10000000};
	size_t max = quick ? 10000 : 10000000;
	void **p = malloc(max * sizeof(*p));
	double base = 0;

	FILE *dat = dat_open("growth.dat");

	header("growth",
	       "alloc+free pair (random order, 8 B, 2 units) as live objects "
	       "grow; ratio = cost at 10^3 / cost here");
	for (int li = 0; li < 5 && lives[li] <= max; li++) {
		double v[MAX_REPS];
		char what[64];
		struct stat3 st;

		for (int r = 0; r < reps; r++) {
			start_allocator(2, 0);
			v[r] = pair_run(A_PCPU, 8, lives[li], true,
					quick ? 1000 : 500000, p);
		}
		st = summarize(v, reps);
		if (!li)
			base = st.med;
		snprintf(what, sizeof(what), "%zu live", lives[li]);
		row("growth", what, st, "ns", base, NULL);
		if (dat)
			fprintf(dat, "%zu %.3f\n", lives[li], st.med);
	}
	if (dat)
		fclose(dat);
	free(p);
}

/* A burst of pcpu_alloc_nowait: failures with and without the balancer. */
static void bench_nowait(void)
{
	int burst = quick ? 2000 : 200000;
	void **p = malloc((size_t)burst * sizeof(*p));

	header("nowait",
	       "burst of pcpu_alloc_nowait(64) with a 10 us pause every 100; "
	       "failure rate, and the balance thread's CPU time");
	for (int bal = 0; bal < 2; bal++) {
		struct pcpu_config cfg;
		struct timespec t1;
		double fails[MAX_REPS], cpu[MAX_REPS];
		char what[96];

		for (int r = 0; r < reps; r++) {
			int failed = 0;

			pcpu_test_reset();
			pcpu_config_init(&cfg);
			cfg.balance = bal;
			pcpu_init(&cfg);
			pcpu_free(pcpu_alloc(8, 8));
			pcpu_balance();
			for (int i = 0; i < burst; i++) {
				p[i] = pcpu_alloc_nowait(64, 8);
				failed += !p[i];
				if (i % 100 == 99)
					usleep(10);
			}
			fails[r] = 100.0 * failed / burst;
			cpu[r] = 0;
			if (bal && pcpu_g.balance_running) {
				clockid_t cid;

				pthread_getcpuclockid(pcpu_g.balance_thread,
						      &cid);
				clock_gettime(cid, &t1);
				cpu[r] = (t1.tv_sec * 1e9 + t1.tv_nsec) / 1e6;
			}
			for (int i = 0; i < burst; i++)
				pcpu_free(p[i]);
		}
		snprintf(what, sizeof(what), "failure rate, balancer %s",
			 bal ? "on" : "off");
		row("nowait", what, summarize(fails, reps), "%", 0, NULL);
		if (bal) {
			snprintf(what, sizeof(what), "balance thread CPU time");
			row("nowait", what, summarize(cpu, reps), "ms", 0,
			    "CPU clock of the balance thread over the burst");
		}
	}
	free(p);
}

/* ------------------------------------------------------------------
 * counter adds against a continuous exact reader
 */

static struct pcpu_counter rd_ctr;
static bool rd_stop;
static long rd_sums;

static void *rd_reader(void *arg)
{
	(void)arg;
	while (!TEST_LOAD(rd_stop)) {
		(void)pcpu_counter_sum(&rd_ctr);
		__atomic_add_fetch(&rd_sums, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* ns per add of @amount on this thread's CPU clock; *@wall: wall ns/op. */
static double rd_adds(long n, int64_t amount, bool reader, double *wall)
{
	pthread_t t;
	double c0, w0, cpu;

	if (reader) {
		TEST_STORE(rd_stop, false);
		pthread_create(&t, NULL, rd_reader, NULL);
		while (!TEST_LOAD(rd_sums))
			sched_yield();
	}
	c0 = thread_cpu_ns();
	w0 = now_ns();
	for (long i = 0; i < n; i++)
		pcpu_counter_add(&rd_ctr, amount);
	cpu = (thread_cpu_ns() - c0) / n;
	*wall = (now_ns() - w0) / n;
	if (reader) {
		TEST_STORE(rd_stop, true);
		pthread_join(t, NULL);
		TEST_STORE(rd_sums, 0);
	}
	return cpu;
}

static void bench_counter_reader(void)
{
	int rounds = quick ? 1 : 9;
	long n = quick ? 100000 : 5000000;
	static const int64_t amounts[] = {1, 1000};

	header("counter_reader",
	       "pcpu_counter_add() on one thread, alone and while another "
	       "thread loops pcpu_counter_sum(); ns/op on the adder's CPU "
	       "clock (wall in the note), rounds interleaved, ratio = with / "
	       "alone per round");
	start_allocator(0, 0);
	pcpu_counter_init(&rd_ctr, 0);
	for (int k = 0; k < 2; k++) {
		double alone[MAX_REPS], with[MAX_REPS], ratio[MAX_REPS];
		double wa[MAX_REPS], ww[MAX_REPS];
		struct stat3 sa, sw, sr;
		char what[96], note[96];

		for (int r = 0; r < rounds; r++) {
			alone[r] = rd_adds(n, amounts[k], false, &wa[r]);
			with[r] = rd_adds(n, amounts[k], true, &ww[r]);
			ratio[r] = with[r] / alone[r];
		}
		sa = summarize(alone, rounds);
		sw = summarize(with, rounds);
		sr = summarize(ratio, rounds);
		snprintf(what, sizeof(what), "add %lld, alone",
			 (long long)amounts[k]);
		snprintf(note, sizeof(note), "wall %.1f ns/op",
			 summarize(wa, rounds).med);
		row("counter_reader", what, sa, "ns/op", 0, note);
		snprintf(what, sizeof(what), "add %lld, with a summing reader",
			 (long long)amounts[k]);
		snprintf(note, sizeof(note),
			 "wall %.1f ns/op; per-round ratio %.2f [%.2f - %.2f]",
			 summarize(ww, rounds).med, sr.med, sr.min, sr.max);
		row("counter_reader", what, sw, "ns/op", 0, note);
	}
	pcpu_counter_destroy(&rd_ctr);
}

/* ------------------------------------------------------------------
 * the index mode: units numbered by CPU or by concurrency ID (mm_cid)
 */

static const char *index_name(void)
{
	const char *why;

	return pcpu_ops_mode(&why) == PCPU_OPS_RSEQ ? why : "atomic";
}

static pthread_barrier_t ix_barrier;
static long ix_iters;
static double ix_cpu[2], ix_wall[2];

/* ------------------------------------------------------------------
 * the this-CPU add against the smallest correct rseq add
 */

/*
 * The floor: the smallest correct rseq add of one u64, written here and
 * not in the library: the CPU number read before the section and compared
 * inside it (a restart reads it again), the unit's address by a constant
 * shift (the default 64 KiB unit), no limit, no index mode, no fallback.
 * It is correct only while every thread of the process runs rseq; it is
 * what pcpu_add() is measured against.
 */
#define AF_SHIFT 16
#if defined(__x86_64__) && !defined(PCPU_OPS_GENERIC)
#define AF_FLOOR 1
static inline void af_floor_add(uint64_t *ptr)
{
	unsigned int cpu;
	char *at;

retry:
	cpu = *(volatile unsigned int *)(__pcpu_rseq_area() +
					 PCPU_RSEQ_CPU_ID_OFFSET);
	at = (char *)ptr + (((size_t)cpu + 1) << AF_SHIFT);
	__asm__ __volatile__ goto(
		__PCPU_RSEQ_CS_DESC
		"leaq 3b(%%rip), %%rax\n\t"
		"movq %%rax, %%fs:" __PCPU_RSEQ_CS "(%[rs])\n\t"
		"1:\n\t"
		"cmpl %%fs:" __PCPU_CPU_ID "(%[rs]), %[cpu]\n\t"
		"jne %l[abort]\n\t"
		"addq $1, (%[at])\n\t" __PCPU_CS_END
		:
		: [rs] "r"(__rseq_offset), [cpu] "r"(cpu), [at] "r"(at)
		: "memory", "cc", "rax"
		: abort, slow);
	return;
abort:
	goto retry;
slow:
	goto retry; /* the shared epilogue names it; never taken */
}

/* ns per cycle: a chain of dependent register adds, one cycle each */
static double af_cycle_ns(void)
{
	long n = quick ? 1000000 : 100000000;
	uint64_t x = 0, y = (uint64_t)n;
	double c0 = thread_cpu_ns();

	for (long i = 0; i < n / 4; i++)
		__asm__ __volatile__("addq %1, %0\n\taddq %1, %0\n\t"
				     "addq %1, %0\n\taddq %1, %0"
				     : "+r"(x)
				     : "r"(y));
	return (thread_cpu_ns() - c0) / (double)(n / 4 * 4);
}
#endif

enum af_what { AF_FLOOR_ADD, AF_PCPU_CPU, AF_PCPU_CID, AF_TLS, AF_NR };
static const char *const af_names[AF_NR] = {
	"floor (rseq add written in the benchmark)",
	"pcpu_add, PCPU_INDEX=cpu",
	"pcpu_add, PCPU_INDEX=cid",
	"__thread plain add",
};
static enum af_what af_cur;
static __thread uint64_t af_tls;

static void *af_adder(void *arg)
{
	long id = (long)arg, n = ix_iters;
	double c0, w0;

	pthread_barrier_wait(&ix_barrier);
	c0 = thread_cpu_ns();
	w0 = now_ns();
	switch (af_cur) {
#ifdef AF_FLOOR
	case AF_FLOOR_ADD:
		for (long i = 0; i < n; i++)
			af_floor_add(upd_pcpu);
		break;
#endif
	case AF_TLS:
		for (long i = 0; i < n; i++) {
			af_tls++;
			__asm__ __volatile__("" ::: "memory");
		}
		break;
	default:
		for (long i = 0; i < n; i++)
			pcpu_add(upd_pcpu, 1);
	}
	ix_cpu[id] = (thread_cpu_ns() - c0) / n;
	ix_wall[id] = (now_ns() - w0) / n;
	return NULL;
}

/* @what with @threads threads: ns/op (thread CPU time, mean over the
 * threads), *@wall the wall figure */
static double af_run(enum af_what what, int threads, double *wall)
{
	pthread_t t[2];
	double c = 0, w = 0;

	start_allocator_index(
		0, 0, what == AF_PCPU_CID ? PCPU_INDEX_CID : PCPU_INDEX_CPU);
	upd_pcpu = pcpu_alloc(8, 8);
	af_cur = what;
	pthread_barrier_init(&ix_barrier, NULL, (unsigned int)threads);
	for (long i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, af_adder, (void *)i);
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		c += ix_cpu[i];
		w += ix_wall[i];
	}
	pthread_barrier_destroy(&ix_barrier);
	pcpu_free(upd_pcpu);
	*wall = w / threads;
	return c / threads;
}

/* The fast path in both index modes, same run, rounds interleaved. */
static void bench_index_ops(void)
{
	int rounds = quick ? 1 : 9;

	ix_iters = quick ? 100000 : 50000000;
	header("index_ops",
	       "pcpu_add of a u64, units numbered by CPU vs by concurrency "
	       "ID (PCPU_INDEX=cpu / cid); ns/op on each adder's CPU clock "
	       "(wall in the note), rounds interleaved, ratio = cpu / cid "
	       "per round");
	for (int threads = 1; threads <= 2; threads++) {
		double cpu[MAX_REPS], cid[MAX_REPS], ratio[MAX_REPS];
		double wc[MAX_REPS], wd[MAX_REPS];
		const char *mode = "";
		char what_c[96], what_d[96];

		for (int r = 0; r < rounds; r++) {
			cpu[r] = af_run(AF_PCPU_CPU, threads, &wc[r]);
			cid[r] = af_run(AF_PCPU_CID, threads, &wd[r]);
			mode = index_name();
			ratio[r] = cpu[r] / cid[r];
		}
		snprintf(what_c, sizeof(what_c), "PCPU_INDEX=cpu, %d thread%s",
			 threads, threads > 1 ? "s" : "");
		snprintf(what_d, sizeof(what_d),
			 "PCPU_INDEX=cid (%s), %d thread%s", mode, threads,
			 threads > 1 ? "s" : "");
		two_rows("index_ops", "ns/op", rounds, what_c, cpu, wc, what_d,
			 cid, wd, "cpu/cid", ratio);
	}
}

static void bench_add_floor(void)
{
	int rounds = quick ? 1 : 9;

	ix_iters = quick ? 100000 : 50000000;
	header("add_floor",
	       "this-CPU add of a u64 on one object, in cycles (ns on each "
	       "adder's CPU clock / ns of a dependent register add, measured "
	       "each round), against the floor: the smallest correct rseq add, "
	       "written in the benchmark; rounds interleaved, ratio = "
	       "configuration / floor per round");
#ifndef AF_FLOOR
	(void)rounds;
	(void)af_names;
	printf("  (no floor written for this architecture or build)\n");
#else
	start_allocator_index(0, 0, PCPU_INDEX_CPU);
	if (!*__pcpu_rseq_limit() ||
	    __pcpu_unit_stride() != (size_t)1 << AF_SHIFT) {
		printf("  (rseq not in use, or units not of 64 KiB: no "
		       "floor)\n");
		return;
	}
	for (int threads = 1; threads <= 2; threads++) {
		double cyc[AF_NR][MAX_REPS], wall[AF_NR][MAX_REPS];
		double ratio[AF_NR][MAX_REPS];

		for (int r = 0; r < rounds; r++) {
			double w, ns[AF_NR], cns = af_cycle_ns();

			for (int k = 0; k < AF_NR; k++) {
				ns[k] = af_run((enum af_what)k, threads, &w);
				cyc[k][r] = ns[k] / cns;
				wall[k][r] = w;
			}
			for (int k = 0; k < AF_NR; k++)
				ratio[k][r] = ns[k] / ns[AF_FLOOR_ADD];
		}
		for (int k = 0; k < AF_NR; k++) {
			struct stat3 sc = summarize(cyc[k], rounds);
			struct stat3 sr = summarize(ratio[k], rounds);
			char what[112], note[160];

			snprintf(what, sizeof(what), "%s, %d thread%s",
				 af_names[k], threads, threads > 1 ? "s" : "");
			snprintf(note, sizeof(note),
				 "wall %.2f ns/op; per-round / floor %.3f "
				 "[%.3f - %.3f]",
				 summarize(wall[k], rounds).med, sr.med, sr.min,
				 sr.max);
			printf("  %-58s %6.2f cycles [%5.2f - %5.2f] %s\n",
			       what, sc.med, sc.min, sc.max, note);
			if (md)
				fprintf(md,
					"| add_floor | %s | %.2f cycles | "
					"%.2f - %.2f | %.3f | %s |\n",
					what, sc.med, sc.min, sc.max, sr.med,
					note);
			if (csv)
				fprintf(csv,
					"add_floor,\"%s\",%.3f,%.3f,%.3f,"
					"cycles,%.3f,\"%s\"\n",
					what, sc.med, sc.min, sc.max, sr.med,
					note);
		}
	}
#endif
}

/* ------------------------------------------------------------------
 * allocation from several threads at once
 */

static pthread_barrier_t ca_barrier;
static long ca_pairs;
static bool ca_malloc;
static double ca_cpu[4], ca_wall[4];

/* alloc + write its unit-0 copy + free of 8 bytes, ca_pairs times, with a
 * window of 64 live objects so frees and allocations interleave */
static void *ca_thread(void *arg)
{
	long id = (long)arg;
	uint64_t *live[64] = {0};
	double c0, w0;

	pthread_barrier_wait(&ca_barrier);
	c0 = thread_cpu_ns();
	w0 = now_ns();
	for (long i = 0; i < ca_pairs; i++) {
		uint64_t **slot = &live[i & 63];

		if (ca_malloc) {
			free(*slot);
			*slot = calloc(1, 8);
			**slot = 1;
		} else {
			if (*slot)
				pcpu_free(*slot);
			*slot = pcpu_alloc(8, 8);
			*pcpu_ptr(*slot, 0) = 1;
		}
	}
	ca_cpu[id] = (thread_cpu_ns() - c0) / ca_pairs;
	ca_wall[id] = (now_ns() - w0) / ca_pairs;
	for (int k = 0; k < 64; k++) {
		if (ca_malloc)
			free(live[k]);
		else if (live[k])
			pcpu_free(live[k]);
	}
	return NULL;
}

/* ns per pair per thread (thread CPU time, mean of the threads) */
static double ca_run(bool use_malloc, int threads, double *wall)
{
	pthread_t t[4];
	double c = 0, w = 0;

	if (!use_malloc)
		start_allocator(2, 0);
	ca_malloc = use_malloc;
	pthread_barrier_init(&ca_barrier, NULL, (unsigned int)threads);
	for (long i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, ca_thread, (void *)i);
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		c += ca_cpu[i];
		w += ca_wall[i];
	}
	pthread_barrier_destroy(&ca_barrier);
	*wall = w / threads;
	return c / threads;
}

static void bench_concurrent_alloc(void)
{
	int rounds = quick ? 1 : 7;

	ca_pairs = quick ? 10000 : 1000000;
	header("concurrent_alloc",
	       "1, 2 and 4 threads at once, each: free the oldest of 64 live "
	       "8-byte objects, allocate one, write its unit-0 copy (2 "
	       "units); ns per pair per thread on the thread's CPU clock "
	       "(wall in the note), rounds interleaved; baseline: "
	       "calloc(1, 8) + free, same pattern, same round");
	for (int threads = 1; threads <= 4; threads *= 2) {
		double pc[MAX_REPS], mc[MAX_REPS], ratio[MAX_REPS];
		double pw[MAX_REPS], mw[MAX_REPS];
		char what_m[96], what_p[96];

		for (int r = 0; r < rounds; r++) {
			pc[r] = ca_run(false, threads, &pw[r]);
			mc[r] = ca_run(true, threads, &mw[r]);
			ratio[r] = pc[r] / mc[r];
		}
		snprintf(what_m, sizeof(what_m), "calloc + free, %d thread%s",
			 threads, threads > 1 ? "s" : "");
		snprintf(what_p, sizeof(what_p),
			 "pcpu_alloc + free, %d thread%s", threads,
			 threads > 1 ? "s" : "");
		two_rows("concurrent_alloc", "ns", rounds, what_m, mc, mw,
			 what_p, pc, pw, "pcpu / calloc", ratio);
	}
}

#define IXM_THREADS 4
#define IXM_OBJS 100
#define IXM_PER_OBJ 1000 /* u64 counters per object: 10^5 in all */

static uint64_t *ixm_obj[IXM_OBJS];
static bool ixm_stop;
static int ixm_tids[IXM_THREADS];

static void *ixm_updater(void *arg)
{
	long id = (long)arg;
	uint64_t s = (uint64_t)id * 7919 + 3;

	TEST_STORE(ixm_tids[id], (int)gettid());
	while (!TEST_LOAD(ixm_stop)) {
		uint64_t r = rnd(&s);

		pcpu_add(&ixm_obj[r % IXM_OBJS][(r >> 20) % IXM_PER_OBJ], 1);
	}
	return NULL;
}

/* moves the updaters to random CPUs every millisecond */
static void *ixm_migrator(void *arg)
{
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t s = 99;

	(void)arg;
	while (!TEST_LOAD(ixm_stop)) {
		for (int i = 0; i < IXM_THREADS; i++) {
			int tid = TEST_LOAD(ixm_tids[i]);
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET((int)(rnd(&s) % (uint64_t)ncpu), &set);
			if (tid)
				(void)sched_setaffinity(tid, sizeof(set), &set);
		}
		usleep(1000);
	}
	return NULL;
}

/*
 * 4 threads update 10^5 per-CPU counters for PCPU_BENCH_SECONDS (30 by
 * default) while the scheduler and a migrator move them over every CPU:
 * growth of RSS + page tables over the counters' allocation, in copies of
 * the counters (800 KB each), for @index.
 */
static void ixm_run(int index, double secs)
{
	pthread_t t[IXM_THREADS], m;
	long rss0, pte0, rss, pte;
	size_t copy_kb = IXM_OBJS * IXM_PER_OBJ * 8 / 1024;
	struct pcpu_stats_info info;
	char what[128], note[160];
	struct stat3 st;

	start_allocator_index(0, 0, index);
	for (int i = 0; i < IXM_OBJS; i++)
		ixm_obj[i] = pcpu_alloc(IXM_PER_OBJ * 8, 8);
	rss0 = test_status_kb("VmRSS");
	pte0 = test_status_kb("VmPTE");
	TEST_STORE(ixm_stop, false);
	memset(ixm_tids, 0, sizeof(ixm_tids));
	for (long i = 0; i < IXM_THREADS; i++)
		pthread_create(&t[i], NULL, ixm_updater, (void *)i);
	pthread_create(&m, NULL, ixm_migrator, NULL);
	usleep((useconds_t)(secs * 1e6));
	TEST_STORE(ixm_stop, true);
	for (int i = 0; i < IXM_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_join(m, NULL);
	rss = test_status_kb("VmRSS") - rss0;
	pte = test_status_kb("VmPTE") - pte0;
	pcpu_stats_get(&info);
	st.med = st.min = st.max = (double)(rss + pte) / (double)copy_kb;
	snprintf(what, sizeof(what), "%s, %d threads, %ld CPUs, %.0f s",
		 index_name(), IXM_THREADS, sysconf(_SC_NPROCESSORS_ONLN),
		 secs);
	snprintf(note, sizeof(note),
		 "RSS +%.1f MiB, page tables +%ld KiB; units with pages %d, "
		 "highest %d",
		 rss / 1024.0, pte, info.units_with_pages,
		 info.max_unit_with_pages);
	row("index_memory", what, st, "copies", 0, note);
	for (int i = 0; i < IXM_OBJS; i++)
		pcpu_free(ixm_obj[i]);
}

static void bench_index_memory(void)
{
	const char *env = getenv("PCPU_BENCH_SECONDS");
	double secs = quick ? 0.2 : env ? atof(env) : 30;

	header("index_memory",
	       "4 threads update 10^5 per-CPU u64 counters while a migrator "
	       "moves them over every CPU: RSS + page-table growth in copies "
	       "of the counters (800 KB a copy), units numbered by CPU, then "
	       "by concurrency ID");
	ixm_run(PCPU_INDEX_CPU, secs);
	ixm_run(PCPU_INDEX_CID, secs);
}

static const struct {
	const char *name;
	void (*fn)(void);
} benches[] = {
	{"update", bench_update},
	{"alloc_pairs", bench_alloc_pairs},
	{"memory", bench_memory},
	{"growth", bench_growth},
	{"nowait", bench_nowait},
	{"kernel_shape", bench_kernel_shape},
	{"hot_pair", bench_hot_pair},
	{"random_pairs", bench_random_pairs},
	{"populate", bench_populate},
	{"counter_reader", bench_counter_reader},
	{"index_ops", bench_index_ops},
	{"add_floor", bench_add_floor},
	{"concurrent_alloc", bench_concurrent_alloc},
	{"index_memory", bench_index_memory},
};

int main(int argc, char **argv)
{
	const char *filter = NULL, *out = out_dir;
	char path[512];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--out") && i + 1 < argc)
			out = argv[++i];
		else if (argv[i][0] != '-')
			filter = argv[i];
		else {
			fprintf(stderr,
				"usage: %s [--quick] [--out DIR] [NAME]\n"
				"  NAME: run the benchmarks whose name holds "
				"it\n",
				argv[0]);
			return 2;
		}
	}
	if (quick)
		reps = 1;
	out_dir = out;
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
