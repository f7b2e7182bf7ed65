// SPDX-License-Identifier: MIT
/*
 * Contracts that only threads, migration, signals and fork can break:
 * counters under migration, set against adds, counter readers against
 * adders, signal handlers calling into libpcpu, fork at any instant, a
 * forked child's nowait refill, strict mode without guard regions, and a
 * soak of every path at once (ThreadSanitizer runs it).  One process per
 * case; a case that could hang runs its body in a child under alarm().
 */
#include "test.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <pcpu.h>
#include <pcpu/counter.h>
#include <pcpu/ref.h>
#include <pcpu/stats.h>

#include "percpu-internal.h"
#include "sanitize.h"

/* Seconds a hang-prone body may take before its child counts as hung. */
#define WATCHDOG_S (RUNNING_ON_VALGRIND ? 600 : 60)

static void run_guarded(void (*fn)(void *), void *arg)
{
	char err[4096];
	int st = test_in_child(fn, arg, err, sizeof(err));

	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "child: %s %d\n%s\n",
			WIFSIGNALED(st) ? "killed by signal" : "exit status",
			WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), err);
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
			fprintf(stderr, "(hung: the watchdog fired)\n");
		exit(1);
	}
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* ----------------------------------------------------------------------
 * A migrator: moves one thread between every CPU it may use.
 */
struct migrator {
	pid_t tid;
	long period_us;
	bool stop;
	pthread_t thread;
};

static void *migrator_fn(void *arg)
{
	struct migrator *m = arg;
	cpu_set_t all, one;
	int ncpu, cpus[CPU_SETSIZE], k = 0;

	CHECK(sched_getaffinity(0, sizeof(all), &all) == 0);
	ncpu = 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all))
			cpus[ncpu++] = c;
	while (!TEST_LOAD(m->stop)) {
		CPU_ZERO(&one);
		CPU_SET(cpus[k++ % ncpu], &one);
		(void)sched_setaffinity(TEST_LOAD(m->tid), sizeof(one), &one);
		if (m->period_us)
			usleep((useconds_t)m->period_us);
	}
	(void)sched_setaffinity(m->tid, sizeof(all), &all);
	return NULL;
}

static void migrator_start(struct migrator *m, pid_t tid, long period_us)
{
	m->tid = tid;
	m->period_us = period_us;
	m->stop = false;
	CHECK(pthread_create(&m->thread, NULL, migrator_fn, m) == 0);
}

static void migrator_stop(struct migrator *m)
{
	TEST_STORE(m->stop, true);
	pthread_join(m->thread, NULL);
}

/* ----------------------------------------------------------------------
 * Defect 1: counter drift under migration.
 */
struct drift {
	struct pcpu_counter c;
	pid_t tid;
	int round; /* adder waits for this to change */
	int done; /* adder finished round n */
	bool stop;
};

static void *drift_adder(void *arg)
{
	struct drift *d = arg;
	int seen = 0;

	TEST_STORE(d->tid, gettid_());
	for (;;) {
		int r;

		while ((r = TEST_LOAD(d->round)) == seen && !TEST_LOAD(d->stop))
			pcpu_cpu_relax();
		if (TEST_LOAD(d->stop))
			return NULL;
		for (long i = 0; i < test_scaled(100000); i++)
			pcpu_counter_add(&d->c, 1000);
		seen = r;
		TEST_STORE(d->done, r);
	}
}

/*
 * Every add folds (1000 >= batch) while a migrator moves the adder every
 * ~50 us.  At each quiescent point (the adder between rounds): the exact
 * sum is exact, the approximate read is within batch x units of it, and
 * compare() is exact.
 */
