// SPDX-License-Identifier: MIT
/*
 * environment.c - libpcpu where the system offers less: seccomp filters
 * like a container's, kernels whose capabilities are missing or only
 * pretend to work, arm64 kernels with the rseq abort bug.  Every case
 * checks the contracts (zeroing, exact operations, counters, refs, no
 * touch of idle units where the kernel can say which pages exist) and the
 * status lines that name the mode the library chose.
 */
#include "test.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <pcpu.h>
#include <pcpu/counter.h>
#include <pcpu/ops.h>
#include <pcpu/ref.h>

#include "percpu-internal.h"

#define NR_UNITS 16 /* more units than CPUs: idle units to watch */

/* ------------------------------------------------------------ seccomp */

/* One refused call: system call @nr (with argument @arg equal to @val when
 * @arg >= 0; with @val ~0, @arg above 4 GiB) returns -@err, or 0 without
 * doing anything when @err is 0. */
struct deny {
	long nr;
	int arg;
	unsigned long val;
	int err;
};

#define ABOVE_4G (~0ul)

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define PAGEMAP_SCAN_CMD 0xc0606610ul /* _IOWR('f', 16, struct pm_scan_arg) */

static const struct deny deny_numa[] = {
	{SYS_mbind, -1, 0, EPERM},
	{SYS_set_mempolicy, -1, 0, EPERM},
	{SYS_get_mempolicy, -1, 0, EPERM},
};
static const struct deny deny_batch[] = {{SYS_process_madvise, -1, 0, EPERM}};
static const struct deny deny_membarrier[] = {{SYS_membarrier, -1, 0, EPERM}};
static const struct deny deny_rseq[] = {{SYS_rseq, -1, 0, EPERM}};
static const struct deny deny_scan[] = {
	{SYS_ioctl, 1, PAGEMAP_SCAN_CMD, EPERM}};
static const struct deny deny_pagemap[] = {
	{SYS_ioctl, 1, PAGEMAP_SCAN_CMD, EPERM},
	/* pagemap offsets are address / 512: far above 4 GiB, unlike the
	 * dynamic loader's reads of libraries */
	{SYS_pread64, 3, ABOVE_4G, EPERM},
};
static const struct deny deny_guard[] = {
	{SYS_madvise, 2, 102, EINVAL},
	{SYS_madvise, 2, 103, EINVAL},
};
/* what qemu-user does: 0 and nothing done */
static const struct deny ignore_guard[] = {
	{SYS_madvise, 2, 102, 0},
	{SYS_madvise, 2, 103, 0},
};
static const struct deny ignore_scan[] = {{SYS_ioctl, 1, PAGEMAP_SCAN_CMD, 0}};

#define DENY(set) set, sizeof(set) / sizeof(set[0])

static void seccomp_install(const struct deny *const *sets,
			    const size_t *counts, int nsets)
{
#ifdef TEST_AUDIT_ARCH
	struct sock_filter prog[128];
	struct sock_fprog fprog;
	int n = 0;

	prog[n++] = (struct sock_filter)BPF_STMT(
		BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
						 TEST_AUDIT_ARCH, 1, 0);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
						 SECCOMP_RET_ALLOW);
	for (int s = 0; s < nsets; s++)
		for (size_t i = 0; i < counts[s]; i++) {
			const struct deny *d = &sets[s][i];

			CHECK(n + 6 < 128);
			prog[n++] = (struct sock_filter)BPF_STMT(
				BPF_LD | BPF_W | BPF_ABS,
				offsetof(struct seccomp_data, nr));
			prog[n++] = (struct sock_filter)BPF_JUMP(
				BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)d->nr,
				0, d->arg >= 0 ? 3 : 1);
			if (d->arg >= 0 && d->val == ABOVE_4G) {
				/* the high word (little-endian) is not 0 */
				prog[n++] = (struct sock_filter)BPF_STMT(
					BPF_LD | BPF_W | BPF_ABS,
					offsetof(struct seccomp_data,
						 args[d->arg]) +
						4);
				prog[n++] = (struct sock_filter)BPF_JUMP(
					BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0);
			} else if (d->arg >= 0) {
				prog[n++] = (struct sock_filter)BPF_STMT(
					BPF_LD | BPF_W | BPF_ABS,
					offsetof(struct seccomp_data,
						 args[d->arg]));
				prog[n++] = (struct sock_filter)BPF_JUMP(
					BPF_JMP | BPF_JEQ | BPF_K,
					(unsigned int)d->val, 0, 1);
			}
			prog[n++] = (struct sock_filter)BPF_STMT(
				BPF_RET | BPF_K,
				SECCOMP_RET_ERRNO | ((unsigned int)d->err &
						     SECCOMP_RET_DATA));
		}
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
						 SECCOMP_RET_ALLOW);
	fprog.len = (unsigned short)n;
	fprog.filter = prog;
	CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) == 0);
