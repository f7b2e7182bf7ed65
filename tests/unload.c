// SPDX-License-Identifier: MIT
/*
 * unload.c - libpcpu and a plugin of it unloaded while the process runs.
 *
 * This program does not link libpcpu: it dlopen()s the shared library (and
 * the plugins, which depend on it) by the paths the build passes in.
 */
#include "test.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>

#include <pcpu.h>
#include <pcpu/ops.h>

#ifndef PCPU_TEST_LIB
#error "the build passes PCPU_TEST_LIB (libpcpu.so.0) and the plugins' paths"
#endif

static void *test_dlsym(void *h, const char *name)
{
	void *f = dlsym(h, name);

	if (!f) {
		fprintf(stderr, "dlsym %s: %s\n", name, dlerror());
		exit(1);
	}
	return f;
}

static void *test_dlopen(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		exit(1);
	}
	return h;
}

/* One round: open libpcpu, allocate, free (the balance thread has work),
 * close it. */
static void unload_round(void)
{
	void *h = test_dlopen(PCPU_TEST_LIB);
	void *(*alloc)(size_t, size_t) = test_dlsym(h, "pcpu_alloc");
	void (*release)(void *) = test_dlsym(h, "pcpu_free");
	static void *p[4096];

	for (int i = 0; i < 4096; i++) {
		p[i] = alloc(64, 8);
		CHECK(p[i] != NULL);
	}
	for (int i = 0; i < 4096; i++)
		release(p[i]);
	CHECK_EQ(dlclose(h), 0);
}

/*
 * dlclose() of libpcpu while its balance thread has work queued: the
 * process goes on (the library stays mapped, -z nodelete), and a second
 * dlopen() finds the same allocator.  Before: SIGSEGV within the second,
 * the balance thread running unmapped code.
 */
static void dlclose_of_libpcpu_keeps_the_process_running(void)
{
	double t0 = test_now_ns();

	for (int round = 0; round < 3; round++)
		unload_round();
	/* the balance thread wakes up by itself (a timeout) and when kicked */
	while (test_now_ns() - t0 < 1.5e9)
		usleep(10000);
	unload_round();
}

struct plugin_thread {
	void (*bump)(unsigned long *, unsigned long);
	void (*clear)(void);
	unsigned long *obj;
	int ran, unloaded;
	bool armed; /* rseq_cs still set once the plugin was gone */
};

static __thread volatile sig_atomic_t signalled;

static void on_usr1(int sig)
{
	(void)sig;
	signalled = 1;
}

/*
 * The thread's last critical section (in the plugin) happens before the
 * unload; it then spins in user space, never leaving the CPU on its own,
 * until the plugin is gone and a signal has interrupted it there: the
 * kernel looks at whatever rseq_cs still names before it delivers a signal
 * (and, before Linux 6.19, after every sleep too; since then not on a
 * return from a system call, so sleeping alone shows nothing there).
 */
static void *plugin_worker(void *arg)
{
	struct plugin_thread *t = arg;

	t->bump(t->obj, 100000);
	if (t->clear)
		t->clear();
	TEST_STORE(t->ran, 1);
	while (!TEST_LOAD(t->unloaded))
		;
	t->armed = *(volatile uint64_t *)(__pcpu_rseq_area() +
					  PCPU_RSEQ_CS_OFFSET) != 0;
	while (!signalled)
		;
	for (int i = 0; i < 50; i++)
		usleep(1000);
	return NULL;
}

/* Run the plugin @path's sections on two threads, dlclose() it, let the
 * threads be preempted; the per-CPU sum is exact.  Return: how many of
 * the threads still had rseq_cs set after the unload. */
