// SPDX-License-Identifier: MIT
/*
 * this-CPU operations under forced migration.  Built three ways (see
 * CMakeLists.txt): plain, with PCPU_INJECT (a delay inside every critical
 * section, between the CPU number read and the commit) and with
 * PCPU_RSEQ_RECHECK (the CPU number is re-read right before the commit and
 * a change traps).
 *
 * Workers (2 x online CPUs) hammer one per-CPU object while a migrator
 * thread moves them between CPUs with sched_setaffinity every few
 * microseconds; the final values must be exact.
 */
#include "test.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <pcpu/ops.h>
#include <pcpu/read.h>

#include "percpu-internal.h"

#define MAX_WORKERS 64

static long ops_per_thread = 700000;
static int nr_workers;
static bool stop_migrator;
static int worker_tids[MAX_WORKERS];
static void *obj;
static int obj_size;
static uint64_t held[MAX_WORKERS]; /* xchg tokens held by each worker */
static volatile uint64_t migrations;

enum kind {
	K_ADD,
	K_SUB,
	K_INC,
	K_DEC,
	K_ADD_RETURN,
	K_XCHG,
	K_CMPXCHG,
	K_WRITE,
	K_BROKEN_ADD,
	K_NR
};
static const char *const kind_names[] = {"add",	    "sub",	  "inc",
					 "dec",	    "add_return", "xchg",
					 "cmpxchg", "write",	  "broken_add"};
#ifdef PCPU_INJECT
/* the injection point each kind's critical section has */
static const int kind_inject[] = {1, 1, 1, 1, 2, 3, 4, 0, 1};
#endif

static void *migrator(void *arg)
{
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t s = 12345;

	(void)arg;
	while (!TEST_LOAD(stop_migrator)) {
		for (int i = 0; i < nr_workers; i++) {
			int tid = TEST_LOAD(worker_tids[i]);
			cpu_set_t set;

			if (!tid)
				continue;
			CPU_ZERO(&set);
			CPU_SET((int)(test_rand(&s) % (uint64_t)ncpu), &set);
			if (!sched_setaffinity(tid, sizeof(set), &set))
				migrations++;
		}
		for (volatile int k = 0; k < 2000; k++)
			;
	}
	return NULL;
}

/* The deliberately unprotected read-modify-write the negative control
 * uses: the CPU number may be stale by the time of the store. */
#define BROKEN_ADD(T, p)                               \
	do {                                           \
		T *q = pcpu_ptr((T *)(p), pcpu_cpu()); \
		T v = *(volatile T *)q;                \
		for (volatile int k = 0; k < 30; k++)  \
			;                              \
		*(volatile T *)q = (T)(v + 1);         \
	} while (0)

#define WORK(T)                                                              \
	static void work_##T(enum kind k, int id)                            \
	{                                                                    \
		T *p = obj;                                                  \
		T tok = (T)held[id], o;                                      \
		for (long i = 0; i < ops_per_thread; i++) {                  \
			switch (k) {                                         \
			case K_ADD:                                          \
				pcpu_add(p, 3);                              \
				break;                                       \
			case K_SUB:                                          \
				pcpu_sub(p, 5);                              \
				break;                                       \
			case K_INC:                                          \
				pcpu_inc(p);                                 \
				break;                                       \
			case K_DEC:                                          \
				pcpu_dec(p);                                 \
				break;                                       \
			case K_ADD_RETURN:                                   \
				(void)pcpu_add_return(p, 7);                 \
				break;                                       \
			case K_XCHG:                                         \
				tok = pcpu_xchg(p, tok);                     \
				break;                                       \
			case K_CMPXCHG:                                      \
				do                                           \
					o = pcpu_read(p);                    \
				while (pcpu_cmpxchg(p, o, (T)(o + 1)) != o); \
				break;                                       \
			case K_WRITE:                                        \
				pcpu_write(p, (T)(0x0101010101010101ULL *    \
						  (uint64_t)(id + 1)));      \
				break;                                       \
			default:                                             \
				BROKEN_ADD(T, p);                            \
				break;                                       \
			}                                                    \
		}                                                            \
		held[id] = tok;                                              \
	}

