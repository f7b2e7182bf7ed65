/* SPDX-License-Identifier: MIT */
/*
 * test.h - the small harness every libpcpu test uses.
 */
#ifndef PCPU_TEST_H
#define PCPU_TEST_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pcpu.h>

#ifdef PCPU_INJECT
#include <pcpu/ops.h>
/* the delay-injection spins of this test program's critical sections
 * (one program per source file: defined here once) */
unsigned int pcpu_inject_spins[PCPU_INJECT_NR];
#endif

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			exit(1);                                               \
		}                                                              \
	} while (0)

#define CHECK_EQ(a, b)                                                    \
	do {                                                              \
		long long _a = (long long)(a), _b = (long long)(b);       \
		if (_a != _b) {                                           \
			fprintf(stderr,                                   \
				"%s:%d: %s == %s failed: %lld != %lld\n", \
				__FILE__, __LINE__, #a, #b, _a, _b);      \
			exit(1);                                          \
		}                                                         \
	} while (0)

/* PCPU_TEST_SCALE=k divides the long loops by k (memcheck runs them). */
/* The sum of a u64 per-CPU object over every unit (reads every unit). */
static inline uint64_t test_sum_units(const uint64_t *p)
{
	uint64_t s = 0;

	for (unsigned int u = 0; u < pcpu_nr_units(); u++)
		s += *pcpu_ptr(p, u);
	return s;
}

static inline long test_scaled(long n)
{
	const char *env = getenv("PCPU_TEST_SCALE");
	long k = env ? strtol(env, NULL, 10) : 1;

	return k > 1 && n / k > 0 ? n / k : n;
}

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define TEST_HAVE_VALGRIND 1
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

/* A "Key: N kB" line of a /proc/self file. */
static inline long test_proc_kb(const char *file, const char *key)
{
	char line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f = fopen(file, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static inline long test_status_kb(const char *key)
{
	return test_proc_kb("/proc/self/status", key);
}

/*
 * Resident memory plus page tables, in KiB.  The resident size comes from
 * smaps_rollup, which walks the page tables: status's VmRSS lags by up to
 * 64 pages per thread on kernels before 6.2 (per-thread RSS caches), which
 * the 6.1 test guest showed.
 */
static inline long test_rss_kb(void)
{
	long rss = test_proc_kb("/proc/self/smaps_rollup", "Rss");

	return (rss >= 0 ? rss : test_status_kb("VmRSS")) +
	       test_status_kb("VmPTE");
}

/* Sanitizers map shadow memory as the program touches memory, and valgrind
 * maps its own, so mapping counts are only compared exactly in plain builds
 * run natively (and resident sizes bounded outside TSan and valgrind). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_SANITIZED 1
#else
#define TEST_SANITIZED 0
#endif
/* ThreadSanitizer's shadow is several times the memory the program
 * touches and outlives pages given back with MADV_DONTNEED: resident-size
 * bounds are checked in the plain and ASan builds only. */
#if defined(__SANITIZE_THREAD__)
#define TEST_RSS_MEANINGFUL 0
#else
#define TEST_RSS_MEANINGFUL (!RUNNING_ON_VALGRIND)
#endif
#define CHECK_RSS(cond)                  \
	do {                             \
		if (TEST_RSS_MEANINGFUL) \
			CHECK(cond);     \
	} while (0)
#define CHECK_MAPS_EQ(a, b)                                  \
	do {                                                 \
		if (!TEST_SANITIZED && !RUNNING_ON_VALGRIND) \
			CHECK_EQ(a, b);                      \
	} while (0)

/* Flags and counters that test threads share (no data race for TSan). */
#define TEST_LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define TEST_STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

/* Did the child die of a segmentation fault (or report one, under ASan)? */
#define TEST_SEGV(st, err)                               \
	((WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) || \
	 (TEST_SANITIZED && strstr(err, "SEGV") != NULL))

static inline int test_vma_count(void)
{
	char buf[65536];
	int fd = open("/proc/self/maps", O_RDONLY), n = 0;
	ssize_t got;

	if (fd < 0)
		return -1;
	while ((got = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < got; i++)
			n += buf[i] == '\n';
	close(fd);
	return n;
}

static inline double test_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* xorshift64*: deterministic randomness for the tests. */
static inline uint64_t test_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/*
 * Run @fn in a child with stderr captured into @err (NUL terminated).
 * Return: the child's wait status.
 */
static inline int test_in_child(void (*fn)(void *), void *arg, char *err,
				size_t errlen)
{
	int pfd[2], status;
	pid_t pid;
	size_t got = 0;
	ssize_t n;

	if (pipe(pfd))
		abort();
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		fn(arg);
		_exit(0);
	}
	close(pfd[1]);
	for (;;) {
		char drain[4096];

		/* keep the head; read the rest away so the child never
		 * blocks on a full pipe */
		if (got + 1 < errlen)
			n = read(pfd[0], err + got, errlen - 1 - got);
		else
			n = read(pfd[0], drain, sizeof(drain));
		if (n <= 0)
			break;
		if (got + 1 < errlen)
			got += (size_t)n;
	}
	err[got] = '\0';
	close(pfd[0]);
	waitpid(pid, &status, 0);
	return status;
}

/*
 * A program's table of cases is the only list of them: ctest registers
 * every case from `<program> --list FILE` (tests/CMakeLists.txt), with
 * the label "slow" or "quick", and a memcheck_<case> under valgrind unless
 * the case says TEST_NO_MEMCHECK (the table says why).  TEST_MANUAL cases
 * are registered by hand in tests/CMakeLists.txt.
 */
#define TEST_SLOW 1u
#define TEST_NO_MEMCHECK 2u
#define TEST_MANUAL 4u
#define TEST_NO_TSAN 8u
#define TEST_SERIAL 16u /* alone: changes what other tests would see */

struct test_case {
	const char *name;
	void (*fn)(void);
	unsigned int flags;
};

#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#else
#define TEST_TSAN 0
#endif

/* --list FILE: one line per case,
 * "<name> <quick|slow> <serial|shared>[ memcheck]". */
static inline int test_list(const struct test_case *cases, size_t n,
			    const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return 1;
	for (size_t i = 0; i < n; i++) {
		unsigned int fl = cases[i].flags;

		if ((fl & TEST_MANUAL) || (TEST_TSAN && (fl & TEST_NO_TSAN)))
			continue;
		fprintf(f, "%s %s %s%s\n", cases[i].name,
			fl & TEST_SLOW ? "slow" : "quick",
			fl & TEST_SERIAL ? "serial" : "shared",
			fl & TEST_NO_MEMCHECK ? "" : " memcheck");
	}
	return fclose(f) ? 1 : 0;
}

/* Run the case named by argv[1], in this process. */
static inline int test_main(const struct test_case *cases, size_t n, int argc,
			    char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "--list"))
		return test_list(cases, n, argv[2]);
	for (size_t i = 0; i < n; i++)
		if (argc > 1 && !strcmp(argv[1], cases[i].name)) {
			double t0 = test_now_ns();

			cases[i].fn();
			printf("ok %s (%.2f s)\n", cases[i].name,
			       (test_now_ns() - t0) / 1e9);
			return 0;
		}
	fprintf(stderr, "usage: %s <case> | --list FILE\n", argv[0]);
	return 2;
}

#define TEST_MAIN(cases)                                                  \
	int main(int argc, char **argv)                                   \
	{                                                                 \
		return test_main(cases, sizeof(cases) / sizeof(cases[0]), \
				 argc, argv);                             \
	}

#endif /* PCPU_TEST_H */