static void t_counter_read_within_batch_under_migration(void)
{
	static struct drift d;
	struct migrator m;
	pthread_t t;
	int64_t slack, want = 0;

	CHECK_EQ(pcpu_counter_init(&d.c, 0), 0);
	slack = (int64_t)pcpu_counter_batch * pcpu_nr_units();
	CHECK(pthread_create(&t, NULL, drift_adder, &d) == 0);
	while (!TEST_LOAD(d.tid))
		pcpu_cpu_relax();
	migrator_start(&m, d.tid, 50);
	for (int r = 1; r <= 20; r++) {
		int64_t sum, read;

		TEST_STORE(d.round, r);
		while (TEST_LOAD(d.done) != r)
			usleep(100);
		want += 1000 * test_scaled(100000);
		sum = pcpu_counter_sum(&d.c);
		read = pcpu_counter_read(&d.c);
		if (llabs(sum - read) >= slack || sum != want)
			fprintf(stderr,
				"round %d: sum %lld read %lld want %lld\n", r,
				(long long)sum, (long long)read,
				(long long)want);
		CHECK_EQ(sum, want);
		CHECK(llabs(sum - read) < slack);
		CHECK_EQ(pcpu_counter_compare(&d.c, sum), 0);
		CHECK_EQ(pcpu_counter_compare(&d.c, sum - 1), 1);
		CHECK_EQ(pcpu_counter_compare(&d.c, sum + 1), -1);
	}
	migrator_stop(&m);
	TEST_STORE(d.stop, true);
	pthread_join(t, NULL);
	pcpu_counter_destroy(&d.c);
}

/* ----------------------------------------------------------------------
 * Defect 2: pcpu_counter_set() against concurrent adds.
 */
#define SET_ADDERS 2

struct setrace {
	struct pcpu_counter c;
	long done[SET_ADDERS]; /* adds returned, per adder */
	int pause; /* adders park while set */
	int parked;
	bool stop;
};

static void *set_adder(void *arg)
{
	struct setrace *s = (struct setrace *)((long *)arg)[0];
	long id = ((long *)arg)[1], n = 0;

	while (!TEST_LOAD(s->stop)) {
		if (TEST_LOAD(s->pause)) {
			__atomic_add_fetch(&s->parked, 1, __ATOMIC_ACQ_REL);
			while (TEST_LOAD(s->pause) && !TEST_LOAD(s->stop))
				sched_yield();
			__atomic_sub_fetch(&s->parked, 1, __ATOMIC_ACQ_REL);
			continue;
		}
		pcpu_counter_add(&s->c, 1);
		TEST_STORE(s->done[id], ++n);
	}
	return NULL;
}

static long set_done(struct setrace *s)
{
	long n = 0;

	for (int i = 0; i < SET_ADDERS; i++)
		n += TEST_LOAD(s->done[i]);
	return n;
}

/*
 * (This program is built with PCPU_INJECT: the test widens the window of
 * every critical section.)
 * Adds that returned before a set began are erased; adds started after it
 * returned are counted; an add in flight is off by at most its own amount.
 */