WORK(uint8_t)
WORK(uint16_t)
WORK(uint32_t)
WORK(uint64_t)

struct job {
	enum kind k;
	int id;
};

static void *worker(void *arg)
{
	struct job *j = arg;

	TEST_STORE(worker_tids[j->id], (int)syscall(SYS_gettid));
	switch (obj_size) {
	case 1:
		work_uint8_t(j->k, j->id);
		break;
	case 2:
		work_uint16_t(j->k, j->id);
		break;
	case 4:
		work_uint32_t(j->k, j->id);
		break;
	default:
		work_uint64_t(j->k, j->id);
	}
	TEST_STORE(worker_tids[j->id], 0);
	return NULL;
}

static uint64_t unit_value(unsigned int u)
{
	switch (obj_size) {
	case 1:
		return *pcpu_ptr((uint8_t *)obj, u);
	case 2:
		return *pcpu_ptr((uint16_t *)obj, u);
	case 4:
		return *pcpu_ptr((uint32_t *)obj, u);
	default:
		return *pcpu_ptr((uint64_t *)obj, u);
	}
}

static void set_unit(unsigned int u, uint64_t v)
{
	memcpy(pcpu_ptr((char *)obj, u), &v, (size_t)obj_size);
}

/* Run @k on an object of @size bytes; return true if the result is exact. */
static bool run(enum kind k, int size)
{
	pthread_t t[MAX_WORKERS], m;
	struct job jobs[MAX_WORKERS];
	unsigned int units = pcpu_nr_units(), u;
	uint64_t mask = size == 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
	uint64_t sum = 0, want = 0, tokens = 0;
	long total = ops_per_thread * nr_workers;
	bool ok = true;

	obj_size = size;
	obj = pcpu_alloc((size_t)size, (size_t)size);
	CHECK(obj != NULL);
	/* xchg: distinct tokens in the units and in the workers' hands */
	for (u = 0; u < units; u++)
		set_unit(u, k == K_XCHG ? u + 1 : 0);
	for (int i = 0; i < nr_workers; i++)
		held[i] = k == K_XCHG ? units + 1 + (uint64_t)i : 0;
#ifdef PCPU_INJECT
	memset(pcpu_inject_spins, 0, sizeof(pcpu_inject_spins));
	pcpu_inject_spins[kind_inject[k]] = 50;
#endif

	stop_migrator = getenv("PCPU_TEST_NO_MIGRATOR") != NULL;
	pthread_create(&m, NULL, migrator, NULL);
	for (int i = 0; i < nr_workers; i++) {
		jobs[i] = (struct job){k, i};
		pthread_create(&t[i], NULL, worker, &jobs[i]);
	}
	for (int i = 0; i < nr_workers; i++)
		pthread_join(t[i], NULL);
	TEST_STORE(stop_migrator, true);
	pthread_join(m, NULL);

	for (u = 0; u < units; u++)
		sum += unit_value(u);
	switch (k) {
	case K_ADD:
		want = 3ULL * (uint64_t)total;
		break;
	case K_SUB:
		want = -5ULL * (uint64_t)total;
		break;
	case K_DEC:
		want = -(uint64_t)total;
		break;
	case K_ADD_RETURN:
		want = 7ULL * (uint64_t)total;
		break;
	case K_XCHG:
		for (int i = 0; i < nr_workers; i++)
			sum += held[i];
		for (uint64_t x = 1; x <= units + (uint64_t)nr_workers; x++)
			tokens += x;
		want = tokens;
		/* every token still exists exactly once */
		for (uint64_t x = 1; x <= units + (uint64_t)nr_workers; x++) {
			int seen = 0;

			for (u = 0; u < units; u++)
				seen += unit_value(u) == x;
			for (int i = 0; i < nr_workers; i++)
				seen += (held[i] & mask) == x;
			ok &= seen == 1;
		}
		break;
	case K_WRITE:
		/* every unit holds a whole value some worker wrote, or 0 */
		for (u = 0; u < units; u++) {
			uint64_t v = unit_value(u), b = v & 0xff;

			ok &= v == ((0x0101010101010101ULL * b) & mask) &&
			      b <= (uint64_t)nr_workers;
		}
		sum = want = 0;
		break;
	default: /* inc, cmpxchg, broken_add */
		want = (uint64_t)total;
	}
	ok &= (sum & mask) == (want & mask);
	printf("%-10s %d B: sum %#llx want %#llx %s (%llu migrations)\n",
	       kind_names[k], size, (unsigned long long)(sum & mask),
	       (unsigned long long)(want & mask), ok ? "exact" : "WRONG",
	       (unsigned long long)migrations);
	pcpu_free(obj);
	return ok;
}