#else
	(void)sets;
	(void)counts;
	(void)nsets;
#endif
}

/* ---------------------------------------------------------- contracts */

static int nr_cpus;

static int nr_cpus_online(void)
{
	return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % nr_cpus, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

/* Is the page holding unit @u's copy of @p in memory? */
static bool unit_resident(const void *p, unsigned int u)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)pcpu_ptr((const char *)p, u) & ~(ps - 1);
	unsigned char v = 0;

	CHECK(mincore((void *)a, ps, &v) == 0);
	return v & 1;
}

#define NOBJ 64
#define OPS 20000

struct work {
	uint8_t *b;
	uint16_t *h;
	uint32_t *w;
	uint64_t *q;
	struct pcpu_counter *c;
	struct pcpu_ref *r;
	int id;
};

/* Each worker: every this-CPU operation kind, a counter, ref gets and
 * puts, moving between CPUs every 500 operations. */
static void *worker(void *arg)
{
	struct work *w = arg;

	for (int i = 0; i < OPS; i++) {
		if (!(i % 500))
			pin(w->id + i / 500);
		pcpu_inc(w->b);
		pcpu_add(w->h, 3);
		(void)pcpu_add_return(w->w, 5);
		pcpu_sub(w->q, 1);
		pcpu_counter_add(w->c, 7);
		pcpu_ref_get(w->r);
		pcpu_ref_put(w->r);
	}
	return NULL;
}

static int released;

static void on_release(struct pcpu_ref *r)
{
	(void)r;
	__atomic_add_fetch(&released, 1, __ATOMIC_RELAXED);
}