static int plugin_unload(const char *path, bool clear_each_thread)
{
	void *lib = test_dlopen(PCPU_TEST_LIB);
	void *(*alloc)(size_t, size_t) = test_dlsym(lib, "pcpu_alloc");
	unsigned int (*nr_units)(void) = test_dlsym(lib, "pcpu_nr_units");
	size_t *stride = test_dlsym(lib, "pcpu_unit_stride");
	void *plugin = test_dlopen(path);
	struct plugin_thread t[2];
	pthread_t tid[2];
	unsigned long *obj = alloc(sizeof(*obj), sizeof(*obj)), sum = 0;

	CHECK(obj != NULL);
	signal(SIGUSR1, on_usr1);
	for (int i = 0; i < 2; i++) {
		t[i] = (struct plugin_thread){
			.bump = test_dlsym(plugin, "plugin_bump"),
			.clear = clear_each_thread
					 ? test_dlsym(lib, "pcpu_rseq_clear")
					 : NULL,
			.obj = obj,
		};
		CHECK_EQ(pthread_create(&tid[i], NULL, plugin_worker, &t[i]),
			 0);
	}
	for (int i = 0; i < 2; i++)
		while (!TEST_LOAD(t[i].ran))
			usleep(100);
	CHECK_EQ(dlclose(plugin), 0);
	/* the plugin's code and descriptors are unmapped now */
	CHECK(dlopen(path, RTLD_NOW | RTLD_NOLOAD) == NULL);
	for (int i = 0; i < 2; i++) {
		TEST_STORE(t[i].unloaded, 1);
		CHECK_EQ(pthread_kill(tid[i], SIGUSR1), 0);
	}
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(tid[i], NULL), 0);
	for (unsigned int u = 0; u < nr_units(); u++)
		sum += *(unsigned long *)((char *)obj + (u + 1) * *stride);
	CHECK_EQ(sum, 200000);
	return t[0].armed + t[1].armed;
}

/* A plugin built with PCPU_UNLOADABLE: its sections leave no rseq_cs. */
static void plugin_built_unloadable_can_be_dlclosed(void)
{
	CHECK_EQ(plugin_unload(PCPU_TEST_PLUGIN_UNLOADABLE, false), 0);
}

/* A plugin built plainly, whose threads call pcpu_rseq_clear() once
 * they are done with it. */
static void plugin_threads_clear_rseq_cs_then_dlclose(void)
{
	CHECK_EQ(plugin_unload(PCPU_TEST_PLUGIN, true), 0);
}

extern const unsigned int __rseq_size;

static void plugin_unload_armed(void *arg)
{
	(void)arg;
	/* 3: the kernel had cleared every rseq_cs itself (a migration
	 * between the last section and the unload) */
	_exit(plugin_unload(PCPU_TEST_PLUGIN, false) ? 0 : 3);
}

/*
 * The hazard the two cases above avoid, so that they show something: a
 * plain plugin unloaded while its threads' rseq_cs still name its
 * descriptors, and the thread that spun through the unload is killed at
 * its next preemption.  Without rseq (valgrind, the glibc tunable) there
 * is no hazard and the child survives.
 */
static void plugin_unloaded_armed_kills_its_threads(void)
{
	char err[4096];
	int st = test_in_child(plugin_unload_armed, NULL, err, sizeof(err));

	if (__rseq_size == 0 || RUNNING_ON_VALGRIND) {
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		return;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 3) {
		/* seen in a NUMA guest, whose balancing migrates threads */
		printf("the kernel cleared rseq_cs before the unload: no "
		       "hazard this time\n");
		return;
	}
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
}

static const struct test_case cases[] = {
	{"dlclose_of_libpcpu_keeps_the_process_running",
	 dlclose_of_libpcpu_keeps_the_process_running, 0},
	{"plugin_built_unloadable_can_be_dlclosed",
	 plugin_built_unloadable_can_be_dlclosed, 0},
	{"plugin_threads_clear_rseq_cs_then_dlclose",
	 plugin_threads_clear_rseq_cs_then_dlclose, 0},
	{"plugin_unloaded_armed_kills_its_threads",
	 plugin_unloaded_armed_kills_its_threads, 0},
};

TEST_MAIN(cases)