static void t_counter_set_erases_earlier_adds(void)
{
	static struct setrace s;
	long args[SET_ADDERS][2];
	pthread_t t[SET_ADDERS];
	int bad = 0;

	CHECK_EQ(pcpu_counter_init(&s.c, 0), 0);
	for (long i = 0; i < SET_ADDERS; i++) {
		args[i][0] = (long)&s;
		args[i][1] = i;
		CHECK(pthread_create(&t[i], NULL, set_adder, args[i]) == 0);
	}
	/* widen every add's window between its load and its commit */
	for (int k = 0; k < PCPU_INJECT_NR; k++)
		pcpu_inject_spins[k] = 100;
	for (int it = 0; it < test_scaled(2000); it++) {
		long before, after, final;
		int64_t sum;

		usleep(20); /* let the deltas grow */
		before = set_done(&s);
		pcpu_counter_set(&s.c, 0);
		after = set_done(&s);
		TEST_STORE(s.pause, 1);
		while (TEST_LOAD(s.parked) != SET_ADDERS)
			sched_yield();
		final = set_done(&s);
		sum = pcpu_counter_sum(&s.c);
		if (sum > final - before || sum < final - after - SET_ADDERS) {
			if (!bad++)
				fprintf(stderr,
					"iteration %d: sum %lld outside "
					"[%ld, %ld]\n",
					it, (long long)sum,
					final - after - SET_ADDERS,
					final - before);
		}
		TEST_STORE(s.pause, 0);
		while (TEST_LOAD(s.parked))
			sched_yield();
	}
	TEST_STORE(s.stop, true);
	for (int i = 0; i < SET_ADDERS; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ(bad, 0);
	pcpu_counter_destroy(&s.c);
}

/* ----------------------------------------------------------------------
 * Defect 8: a counter reader never makes adders wait on a system call.
 */
static struct {
	struct pcpu_counter c;
	long adds;
	bool reader_in_scan;
	bool timed_out;
	bool stop;
} starve;

/* Runs inside the reader's presence scan: wait for the adder to fold. */
static void starve_scan_hook(void)
{
	double t0 = test_now_ns();

	TEST_STORE(starve.reader_in_scan, true);
	while (TEST_LOAD(starve.adds) < test_scaled(100000))
		if (test_now_ns() - t0 > 20e9) {
			TEST_STORE(starve.timed_out, true);
			break;
		}
}

static void *starve_adder(void *arg)
{
	(void)arg;
	while (!TEST_LOAD(starve.reader_in_scan))
		pcpu_cpu_relax();
	while (!TEST_LOAD(starve.stop)) {
		pcpu_counter_add(&starve.c, 1000); /* folds every time */
		__atomic_add_fetch(&starve.adds, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/*
 * While a reader sits inside pcpu_counter_sum()'s system call (held there
 * by a test hook), an adder whose every add folds still makes progress.
 */
static void t_counter_reader_never_blocks_adders(void)
{
	pthread_t t;
	int64_t sum;

	CHECK_EQ(pcpu_counter_init(&starve.c, 0), 0);
	CHECK(pthread_create(&t, NULL, starve_adder, NULL) == 0);
	pcpu_os_set_scan_hook(starve_scan_hook);
	sum = pcpu_counter_sum(&starve.c);
	pcpu_os_set_scan_hook(NULL);
	TEST_STORE(starve.stop, true);
	pthread_join(t, NULL);
	CHECK(!TEST_LOAD(starve.timed_out));
	CHECK(sum >= 0);
	CHECK_EQ(pcpu_counter_sum(&starve.c), 1000 * TEST_LOAD(starve.adds));
	pcpu_counter_destroy(&starve.c);
}

/* ----------------------------------------------------------------------
 * Defects 3 and 4: signal handlers calling into libpcpu.
 */
static struct {
	struct pcpu_counter c;
	struct pcpu_ref ref;
	uint64_t *obj;
	void *mail[16]; /* objects the worker hands to the handler to free */
	long handled, handler_allocs, handler_eagain, handler_frees;
	long worker_adds;
	pthread_t worker;
	bool stop;
	int mode; /* 0: counter/ops/ref, 1: nowait/free */
} sig;

static void sig_handler(int signo)
{
	int saved = errno;

	(void)signo;
	if (sig.mode == 0) {
		pcpu_counter_add(&sig.c, 1000);
		(void)pcpu_counter_read(&sig.c);
		pcpu_inc(sig.obj);
		pcpu_ref_get(&sig.ref);
		pcpu_ref_put(&sig.ref);
		if (pcpu_ref_tryget(&sig.ref))
			pcpu_ref_put(&sig.ref);
	} else {
		void *p[4];

		for (int i = 0; i < 4; i++) {
			p[i] = pcpu_alloc_nowait(16 << i, 8);
			if (p[i])
				__atomic_add_fetch(&sig.handler_allocs, 1,
						   __ATOMIC_RELAXED);
			else if (errno == EAGAIN)
				__atomic_add_fetch(&sig.handler_eagain, 1,
						   __ATOMIC_RELAXED);
			else
				_exit(5);
		}
		for (int i = 0; i < 4; i++)
			pcpu_free(p[i]);
		for (int i = 0; i < 16; i++) {
			void *q = __atomic_exchange_n(&sig.mail[i], NULL,
						      __ATOMIC_ACQ_REL);

			if (q) {
				pcpu_free(q);
				__atomic_add_fetch(&sig.handler_frees, 1,
						   __ATOMIC_RELAXED);
			}
		}
	}
	__atomic_add_fetch(&sig.handled, 1, __ATOMIC_RELAXED);
	errno = saved;
}

static void *sig_sender(void *arg)
{
	(void)arg;
	while (!TEST_LOAD(sig.stop)) {
		pthread_kill(sig.worker, SIGUSR1);
		if (RUNNING_ON_VALGRIND)
			usleep(100);
	}
	return NULL;
}

static void sig_setup(int mode)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	sig.mode = mode;
	sig.worker = pthread_self();
}

static void counter_in_handler_body(void *arg)
{
	pthread_t s;
	long n = test_scaled(300000), adds = 0;

	(void)arg;
	alarm(WATCHDOG_S);
	CHECK_EQ(pcpu_counter_init(&sig.c, 0), 0);
	CHECK_EQ(pcpu_ref_init(&sig.ref, NULL, 0), 0);
	sig.obj = pcpu_alloc(sizeof(*sig.obj), 8);
	CHECK(sig.obj != NULL);
	sig_setup(0);
	CHECK(pthread_create(&s, NULL, sig_sender, NULL) == 0);
	/* until enough handlers ran too: on a slow guest the sender may
	 * not have run at all within n adds */
	for (long i = 0; i < n || TEST_LOAD(sig.handled) < 100; i++, adds++)
		pcpu_counter_add(&sig.c, 1000); /* every add folds */
	TEST_STORE(sig.stop, true);
	pthread_join(s, NULL);
	{
		long h = TEST_LOAD(sig.handled);
		uint64_t obj = 0;

		for (unsigned int u = 0; u < pcpu_nr_units(); u++)
			obj += *pcpu_ptr(sig.obj, u);
		CHECK(h >= 100);
		CHECK_EQ(pcpu_counter_sum(&sig.c), 1000 * (adds + h));
		CHECK_EQ(obj, h);
		fprintf(stderr, "%ld adds, %ld handlers\n", adds, h);
	}
	_exit(0);
}

/*
 * pcpu_counter_add/read, this-CPU operations and pcpu_ref_get/put/tryget
 * from a signal handler that interrupts the same thread's folding adds:
 * nothing deadlocks and every add is counted once.
 */
static void t_counter_add_in_signal_handler(void)
{
	run_guarded(counter_in_handler_body, NULL);
}

static void alloc_in_handler_body(void *arg)
{
	struct pcpu_stats_info before, after;
	uint64_t seed = 1;
	pthread_t s;
	long n = test_scaled(50000);

	(void)arg;
	alarm(WATCHDOG_S);
	CHECK_EQ(pcpu_stats_get(&before), 0);
	sig_setup(1);
	CHECK(pthread_create(&s, NULL, sig_sender, NULL) == 0);
	/* until enough handlers ran too (a slow guest's sender may lag) */
	for (long i = 0; i < n || TEST_LOAD(sig.handled) < 100; i++) {
		size_t size = 4 + test_rand(&seed) % 512;
		void *p = pcpu_alloc(size, 8);
		void *q = pcpu_alloc_nowait(size, 8);
		int slot = (int)(test_rand(&seed) % 16);

		CHECK(p != NULL);
		if (q)
			q = __atomic_exchange_n(&sig.mail[slot], q,
						__ATOMIC_ACQ_REL);
		pcpu_free(p);
		pcpu_free(q);
		if (i % 256 == 0)
			pcpu_balance();
	}
	TEST_STORE(sig.stop, true);
	pthread_join(s, NULL);
	for (int i = 0; i < 16; i++)
		pcpu_free(sig.mail[i]);
	pcpu_balance();
	pcpu_verify_all();
	CHECK_EQ(pcpu_stats_get(&after), 0);
	CHECK_EQ(after.nr_cur_alloc, before.nr_cur_alloc);
	CHECK(TEST_LOAD(sig.handled) > 0);
	CHECK(TEST_LOAD(sig.handler_allocs) > 0);
	fprintf(stderr, "%ld handlers: %ld nowait ok, %ld EAGAIN, %ld frees\n",
		sig.handled, sig.handler_allocs, sig.handler_eagain,
		sig.handler_frees);
	_exit(0);
}

/*
 * pcpu_alloc_nowait() and pcpu_free() from a signal handler that
 * interrupts the same thread inside pcpu_alloc(), pcpu_free() and
 * pcpu_balance(): nowait succeeds or fails with EAGAIN, every free
 * completes, nothing deadlocks, nothing leaks.
 */
static void t_alloc_nowait_and_free_in_signal_handler(void)
{
	run_guarded(alloc_in_handler_body, NULL);
}

/* ----------------------------------------------------------------------
 * Defect 5: fork at any instant of any call.
 */
#define FORK_WORKERS 9

static struct {
	struct pcpu_counter c;
	struct pcpu_ref ref;
	uint64_t *obj;
	bool stop;
	long loops[FORK_WORKERS];
} fk;

static void *fork_worker(void *arg)
{
	long id = (long)arg;
	uint64_t seed = (uint64_t)id + 1;
	FILE *null = fopen("/dev/null", "w");
	struct pcpu_stats_info info;

	CHECK(null != NULL);
	while (!TEST_LOAD(fk.stop)) {
		void *p;

		switch (id) {
		case 0:
			(void)pcpu_counter_sum(&fk.c);
			break;
		case 1:
			pcpu_counter_add(&fk.c, 1000);
			break;
		case 2:
			pcpu_counter_set(&fk.c, 5);
			break;
		case 3:
			p = pcpu_alloc(4 + test_rand(&seed) % 2048, 8);
			pcpu_free(p);
			break;
		case 4:
			pcpu_free(pcpu_alloc_nowait(64, 8));
			break;
		case 5:
			pcpu_balance();
			break;
		case 6:
			pcpu_ref_switch_to_atomic_sync(&fk.ref);
			pcpu_ref_switch_to_percpu(&fk.ref);
			break;
		case 7:
			/* GCC 12's libasan does not lock its allocator across
			 * fork(): a child forked while this thread is inside
			 * malloc() (pcpu_stats_print() takes 64 KiB) hangs at
			 * its own first malloc() of that size.  Not libpcpu's
			 * to fix; the plain build runs it. */
			if (!PCPU_ASAN)
				(void)pcpu_stats_print(null);
			(void)pcpu_stats_get(&info);
			break;
		default:
			pcpu_add(fk.obj, 1);
			pcpu_ref_get(&fk.ref);
			pcpu_ref_put(&fk.ref);
			break;
		}
		__atomic_add_fetch(&fk.loops[id], 1, __ATOMIC_RELAXED);
	}
	fclose(null);
	return NULL;
}

/* The child uses every call once; the watchdog catches a hang. */
static void fork_child_uses_every_call(void *arg)
{
	FILE *null = fopen("/dev/null", "w");
	struct pcpu_stats_info info;
	void *p[64];

	(void)arg;
	alarm(WATCHDOG_S / 3);
	(void)pcpu_counter_sum(&fk.c);
	pcpu_counter_add(&fk.c, 1000);
	pcpu_counter_set(&fk.c, 7);
	pcpu_counter_add(&fk.c, 1);
	CHECK_EQ(pcpu_counter_sum(&fk.c), 8);
	CHECK_EQ(pcpu_counter_compare(&fk.c, 8), 0);
	for (int i = 0; i < 64; i++) {
		p[i] = pcpu_alloc(8 + 64 * i, 8);
		CHECK(p[i] != NULL);
		CHECK_EQ(*pcpu_ptr((uint64_t *)p[i], 0), 0);
	}
	for (int i = 0; i < 64; i++)
		pcpu_free(p[i]);
	pcpu_free(pcpu_alloc_nowait(8, 8));
	pcpu_balance();
	pcpu_ref_switch_to_atomic_sync(&fk.ref);
	pcpu_ref_switch_to_percpu(&fk.ref);
	pcpu_ref_get(&fk.ref);
	pcpu_ref_put(&fk.ref);
	pcpu_add(fk.obj, 1);
	CHECK_EQ(pcpu_stats_print(null), 0);
	CHECK_EQ(pcpu_stats_get(&info), 0);
	fclose(null);
	_exit(0);
}

/*
 * Threads sit in every call (counter sum, add, set; alloc, free, nowait;
 * balance; ref switches; stats; this-CPU and ref operations) while the
 * parent forks again and again: every child can use every call.
 */
static void t_fork_during_every_call(void)
{
	pthread_t t[FORK_WORKERS];

	CHECK_EQ(pcpu_counter_init(&fk.c, 0), 0);
	CHECK_EQ(pcpu_ref_init(&fk.ref, NULL, PCPU_REF_ALLOW_REINIT), 0);
	fk.obj = pcpu_alloc(8, 8);
	CHECK(fk.obj != NULL);
	for (long i = 0; i < FORK_WORKERS; i++)
		CHECK(pthread_create(&t[i], NULL, fork_worker, (void *)i) == 0);
	for (int i = 0; i < test_scaled(60); i++) {
		usleep(2000);
		run_guarded(fork_child_uses_every_call, NULL);
	}
	TEST_STORE(fk.stop, true);
	for (int i = 0; i < FORK_WORKERS; i++) {
		pthread_join(t[i], NULL);
		CHECK(fk.loops[i] > 0);
	}
}

/* ----------------------------------------------------------------------
 * Defect 6: a forked child's nowait pages are refilled.
 */
static void child_nowait_refilled(void *arg)
{
	int first_call = (int)(long)arg;
	double t0;
	long n = 0;

	alarm(WATCHDOG_S);
	if (first_call == 0)
		CHECK(pcpu_alloc(64, 8) != NULL); /* from populated pages */
	while (pcpu_alloc_nowait(1024, 8))
		n++;
	CHECK_EQ(errno, EAGAIN);
	t0 = test_now_ns();
	while (!pcpu_alloc_nowait(1024, 8)) {
		if (test_now_ns() - t0 > 20e9) {
			fprintf(stderr, "no refill after %ld nowait objects\n",
				n);
			_exit(7);
		}
		usleep(1000);
	}
	_exit(0);
}

/*
 * In a child of a process with a balance thread, pcpu_alloc_nowait()
 * capacity comes back without the child calling pcpu_balance(), whether
 * its first call is a pcpu_alloc() served from populated pages or
 * pcpu_alloc_nowait() itself.
 */
static void t_forked_child_nowait_refilled(void)
{
	CHECK(pcpu_alloc(64, 8) != NULL);
	while (pcpu_alloc_nowait(1024, 8))
		;
	CHECK(pcpu_alloc(64, 8) != NULL); /* starts the balance thread */
	CHECK(pcpu_g.balance_running);
	for (int i = 0; i < 50 && READ_ONCE(pcpu_g.nr_empty_pop_pages) <
					  PCPU_EMPTY_POP_PAGES_LOW;
	     i++)
		usleep(10000);
	usleep(50000); /* and the balance thread idle: nothing mid-malloc */
	run_guarded(child_nowait_refilled, (void *)0L);
	run_guarded(child_nowait_refilled, (void *)1L);
}

/* ----------------------------------------------------------------------
 * Defect 7: strict mode on a kernel without guard regions.
 */
static void install_no_guard_regions(void)
{
	/* madvise(addr, len, 102 or 103) -> EINVAL, as before Linux 6.13 */
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 102, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 103, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {(unsigned short)(sizeof(f) / sizeof(f[0])),
				  f};

	CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0);
}

/* Mappings of /proc/self/maps that start inside one of the chunks. */
static int chunk_mappings(void)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		char *start = (char *)(uintptr_t)strtoull(line, NULL, 16);

		for (size_t i = 0; i < pcpu_g.lookup_cap; i++) {
			struct pcpu_chunk *c = pcpu_g.lookup[i];

			if (c && start >= c->base_addr &&
			    start < c->base_addr + pcpu_geo.chunk_size) {
				n++;
				break;
			}
		}
	}
	fclose(f);
	return n;
}