static void setup(void)
{
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	const char *env = getenv("PCPU_TEST_OPS");

	nr_workers = 2 * ncpu > MAX_WORKERS ? MAX_WORKERS : 2 * ncpu;
	if (env)
		ops_per_thread = atol(env);
	CHECK(pcpu_nr_units() > 0);
	printf("units %u, rseq limit %u, %d workers x %ld ops\n",
	       pcpu_nr_units(), *__pcpu_rseq_limit(), nr_workers,
	       ops_per_thread);
}

/* Every operation at every size stays exact under forced migration, with
 * each operation's delay-injection point enabled in turn (when built with
 * PCPU_INJECT). */
static void t_ops_exact_under_migration(void)
{
	static const int sizes[] = {1, 2, 4, 8};

	setup();
	for (int k = 0; k < K_BROKEN_ADD; k++)
		for (int s = 0; s < 4; s++)
			CHECK(run((enum kind)k, sizes[s]));
}

/* Negative control: the same harness catches a read-modify-write that is
 * not a critical section (lost updates). */
static void t_ops_harness_catches_unprotected_update(void)
{
	setup();
	if (*__pcpu_rseq_limit() == 0) {
		printf("atomic mode: the unprotected update is not what the "
		       "operations use here; still must lose updates\n");
	}
	CHECK(!run(K_BROKEN_ADD, 8));
}

/* A thread whose rseq is unregistered switches the process to atomic
 * operations; updates in flight in other threads are not lost. */
static void *unregistering_worker(void *arg)
{
	uint64_t *p = arg;
	/* unregister glibc's area (test only): the length must be the one
	 * glibc registered, which is 32 bytes or __rseq_size */
	long r = syscall(SYS_rseq, __pcpu_rseq_area(), 32, 1, PCPU_RSEQ_SIG);

	if (r)
		r = syscall(SYS_rseq, __pcpu_rseq_area(), __rseq_size, 1,
			    PCPU_RSEQ_SIG);

	CHECK(r == 0);
	for (long i = 0; i < ops_per_thread; i++)
		pcpu_add(p, 1);
	return NULL;
}

static void *plain_worker(void *arg)
{
	uint64_t *p = arg;

	for (long i = 0; i < ops_per_thread; i++)
		pcpu_add(p, 1);
	return NULL;
}

static void t_ops_switch_to_atomic_when_a_thread_lacks_rseq(void)
{
	pthread_t t[3];
	uint64_t *p, sum = 0;

	setup();
	if (*__pcpu_rseq_limit() == 0) {
		printf("rseq not in use here; nothing to switch\n");
		return;
	}
	p = pcpu_alloc(8, 8);
	pthread_create(&t[0], NULL, plain_worker, p);
	pthread_create(&t[1], NULL, plain_worker, p);
	pthread_create(&t[2], NULL, unregistering_worker, p);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	for (unsigned int u = 0; u < pcpu_nr_units(); u++)
		sum += *pcpu_ptr(p, u);
	CHECK_EQ(*__pcpu_rseq_limit(), 0);
	CHECK_EQ(sum, 3 * (uint64_t)ops_per_thread);
}