static void ops_counters_refs_exact(void)
{
	struct pcpu_counter c;
	struct pcpu_ref r;
	struct work w[2];
	pthread_t t[2];
	uint64_t sb = 0, sh = 0, sw = 0, sq = 0;
	void *b = pcpu_alloc(1, 1), *h = pcpu_alloc(2, 2),
	     *ww = pcpu_alloc(4, 4), *q = pcpu_alloc(8, 8);

	CHECK(b && h && ww && q);
	CHECK_EQ(pcpu_counter_init(&c, 0), 0);
	CHECK_EQ(pcpu_ref_init(&r, on_release, 0), 0);
	for (int i = 0; i < 2; i++) {
		w[i] = (struct work){b, h, ww, q, &c, &r, i};
		CHECK_EQ(pthread_create(&t[i], NULL, worker, &w[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	for (unsigned int u = 0; u < pcpu_nr_units(); u++) {
		if (u >= (unsigned int)nr_cpus && !unit_resident(b, u))
			continue; /* never touched: reads zero */
		sb += *pcpu_ptr((uint8_t *)b, u);
		sh += *pcpu_ptr((uint16_t *)h, u);
		sw += *pcpu_ptr((uint32_t *)ww, u);
		sq += *pcpu_ptr((uint64_t *)q, u);
	}
	CHECK_EQ((uint8_t)sb, (uint8_t)(2 * OPS));
	CHECK_EQ((uint16_t)sh, (uint16_t)(2 * 3 * OPS));
	CHECK_EQ((uint32_t)sw, (uint32_t)(2 * 5 * OPS));
	CHECK_EQ(sq, (uint64_t) - (2 * OPS));
	CHECK_EQ(pcpu_counter_sum(&c), 2 * 7 * OPS);
	pcpu_ref_kill(&r);
	CHECK_EQ(released, 1);
	pcpu_ref_exit(&r);
	pcpu_counter_destroy(&c);
	pcpu_free(b);
	pcpu_free(h);
	pcpu_free(ww);
	pcpu_free(q);
}

/* Objects written on the CPUs' units, freed, cleaned and handed out again
 * read zero; with a presence scan, no idle unit's page came into memory. */
static void zeroing_and_idle_units(bool scan_works)
{
	static unsigned char *p[NOBJ];
	size_t sz[NOBJ];

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < NOBJ; i++) {
			sz[i] = 8 + (size_t)(i * 37 % 250);
			p[i] = pcpu_alloc(sz[i], 8);
			CHECK(p[i] != NULL);
			for (int u = 0; u < nr_cpus; u++) {
				unsigned char *c = pcpu_ptr(p[i], u);

				for (size_t k = 0; k < sz[i]; k++)
					CHECK_EQ(c[k], 0);
				memset(c, 0xa5, sz[i]);
			}
		}
		for (int i = 0; i < NOBJ; i++)
			pcpu_free(p[i]);
		pcpu_balance();
	}
	ops_counters_refs_exact();
	if (!scan_works || TEST_SANITIZED || RUNNING_ON_VALGRIND)
		return;
	p[0] = pcpu_alloc(8, 8);
	for (unsigned int u = (unsigned int)nr_cpus; u < pcpu_nr_units(); u++)
		CHECK(!unit_resident(p[0], u));
	pcpu_free(p[0]);
}

static void deref_base(void *p)
{
	*(volatile char *)p = 1; /* the guard unit: must fault */
}

/* A per-CPU pointer itself points into the guard unit. */
static void direct_dereference_faults(void)
{
	char err[512];
	void *p = pcpu_alloc(8, 8);
	int st;

	CHECK(p != NULL);
	st = test_in_child(deref_base, p, err, sizeof(err));
	CHECK(TEST_SEGV(st, err));
	pcpu_free(p);
}

static char *status_text(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f != NULL);
	CHECK_EQ(pcpu_status_print(f), 0);
	fclose(f);
	return buf;
}

static void expect_status(const char *buf, const char *line)
{
	if (!strstr(buf, line)) {
		fprintf(stderr, "status lacks \"%s\":\n%s", line, buf);
		exit(1);
	}
}

/*
 * Install the refusals of @sets, start the allocator, run the contracts,
 * and check that the status names each expected mode of @want (lines or
 * their beginnings, NULL-terminated).
 */
static void under_filter(const char *name, const struct deny *const *sets,
			 const size_t *counts, int nsets, bool scan_works,
			 const char *const *want)
{
	char *status;

	/* As in a container, the filter is there from the program's start:
	 * install it, then run this case again in a new image under it
	 * (glibc registers rseq at start-up, or finds it refused). */
	if (!getenv("PCPU_TEST_UNDER_FILTER")) {
		char *argv[] = {(char *)"environment", (char *)name, NULL};

		seccomp_install(sets, counts, nsets);
		setenv("PCPU_TEST_UNDER_FILTER", "1", 1);
		execv("/proc/self/exe", argv);
		perror("execv");
		exit(1);
	}
	nr_cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	setenv("PCPU_NR_UNITS", "16", 1);
	pcpu_geo.force_numa = true; /* placement calls even on one node */
	zeroing_and_idle_units(scan_works);
	direct_dereference_faults();
	status = status_text();
	fputs(status, stdout);
	for (int i = 0; want[i]; i++)
		expect_status(status, want[i]);
	free(status);
}

#define ONE(set)                                     \
	__func__, (const struct deny *const[]){set}, \
		(const size_t[]){DENY_N(set)}, 1
#define DENY_N(set) sizeof(set) / sizeof(set[0])

/* the sysfs the library reads (fake_sysfs() changes it) */
static char sysfs_root[64] = "/sys";

/* More than one NUMA node online, as sysfs says ("0" on one node). */
static bool several_nodes(void)
{
	char buf[64] = "", path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/devices/system/node/online",
		 sysfs_root);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	return buf[0] && strcmp(buf, "0\n") && strcmp(buf, "0");
}

/* The rseq line as PCPU_INDEX and the kernel's rseq feature size say: the
 * concurrency ID where the kernel fills it (feature size >= 28) unless
 * asked for the CPU, or auto on several NUMA nodes. */