static void strict_without_guards_body(void *arg)
{
	struct pcpu_config cfg;
	int n = 2000, vmas0, vmas, in_chunks;
	void **p = calloc((size_t)n, sizeof(void *));
	void *m;

	(void)arg;
	CHECK(p != NULL);
	install_no_guard_regions();
	vmas0 = test_vma_count();
	pcpu_config_init(&cfg);
	cfg.nr_units = 256;
	cfg.strict = 1;
	CHECK_EQ(pcpu_init(&cfg), 0);
	for (int i = 0; i < n; i++) {
		p[i] = pcpu_alloc(4096, 8);
		if (!p[i])
			fprintf(stderr, "pcpu_alloc #%d: %s\n", i,
				strerror(errno));
		CHECK(p[i] != NULL);
		*pcpu_ptr((uint64_t *)p[i], (unsigned)i % 4) = 1;
	}
	for (int i = 0; i < n; i += 2)
		pcpu_free(p[i]);
	pcpu_balance();
	vmas = test_vma_count();
	in_chunks = chunk_mappings();
	fprintf(stderr,
		"%u chunks: %d mappings in them; %d in the process "
		"(%d before)\n",
		pcpu_g.stats.nr_chunks, in_chunks, vmas, vmas0);
	/* a chunk costs at most two mappings (itself, its guard unit) */
	CHECK(in_chunks <= 2 * (int)pcpu_g.stats.nr_chunks);
	m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	CHECK(malloc(1 << 20) != NULL);
	_exit(0);
}