/* pcpu_cpu() names a unit, and with units numbered by CPU the unit of the
 * CPU the thread is pinned to. */
static void t_pcpu_cpu_matches_pinned_cpu(void)
{
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);

	setenv("PCPU_INDEX", "cpu", 1);
	setup();
	for (int c = 0; c < ncpu; c++) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(c, &set);
		CHECK(sched_setaffinity(0, sizeof(set), &set) == 0);
		CHECK_EQ(pcpu_cpu(), c % (int)pcpu_nr_units());
	}
}

/* ------------------------------------------------ the index mode (cid) */

static bool page_resident(const void *a)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char v = 0;

	CHECK(mincore((void *)((uintptr_t)a & ~(ps - 1)), ps, &v) == 0);
	return v & 1;
}

static void count_unit(unsigned int unit, void *arg)
{
	(void)unit;
	++*(unsigned int *)arg;
}

/* The reader side: pcpu_sum() of a per-CPU integer adds the copies of the
 * units whose pages exist, widened by the type's sign, and reads no other
 * unit; pcpu_read_unit() reads one copy; pcpu_for_each_unit() visits all. */
static void t_sum_reads_only_units_with_pages(void)
{
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN), cpus = ncpu < 2 ? 1 : 2;
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	struct obj {
		uint64_t u64;
		int32_t s32;
		int8_t s8;
		uint16_t u16;
	} * o;
	bool scan = pcpu_geo.caps.pagemap_scan || pcpu_geo.caps.pagemap_read;
	unsigned int u, n = 0;

	setup();
	o = (struct obj *)pcpu_alloc(ps, ps); /* a page of its own */
	CHECK(o != NULL);
	for (int c = 0; c < cpus; c++) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(c, &set);
		CHECK(sched_setaffinity(0, sizeof(set), &set) == 0);
		pcpu_add(&o->u64, 1000);
		pcpu_sub(&o->s32, 3);
		pcpu_dec(&o->s8);
		pcpu_add(&o->u16, 40000);
	}
	CHECK_EQ(pcpu_sum(&o->u64), 1000u * cpus);
	CHECK_EQ(pcpu_sum(&o->s32), -3 * cpus);
	CHECK_EQ(pcpu_sum(&o->s8), -cpus);
	/* the sum wraps in the type, as the adds do */
	CHECK_EQ(pcpu_sum(&o->u16), (uint16_t)(40000 * cpus));
	if (scan && !TEST_SANITIZED && !RUNNING_ON_VALGRIND) {
		unsigned int written = 0;

		for (u = 0; u < pcpu_nr_units(); u++)
			written += page_resident(pcpu_ptr(o, u));
		/* at most the units of the CPUs (or IDs) that wrote */
		CHECK(written <= (unsigned int)cpus);
	}
	pcpu_for_each_unit(u) if (pcpu_read_unit(&o->u64, u)) n++;
	CHECK(n >= 1 && n <= (unsigned int)cpus);
	/* the untyped forms refuse what describes no integer of one unit */
	errno = 0;
	CHECK_EQ(pcpu_unit_sum(o, 3, 0), 0);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK_EQ(pcpu_unit_sum(NULL, 8, 0), 0);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	n = 0;
	pcpu_for_each_present_unit(pcpu_unit_base(o) + pcpu_geo.unit_size - 4,
				   8, count_unit, &n);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(n, 0);
	pcpu_for_each_present_unit(o, 0, count_unit, &n);
	CHECK_EQ(n, 0);
	pcpu_for_each_present_unit(o, 8, count_unit, &n);
	CHECK(n >= 1 && n <= (unsigned int)cpus);
	pcpu_free(o);
}

/* whether units are numbered by concurrency ID in this run */
static bool by_mm_cid(void)
{
	const char *why;

	return pcpu_ops_mode(&why) == PCPU_OPS_RSEQ && !strcmp(why, "mm_cid");
}