static const char *rseq_line(void)
{
	const char *ix = getenv("PCPU_INDEX");
	bool cpu = ix && !strcmp(ix, "cpu"), cid = ix && !strcmp(ix, "cid");

	if (cpu)
		return "this-CPU operations: rseq (cpu_id)";
	if (getauxval(27 /* AT_RSEQ_FEATURE_SIZE */) < 28)
		return cid ? "this-CPU operations: rseq (cpu_id (cid asked for"
			   : "this-CPU operations: rseq (cpu_id (auto: no "
			     "mm_cid";
	if (!cid && several_nodes())
		return "this-CPU operations: rseq (cpu_id (auto: several NUMA "
		       "nodes))";
	return "this-CPU operations: rseq (mm_cid)";
}

/* The expected operations line: rseq, except where glibc or valgrind
 * already took rseq away. */
static const char *ops_line(const char *atomic_reason)
{
	static char buf[128];

	if (TEST_TSAN) /* the library itself is built without rseq then */
		return "this-CPU operations: atomic (reason: no rseq "
		       "operations in this build)";
	if (__rseq_size == 0 || RUNNING_ON_VALGRIND)
		return "this-CPU operations: atomic (reason: rseq not "
		       "registered by glibc)";
	if (!atomic_reason)
		return rseq_line();
	snprintf(buf, sizeof(buf), "this-CPU operations: atomic (reason: %s)",
		 atomic_reason);
	return buf;
}

static void contracts_hold_with_mbind_denied(void)
{
	const char *want[] = {ops_line(NULL),
			      "NUMA placement: first touch (mbind: EPERM)",
			      NULL};

	under_filter(ONE(deny_numa), true, want);
}

static void contracts_hold_with_process_madvise_denied(void)
{
	const char *want[] = {ops_line(NULL),
			      "batched advice: none (one madvise per unit)",
			      NULL};

	under_filter(ONE(deny_batch), true, want);
}

static void contracts_hold_with_membarrier_denied(void)
{
	const char *want[] = {ops_line("membarrier RSEQ unavailable"), NULL};

	under_filter(ONE(deny_membarrier), true, want);
}

/* glibc's registration is refused at start-up (__rseq_size 0): every
 * thread takes the atomic path, none loops on a CPU number of -1. */
static void contracts_hold_with_rseq_denied(void)
{
	const char *want[] = {ops_line("rseq not registered by glibc"), NULL};

	under_filter(ONE(deny_rseq), true, want);
}

static void contracts_hold_with_pagemap_scan_denied(void)
{
	const char *want[] = {ops_line(NULL), "presence scan: pagemap", NULL};

	under_filter(ONE(deny_scan), true, want);
}

/* No way to ask which pages exist: sums and the cleaner read every unit
 * (the idle units' pages come in), and everything stays correct. */
static void contracts_hold_with_pagemap_denied(void)
{
	const char *want[] = {ops_line(NULL), "presence scan: none", NULL};

	under_filter(ONE(deny_pagemap), false, want);
}

static void contracts_hold_with_guard_advice_refused(void)
{
	const char *want[] = {ops_line(NULL),
			      "guard regions: mprotect fallback", NULL};

	under_filter(ONE(deny_guard), true, want);
}

/* A guard install that answers 0 and guards nothing (qemu-user) is found
 * out by the probe; the guard unit still faults (mprotect). */
static void guard_advice_that_does_nothing_is_not_trusted(void)
{
	const char *want[] = {ops_line(NULL),
			      "guard regions: mprotect fallback", NULL};

	under_filter(ONE(ignore_guard), true, want);
}

/* A PAGEMAP_SCAN that answers 0 and reports nothing is not used. */
static void pagemap_scan_that_reports_nothing_is_not_trusted(void)
{
	const char *want[] = {ops_line(NULL), "presence scan: pagemap", NULL};

	under_filter(ONE(ignore_scan), true, want);
}

/* Every refusal at once. */
static void contracts_hold_with_everything_denied(void)
{
	const struct deny *const sets[] = {deny_numa,	    deny_batch,
					   deny_membarrier, deny_rseq,
					   deny_pagemap,    deny_guard};
	const size_t counts[] = {DENY_N(deny_numa),	  DENY_N(deny_batch),
				 DENY_N(deny_membarrier), DENY_N(deny_rseq),
				 DENY_N(deny_pagemap),	  DENY_N(deny_guard)};
	const char *want[] = {ops_line("rseq not registered by glibc"),
			      "NUMA placement: first touch (mbind: EPERM)",
			      "guard regions: mprotect fallback",
			      "presence scan: none",
			      "batched advice: none",
			      NULL};

	under_filter(__func__, sets, counts, 6, false, want);
}