/*
 * Strict mode asked for on a kernel whose madvise() has no guard regions
 * (simulated by a seccomp filter): libpcpu refuses it at start-up with one
 * message, runs in the default mode, and 2,000 page-sized objects at 256
 * units, half freed, then balanced, cost at most two mappings a chunk.
 */
static void t_strict_without_guard_regions_bounded_mappings(void)
{
	char err[4096];
	int st = test_in_child(strict_without_guards_body, NULL, err,
			       sizeof(err));

	fprintf(stderr, "%s", err);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(strstr(err, "strict mode") != NULL);
}

/* ----------------------------------------------------------------------
 * Defect 9: a soak of every path at once, for ThreadSanitizer.
 */
#define SOAK_THREADS 6

static struct {
	uint64_t *shared;
	struct pcpu_counter c;
	bool stop;
} soak;

static void *soak_worker(void *arg)
{
	long id = (long)arg;
	uint64_t seed = (uint64_t)id * 7919 + 1;
	void *live[64] = {0};
	struct pcpu_stats_info info;

	while (!TEST_LOAD(soak.stop)) {
		int k = (int)(test_rand(&seed) % 64);

		if (id == SOAK_THREADS - 1) {
			pcpu_balance();
			(void)pcpu_stats_get(&info);
			continue;
		}
		if (live[k]) {
			pcpu_free(live[k]);
			live[k] = NULL;
		} else {
			size_t size = 4 + test_rand(&seed) % 1024;

			live[k] = k & 1 ? pcpu_alloc_nowait(size, 8)
					: pcpu_alloc(size, 8);
			if (live[k])
				pcpu_add((uint32_t *)live[k], 1);
		}
		pcpu_add(soak.shared, 1);
		pcpu_counter_add(&soak.c, 300);
	}
	for (int k = 0; k < 64; k++)
		pcpu_free(live[k]);
	return NULL;
}