/*
 * One thread, moved back and forth between CPU 0 and CPU 1, adds to a
 * page-sized object: by CPU it writes (so brings in) the unit page of each
 * CPU, by concurrency ID only unit 0's (the thread keeps its ID as it
 * migrates).  Which unit pages exist is asked of the kernel (mincore), not
 * read.  The balance thread is off: no other thread of the process runs.
 */
static void t_one_thread_moved_between_cpus_touches_one_unit(void)
{
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	const char *why;
	uint64_t *p, sum = 0;
	unsigned int u, present = 0;
	struct pcpu_stats_info info;

	setenv("PCPU_BALANCE", "0", 1);
	setup();
	if (ncpu < 2 || pcpu_ops_mode(&why) != PCPU_OPS_RSEQ) {
		printf("not run: %d CPUs, operations %s\n", ncpu,
		       ncpu < 2 ? "-" : why);
		return;
	}
	p = pcpu_alloc(ps, ps);
	CHECK(p != NULL);
	for (u = 0; u < pcpu_nr_units(); u++)
		CHECK(!page_resident(pcpu_ptr(p, u)));
	for (int round = 0; round < 20; round++)
		for (int c = 0; c < 2; c++) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(c, &set);
			CHECK(sched_setaffinity(0, sizeof(set), &set) == 0);
			pcpu_add(p, 1);
		}
	for (u = 0; u < pcpu_nr_units(); u++)
		if (page_resident(pcpu_ptr(p, u))) {
			present++;
			sum += *pcpu_ptr(p, u);
			printf("unit %u has its page: %llu\n", u,
			       (unsigned long long)*pcpu_ptr(p, u));
		}
	CHECK_EQ(pcpu_stats_get(&info), 0);
	printf("index %s: %u unit pages exist; stats: units with pages %d, "
	       "highest %d\n",
	       why, present, info.units_with_pages, info.max_unit_with_pages);
	CHECK_EQ(sum, 40);
	if (info.units_with_pages >= 0) { /* a presence scan works */
		CHECK_EQ(info.units_with_pages, (int)present);
		CHECK_EQ(info.max_unit_with_pages, (int)present - 1);
	}
	if (by_mm_cid()) {
		CHECK_EQ(present, 1);
		CHECK(page_resident(pcpu_ptr(p, 0)));
	} else {
		CHECK_EQ(present, 2);
		CHECK(page_resident(pcpu_ptr(p, 0)));
		CHECK(page_resident(pcpu_ptr(p, 1)));
	}
	pcpu_free(p);
}

static uint64_t *churn_obj;

static void *churn_worker(void *arg)
{
	long n = (long)(intptr_t)arg;

	for (long i = 0; i < n; i++)
		pcpu_add(churn_obj, 1);
	return NULL;
}

static bool churn_stop;

/* adds until churn_stop; returns how many */
static void *long_worker(void *arg)
{
	uint64_t *done = arg, n = 0;

	TEST_STORE(worker_tids[done - held], (int)syscall(SYS_gettid));
	while (!TEST_LOAD(churn_stop)) {
		pcpu_inc(churn_obj);
		n++;
	}
	TEST_STORE(worker_tids[done - held], 0);
	*done = n;
	return NULL;
}

/*
 * Threads exit and are created all along (their concurrency IDs are
 * given back and handed out again) while long-lived threads keep adding
 * and the migrator moves them: the sum stays exact.
 */