/* --------------------------------------------------- the arm64 gate */

/* The releases whose arm64 rseq does not abort on same-CPU preemption. */
static void rseq_gate_names_the_arm64_releases_with_the_bug(void)
{
	static const struct {
		const char *release, *version;
		bool bug;
	} k[] = {
		{"6.1.0-27-arm64", "#1 SMP Debian 6.1.115-1", false},
		{"6.12.41+deb13-arm64", NULL, false},
		{"6.18.3", NULL, false},
		{"6.19-rc4", NULL, true},
		{"6.19.0", NULL, true},
		{"6.19.7-arm64", NULL, true},
		{"7.0-rc7", NULL, true},
		{"7.0.0-1-arm64", "#1 SMP Debian 7.0.3-1 (2026-06-01)", true},
		{"7.0.0-1-arm64", "#1 SMP Debian 7.0.15-1 (2026-08-01)", false},
		{"7.0.0-1-arm64", NULL, true},
		{"7.0.13", NULL, true},
		{"7.0.14", NULL, false},
		{"7.1-rc1", NULL, true},
		{"7.1.0-rc2-arm64", NULL, true},
		{"7.1-rc3", NULL, false},
		{"7.1", NULL, false},
		{"7.3.2+deb13-arm64", NULL, false},
		{"garbage", NULL, false},
	};

	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (pcpu_rseq_kernel_bug(k[i].release, k[i].version) !=
		    k[i].bug) {
			fprintf(stderr, "%s (%s): expected %s\n", k[i].release,
				k[i].version ? k[i].version : "-",
				k[i].bug ? "the bug" : "no bug");
			exit(1);
		}
}

static void gated_child(void *arg)
{
	const char *why;
	int mode;

	pcpu_geo.fake_release = arg;
	mode = pcpu_ops_mode(&why);
	printf("%d %s\n", mode, why);
	fflush(stdout);
	_exit(mode == PCPU_OPS_RSEQ ? 10 : 11);
}

/* Mode and reason in a fresh allocator started with @env (or none) on a
 * kernel that calls itself @release. */
static int mode_in_child(const char *env, const char *release, char *err)
{
	int st;

	if (env)
		putenv((char *)env);
	else
		unsetenv("PCPU_RSEQ");
	st = test_in_child(gated_child, (void *)release, err, 256);
	CHECK(WIFEXITED(st));
	return WEXITSTATUS(st) == 10 ? PCPU_OPS_RSEQ : PCPU_OPS_ATOMIC;
}

/* On a gated release the operations are atomic and say why; PCPU_RSEQ=1
 * overrides the gate, PCPU_RSEQ=0 turns rseq off anywhere. */
static void arm64_rseq_bug_gates_rseq_off_unless_overridden(void)
{
	char err[256];
	const char *why;

	if (__rseq_size == 0 || RUNNING_ON_VALGRIND || TEST_TSAN) {
		CHECK_EQ(pcpu_ops_mode(&why), PCPU_OPS_ATOMIC);
		return;
	}
	CHECK_EQ(mode_in_child(NULL, "7.0.5-arm64", err), PCPU_OPS_ATOMIC);
	CHECK_EQ(mode_in_child(NULL, "7.0.14-arm64", err), PCPU_OPS_RSEQ);
	CHECK_EQ(mode_in_child("PCPU_RSEQ=1", "7.0.5-arm64", err),
		 PCPU_OPS_RSEQ);
	CHECK_EQ(mode_in_child("PCPU_RSEQ=0", "7.0.14-arm64", err),
		 PCPU_OPS_ATOMIC);
	unsetenv("PCPU_RSEQ");
	pcpu_geo.fake_release = "6.19.2";
	CHECK_EQ(pcpu_ops_mode(&why), PCPU_OPS_ATOMIC);
	CHECK(!strcmp(why, "kernel with the arm64 rseq bug"));
	nr_cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	ops_counters_refs_exact();
}

/* ---------------------------------------------------- CPUs as they are */