/*
 * Six threads allocate and free on both paths, run this-CPU and counter
 * operations, and balance, all at once; afterwards the invariants hold and
 * nothing is left allocated.  Built with ThreadSanitizer (make test-tsan),
 * every unsynchronized access on these paths is a reported race.
 */
static void t_alloc_free_balance_ops_soak(void)
{
	struct pcpu_stats_info before, after;
	pthread_t t[SOAK_THREADS];
	uint64_t total = 0;

	soak.shared = pcpu_alloc(sizeof(uint64_t), 8);
	CHECK(soak.shared != NULL);
	CHECK_EQ(pcpu_counter_init(&soak.c, 0), 0);
	CHECK_EQ(pcpu_stats_get(&before), 0);
	for (long i = 0; i < SOAK_THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, soak_worker, (void *)i) == 0);
	usleep(RUNNING_ON_VALGRIND ? 5000000 : 2000000);
	TEST_STORE(soak.stop, true);
	for (int i = 0; i < SOAK_THREADS; i++)
		pthread_join(t[i], NULL);
	pcpu_balance();
	pcpu_verify_all();
	CHECK_EQ(pcpu_stats_get(&after), 0);
	CHECK_EQ(after.nr_cur_alloc, before.nr_cur_alloc);
	for (unsigned int u = 0; u < pcpu_nr_units(); u++)
		total += *pcpu_ptr(soak.shared, u);
	CHECK_EQ(pcpu_counter_sum(&soak.c), 300 * (int64_t)total);
}