static void t_ops_exact_under_thread_churn(void)
{
	enum { LONG = 2, ROUNDS = 200, SHORT = 3 };
	pthread_t t[LONG], m, s[SHORT];
	long n = test_scaled(2000);
	uint64_t want;

	setup();
	churn_obj = pcpu_alloc(8, 8);
	CHECK(churn_obj != NULL);
	nr_workers = LONG;
	churn_stop = false;
	stop_migrator = getenv("PCPU_TEST_NO_MIGRATOR") != NULL;
	pthread_create(&m, NULL, migrator, NULL);
	for (int i = 0; i < LONG; i++)
		pthread_create(&t[i], NULL, long_worker, &held[i]);
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < SHORT; i++)
			pthread_create(&s[i], NULL, churn_worker,
				       (void *)(intptr_t)n);
		for (int i = 0; i < SHORT; i++)
			pthread_join(s[i], NULL);
	}
	TEST_STORE(churn_stop, true);
	for (int i = 0; i < LONG; i++)
		pthread_join(t[i], NULL);
	TEST_STORE(stop_migrator, true);
	pthread_join(m, NULL);
	want = (uint64_t)ROUNDS * SHORT * (uint64_t)n + held[0] + held[1];
	printf("%d x %d short threads of %ld adds, %d long ones %llu: sum "
	       "%llu want %llu (%llu migrations)\n",
	       ROUNDS, SHORT, n, LONG, (unsigned long long)(held[0] + held[1]),
	       (unsigned long long)test_sum_units(churn_obj),
	       (unsigned long long)want, (unsigned long long)migrations);
	CHECK_EQ(test_sum_units(churn_obj), want);
	pcpu_free(churn_obj);
}

/*
 * fork() while threads add: in the child (a new process, whose threads get
 * concurrency IDs of their own) the copies hold what the parent's had, the
 * index mode is the parent's, and its own threads' adds are exact too.
 */
static void t_ops_exact_in_forked_child(void)
{
	enum { KIDS = 3 };
	pthread_t t[KIDS];
	long n = test_scaled(100000);
	uint64_t before;
	int status;
	pid_t pid;

	setup();
	churn_obj = pcpu_alloc(8, 8);
	CHECK(churn_obj != NULL);
	for (int i = 0; i < KIDS; i++)
		pthread_create(&t[i], NULL, churn_worker, (void *)(intptr_t)n);
	for (int i = 0; i < KIDS; i++)
		pthread_join(t[i], NULL);
	before = test_sum_units(churn_obj);
	CHECK_EQ(before, KIDS * (uint64_t)n);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		bool cid = by_mm_cid();

		for (int i = 0; i < KIDS; i++)
			pthread_create(&t[i], NULL, churn_worker,
				       (void *)(intptr_t)n);
		for (int i = 0; i < KIDS; i++)
			pthread_join(t[i], NULL);
		pcpu_add(churn_obj, 1);
		printf("child: index %s, sum %llu want %llu\n",
		       cid ? "mm_cid" : "cpu_id",
		       (unsigned long long)test_sum_units(churn_obj),
		       (unsigned long long)(2 * before + 1));
		fflush(stdout);
		_exit(test_sum_units(churn_obj) == 2 * before + 1 ? 0 : 1);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(test_sum_units(churn_obj), before);
	pcpu_free(churn_obj);
}

/* The negative control races on purpose, which ThreadSanitizer and
 * memcheck would only report. */
static const struct test_case cases[] = {
	{"ops_exact_under_migration", t_ops_exact_under_migration, 0},
	{"sum_reads_only_units_with_pages", t_sum_reads_only_units_with_pages,
	 0},
	{"ops_harness_catches_unprotected_update",
	 t_ops_harness_catches_unprotected_update,
	 TEST_NO_MEMCHECK | TEST_NO_TSAN},
	{"ops_switch_to_atomic_when_a_thread_lacks_rseq",
	 t_ops_switch_to_atomic_when_a_thread_lacks_rseq, 0},
	{"pcpu_cpu_matches_pinned_cpu", t_pcpu_cpu_matches_pinned_cpu, 0},
	{"one_thread_moved_between_cpus_touches_one_unit",
	 t_one_thread_moved_between_cpus_touches_one_unit, 0},
	{"ops_exact_under_thread_churn", t_ops_exact_under_thread_churn, 0},
	{"ops_exact_in_forked_child", t_ops_exact_in_forked_child, 0},
};

TEST_MAIN(cases)