/* A sysfs of our own: cpu/possible, cpu/online and node/online. */
static void fake_sysfs(const char *possible, const char *online)
{
	static char root[] = "/tmp/pcpu-sysfs-XXXXXX";
	char path[256];
	const char *const files[][2] = {{"cpu/possible", possible},
					{"cpu/online", online},
					{"node/online", "0"}};

	CHECK(mkdtemp(root) != NULL);
	snprintf(path, sizeof(path),
		 "mkdir -p %s/devices/system/cpu "
		 "%s/devices/system/node",
		 root, root);
	CHECK_EQ(system(path), 0);
	for (int i = 0; i < 3; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/devices/system/%s", root,
			 files[i][0]);
		f = fopen(path, "w");
		CHECK(f != NULL);
		fprintf(f, "%s\n", files[i][1]);
		fclose(f);
	}
	pcpu_os_set_sysfs_root(root);
	snprintf(sysfs_root, sizeof(sysfs_root), "%s", root);
}

/* Operations, counters and refs stay exact; with @idle_from >= 0, units
 * from there on were never touched.  Return: the status text. */
static char *exact_on_these_cpus(int idle_from)
{
	nr_cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	ops_counters_refs_exact();
	if (idle_from >= 0 && !TEST_SANITIZED && !RUNNING_ON_VALGRIND) {
		void *p = pcpu_alloc(8, 8);

		for (unsigned int u = (unsigned int)idle_from;
		     u < pcpu_nr_units(); u++)
			CHECK(!unit_resident(p, u));
		pcpu_free(p);
	}
	return status_text();
}

/* Hot-pluggable vCPUs: six more possible CPUs than are online (the real
 * online ones: a 16-CPU guest runs on CPUs 8-15 too).  Every possible CPU
 * has a unit, rseq runs, the offline CPUs' units are never touched. */
static void possible_cpus_beyond_online_get_idle_units(void)
{
	int n = nr_cpus_online();
	char possible[32], online[32];
	char *st;

	snprintf(possible, sizeof(possible), "0-%d", n + 5);
	snprintf(online, sizeof(online), n > 1 ? "0-%d" : "%d", n - 1);
	fake_sysfs(possible, online);
	CHECK_EQ(pcpu_nr_units(), n + 6);
	st = exact_on_these_cpus(nr_cpus_online());
	expect_status(st, ops_line(NULL));
	free(st);
}

/* A virtualised sysfs (lxcfs) that shows fewer CPUs than the process runs
 * on: CPU 1 has no unit, so the first operation there turns the process
 * atomic, and everything stays exact. */
static void sysfs_showing_fewer_cpus_than_run_stays_exact(void)
{
	char *st;

	if (nr_cpus_online() < 2)
		return; /* nothing runs beyond the one unit */
	setenv("PCPU_INDEX", "cpu", 1); /* CPU 1 numbers no unit */
	fake_sysfs("0", "0");
	CHECK_EQ(pcpu_nr_units(), 1);
	st = exact_on_these_cpus(-1);
	expect_status(st, ops_line(__rseq_size ? "a CPU numbered beyond the "
						 "units"
					       : NULL));
	free(st);
}

/* taskset to one CPU: units are still one per possible CPU, and with
 * units numbered by CPU the operations land on the allowed CPU's unit. */
static void narrow_affinity_keeps_a_unit_per_possible_cpu(void)
{
	int last = nr_cpus_online() - 1;
	uint64_t *p;
	cpu_set_t set;

	setenv("PCPU_INDEX", "cpu", 1);
	CPU_ZERO(&set);
	CPU_SET(last, &set);
	CHECK(sched_setaffinity(0, sizeof(set), &set) == 0);
	CHECK_EQ(pcpu_nr_units(), pcpu_geo.caps.nr_possible_cpus);
	p = pcpu_alloc(8, 8);
	for (int i = 0; i < 1000; i++)
		pcpu_inc(p);
	CHECK_EQ(*pcpu_ptr(p, last), 1000);
	pcpu_free(p);
}

static bool toggling;
static int toggles;

static void cpu1_online(int on)
{
	int fd = open("/sys/devices/system/cpu/cpu1/online", O_WRONLY);

	if (fd < 0)
		return;
	if (write(fd, on ? "1" : "0", 1) < 0)
		perror("cpu1/online");
	close(fd);
}