/*
 * Left out of memcheck: fork_during_every_call (forks of a 10-thread
 * process under memcheck took over 5 minutes; fork_while_busy covers fork
 * there), strict_without_guard_regions_bounded_mappings (valgrind has no
 * seccomp(2), which its filter needs).
 */
static const struct test_case cases[] = {
	{"counter_read_within_batch_under_migration",
	 t_counter_read_within_batch_under_migration, 0},
	{"counter_set_erases_earlier_adds", t_counter_set_erases_earlier_adds,
	 TEST_SLOW},
	{"counter_reader_never_blocks_adders",
	 t_counter_reader_never_blocks_adders, 0},
	{"counter_add_in_signal_handler", t_counter_add_in_signal_handler, 0},
	{"alloc_nowait_and_free_in_signal_handler",
	 t_alloc_nowait_and_free_in_signal_handler, 0},
	{"fork_during_every_call", t_fork_during_every_call,
	 TEST_SLOW | TEST_NO_MEMCHECK},
	{"forked_child_nowait_refilled", t_forked_child_nowait_refilled, 0},
	{"strict_without_guard_regions_bounded_mappings",
	 t_strict_without_guard_regions_bounded_mappings, TEST_NO_MEMCHECK},
	{"alloc_free_balance_ops_soak", t_alloc_free_balance_ops_soak, 0},
};

TEST_MAIN(cases)