static void cpu1_back(void)
{
	cpu1_online(1);
}

static void *toggler(void *arg)
{
	(void)arg;
	while (TEST_LOAD(toggling)) {
		cpu1_online(0);
		usleep(20000);
		cpu1_online(1);
		usleep(20000);
		__atomic_add_fetch(&toggles, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* CPU 1 goes offline and online again, over and over, while operations,
 * counters and refs run on it.  Needs root and a CPU 1 that can go
 * offline; elsewhere it says so and checks nothing else. */
static void cpu_offline_and_online_while_operations_run(void)
{
	pthread_t t;

	if (access("/sys/devices/system/cpu/cpu1/online", W_OK) ||
	    nr_cpus_online() < 2) {
		printf("no CPU 1 to take offline here: not run\n");
		return;
	}
	atexit(cpu1_back);
	nr_cpus = 2;
	TEST_STORE(toggling, true);
	CHECK_EQ(pthread_create(&t, NULL, toggler, NULL), 0);
	while (TEST_LOAD(toggles) < 25) {
		released = 0;
		ops_counters_refs_exact();
	}
	TEST_STORE(toggling, false);
	CHECK_EQ(pthread_join(t, NULL), 0);
	cpu1_online(1);
}

/* ------------------------------------------------------------------ NUMA */

/* The node sysfs gives CPU @cpu, or -1. */
static int cpu_node(int cpu)
{
	char path[96];

	for (int n = 0; n < 64; n++) {
		snprintf(path, sizeof(path),
			 "/sys/devices/system/cpu/cpu%d/node%d", cpu, n);
		if (access(path, F_OK) == 0)
			return n;
	}
	return -1;
}

/* The node the page at @addr is on (it must be in memory), or -1. */
static int page_node(const void *addr)
{
	int node = -1;

	/* MPOL_F_NODE | MPOL_F_ADDR: the node of the page at addr */
	if (syscall(SYS_get_mempolicy, &node, NULL, 0UL, addr, 3UL))
		return -1;
	return node;
}

/* Mappings in /proc/self/maps that overlap the chunk of @p. */
static int mappings_of_chunk(const void *p)
{
	uintptr_t base = (uintptr_t)p & ~(pcpu_geo.unit_size - 1);
	uintptr_t end = base + pcpu_geo.chunk_size;
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		uintptr_t lo, hi;

		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo < end &&
		    hi > base)
			n++;
	}
	fclose(f);
	return n;
}

/* Two nodes or more, or say so. */
static bool numa_host(void)
{
	if (access("/sys/devices/system/node/node1", F_OK)) {
		printf("one NUMA node here: not run (the 2-node guest, make "
		       "test-vm NUMA=2, runs it)\n");
		return false;
	}
	return true;
}

/* The mappings a chunk may take: one, and one for a PROT_NONE guard. */
static int chunk_mapping_bound(void)
{
	return pcpu_geo.caps.guard_regions ? 1 : 2;
}

/*
 * The default placement on a NUMA machine: every online CPU writes its own
 * unit of a fresh page-sized object first, and that page is on the CPU's
 * node; the chunk stays one mapping (and its guard).  Seen in the 2-node
 * guest before: a policy per node's run of units, 4 mappings a chunk.
 */
static void numa_first_touch_places_units_in_one_mapping(void)
{
	char *st;
	char *p;

	if (!numa_host())
		return;
	nr_cpus = nr_cpus_online();
	p = pcpu_alloc(4096, 4096);
	CHECK(p != NULL);
	for (int c = 0; c < nr_cpus && c < (int)pcpu_nr_units(); c++) {
		pin(c);
		CHECK(!unit_resident(p, (unsigned int)c));
		*(volatile char *)pcpu_ptr(p, (unsigned int)c) = 1;
		printf("CPU %d (node %d): its unit's page on node %d\n", c,
		       cpu_node(c), page_node(pcpu_ptr(p, (unsigned int)c)));
		CHECK_EQ(page_node(pcpu_ptr(p, (unsigned int)c)), cpu_node(c));
	}
	printf("mappings of the chunk: %d\n", mappings_of_chunk(p));
	CHECK(mappings_of_chunk(p) <= chunk_mapping_bound());
	st = status_text();
	expect_status(st, "NUMA placement: first touch (");
	CHECK(strstr(st, "nodes)") != NULL);
	free(st);
	pcpu_free(p);
}

/*
 * PCPU_NUMA=bind: one thread, on CPU 0, writes every unit first, and each
 * unit's page is still on its CPU's node; a mapping per node's run.
 */
static void numa_bind_places_units_touched_from_one_cpu(void)
{
	unsigned int u, runs = 1;
	char *st;
	char *p;

	if (!numa_host())
		return;
	setenv("PCPU_NUMA", "bind", 1);
	nr_cpus = nr_cpus_online();
	p = pcpu_alloc(4096, 4096);
	CHECK(p != NULL);
	st = status_text();
	expect_status(st, "NUMA placement: mbind (PCPU_NUMA=bind)");
	free(st);
	pin(0);
	for (u = 0; u < pcpu_nr_units(); u++) {
		*(volatile char *)pcpu_ptr(p, u) = 1;
		if (u && cpu_node((int)u) != cpu_node((int)u - 1))
			runs++;
		if (cpu_node((int)u) >= 0)
			CHECK_EQ(page_node(pcpu_ptr(p, u)), cpu_node((int)u));
	}
	printf("mappings of the chunk: %d (%u runs of units)\n",
	       mappings_of_chunk(p), runs);
	CHECK(mappings_of_chunk(p) <= chunk_mapping_bound() - 1 + (int)runs);
	pcpu_free(p);
}

static const struct test_case cases[] = {
	{"contracts_hold_with_mbind_denied", contracts_hold_with_mbind_denied,
	 TEST_NO_MEMCHECK},
	{"contracts_hold_with_process_madvise_denied",
	 contracts_hold_with_process_madvise_denied, TEST_NO_MEMCHECK},
	{"contracts_hold_with_membarrier_denied",
	 contracts_hold_with_membarrier_denied, TEST_NO_MEMCHECK},
	{"contracts_hold_with_rseq_denied", contracts_hold_with_rseq_denied,
	 TEST_NO_MEMCHECK},
	{"contracts_hold_with_pagemap_scan_denied",
	 contracts_hold_with_pagemap_scan_denied, TEST_NO_MEMCHECK},
	{"contracts_hold_with_pagemap_denied",
	 contracts_hold_with_pagemap_denied, TEST_NO_MEMCHECK},
	{"contracts_hold_with_guard_advice_refused",
	 contracts_hold_with_guard_advice_refused, TEST_NO_MEMCHECK},
	{"guard_advice_that_does_nothing_is_not_trusted",
	 guard_advice_that_does_nothing_is_not_trusted, TEST_NO_MEMCHECK},
	{"pagemap_scan_that_reports_nothing_is_not_trusted",
	 pagemap_scan_that_reports_nothing_is_not_trusted, TEST_NO_MEMCHECK},
	{"contracts_hold_with_everything_denied",
	 contracts_hold_with_everything_denied, TEST_NO_MEMCHECK},
	{"rseq_gate_names_the_arm64_releases_with_the_bug",
	 rseq_gate_names_the_arm64_releases_with_the_bug, 0},
	{"arm64_rseq_bug_gates_rseq_off_unless_overridden",
	 arm64_rseq_bug_gates_rseq_off_unless_overridden, TEST_NO_MEMCHECK},
	{"possible_cpus_beyond_online_get_idle_units",
	 possible_cpus_beyond_online_get_idle_units, 0},
	{"sysfs_showing_fewer_cpus_than_run_stays_exact",
	 sysfs_showing_fewer_cpus_than_run_stays_exact, 0},
	{"narrow_affinity_keeps_a_unit_per_possible_cpu",
	 narrow_affinity_keeps_a_unit_per_possible_cpu, 0},
	{"numa_first_touch_places_units_in_one_mapping",
	 numa_first_touch_places_units_in_one_mapping, TEST_NO_MEMCHECK},
	{"numa_bind_places_units_touched_from_one_cpu",
	 numa_bind_places_units_touched_from_one_cpu, TEST_NO_MEMCHECK},
	{"cpu_offline_and_online_while_operations_run",
	 cpu_offline_and_online_while_operations_run,
	 TEST_SERIAL | TEST_NO_MEMCHECK},
};

TEST_MAIN(cases)
