// SPDX-License-Identifier: MIT
/*
 * percpu-setup.c - start-up, fork and teardown of the allocator.
 *
 * pcpu_init() / pcpu_ensure_init() settle the configuration (options.c),
 * probe the system (os-linux.c), size the geometry and the slot lists and
 * choose the this-CPU operations (ops.c), once, under the start-up lock.
 * The fork handlers hold every allocator lock across fork() and give the
 * child a clean state; pcpu_test_reset() tears everything down for tests.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcpu.h>
#include <pcpu/ops.h>

#include "percpu-internal.h"
#include "sanitize.h"

static pthread_mutex_t pcpu_init_mutex = PTHREAD_MUTEX_INITIALIZER;

/* The start-up lock; a signal handler on top of it sees pcpu_lock_depth. */
static void pcpu_init_lock(void)
{
	pcpu_lock_depth++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pthread_mutex_lock(&pcpu_init_mutex);
}

static void pcpu_init_unlock(void)
{
	pthread_mutex_unlock(&pcpu_init_mutex);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	pcpu_lock_depth--;
}

/*
 * Every lock of the allocator is held across fork(), in its nesting order,
 * so the child finds each one in a known state: the start-up lock, the
 * allocation mutex, the balance thread's lock, the maps' spin lock.  (The
 * locks inside counters and refs are fork-generation locks: see
 * pcpu_obj_lock().)
 */
/* Wait until no other thread is in a no-fork section, and hold new ones. */
static void pcpu_nofork_wait(void)
{
	unsigned int mine = pcpu_nofork_depth, i, n;

	pcpu_nofork_depth++; /* this thread's handlers go on meanwhile */
	__atomic_store_n(&pcpu_fork_pending, 1, __ATOMIC_SEQ_CST);
	do {
		for (n = 0, i = 0; i < PCPU_NOFORK_SHARDS; i++)
			n += __atomic_load_n(&pcpu_nofork[i].running,
					     __ATOMIC_SEQ_CST);
		if (n > mine)
			pcpu_cpu_relax();
	} while (n > mine);
}

static void pcpu_nofork_release(void)
{
	__atomic_store_n(&pcpu_fork_pending, 0, __ATOMIC_RELEASE);
	pcpu_nofork_depth--;
}

static void pcpu_atfork_prepare(void)
{
	pcpu_nofork_wait();
	pcpu_init_lock();
	if (!pcpu_g.initialized)
		return;
	pcpu_mutex_lock();
	pthread_mutex_lock(&pcpu_g.balance_lock);
	pcpu_lock();
}

static void pcpu_atfork_parent(void)
{
	if (pcpu_g.initialized) {
		pcpu_unlock();
		pthread_mutex_unlock(&pcpu_g.balance_lock);
		pcpu_mutex_unlock();
	}
	pcpu_init_unlock();
	pcpu_nofork_release();
}

/*
 * The child has one thread: reset the locks, start a new fork generation,
 * and, if the parent had a balance thread, start the child's own, so that
 * pcpu_alloc_nowait() capacity comes back whatever the child calls (it
 * may only ever call pcpu_alloc_nowait() and pcpu_free(), which make no
 * system call and so cannot start it).
 */
static void pcpu_atfork_child(void)
{
	bool had_balance_thread = pcpu_g.balance_running;

	pthread_mutex_init(&pcpu_init_mutex, NULL);
	pcpu_lock_depth--;
	pcpu_nofork_release();
	if (!pcpu_g.initialized)
		return;
	__atomic_store_n(&pcpu_fork_gen, pcpu_fork_gen + 1, __ATOMIC_RELAXED);
	pthread_mutex_init(&pcpu_g.balance_lock, NULL);
	pthread_cond_init(&pcpu_g.balance_cond, NULL);
	pthread_mutex_init(&pcpu_g.alloc_mutex, NULL);
	PCPU_LOCKDEP(pcpu_held_mutex--);
	pcpu_g.balance_running = false;
	pcpu_g.balance_stop = false;
	pcpu_os_after_fork_child();
	pcpu_tcache_fork_child();
	pcpu_unlock(); /* and complete the frees deferred meanwhile */
	/* should the thread fail to start, pcpu_alloc() tries again */
	WRITE_ONCE(pcpu_g.balance_restart, had_balance_thread);
	if (had_balance_thread) {
		pthread_mutex_lock(&pcpu_g.balance_lock);
		pcpu_balance_start();
		pthread_mutex_unlock(&pcpu_g.balance_lock);
	}
}

static void pcpu_exit_stats(void)
{
	if (!pcpu_g.initialized)
		return;
	if (pcpu_geo.show_stats == 2)
		pcpu_stats_print(stderr);
	else if (pcpu_geo.show_stats == 1)
		pcpu_stats_summary(stderr);
}

static int pcpu_setup_units(void)
{
	unsigned int u, runs = 1;

	pcpu_geo.unit_node = NULL;
	if (pcpu_geo.caps.nr_nodes <= 1 && !pcpu_geo.force_numa)
		return 0;
	pcpu_geo.unit_node = calloc(pcpu_geo.nr_units, sizeof(int));
	if (!pcpu_geo.unit_node)
		return -ENOMEM;
	for (u = 0; u < pcpu_geo.nr_units; u++) {
		int node = pcpu_os_cpu_to_node(u);

		pcpu_geo.unit_node[u] = node > 0 ? node : 0;
		if (u && pcpu_geo.unit_node[u] != pcpu_geo.unit_node[u - 1])
			runs++;
	}
	/* Each run of units on one node costs a mapping; with CPUs
	 * interleaved across nodes, leave placement to first touch (a unit is
	 * first written by its own CPU) rather than split every chunk. */
	if (runs > 8) {
		free(pcpu_geo.unit_node);
		pcpu_geo.unit_node = NULL;
	}
	return 0;
}

/* Geometry: everything that follows from the page and unit sizes. */
static void pcpu_setup_geometry(void)
{
	pcpu_geo.unit_pages = (int)(pcpu_geo.unit_size >> pcpu_geo.page_shift);
	pcpu_geo.unit_map_bits =
		(int)(pcpu_geo.unit_size >> PCPU_MIN_ALLOC_SHIFT);
	pcpu_geo.block_bits = (int)(pcpu_geo.page_size >> PCPU_MIN_ALLOC_SHIFT);
	pcpu_geo.chunk_size =
		(size_t)(pcpu_geo.nr_units + 1) * pcpu_geo.unit_size;
	pcpu_geo.sidelined_slot =
		__pcpu_size_to_slot((int)pcpu_geo.unit_size) + 1;
	pcpu_geo.free_slot = pcpu_geo.sidelined_slot + 1;
	pcpu_geo.to_depopulate_slot = pcpu_geo.free_slot + 1;
	pcpu_geo.nr_slots = pcpu_geo.to_depopulate_slot + 1;
}

/* Free the tables pcpu_setup_tables() made (any of them may be NULL). */
static void pcpu_free_tables(void)
{
	free(pcpu_g.chunk_lists);
	free(pcpu_g.pages);
	free(pcpu_g.scratch);
	free(pcpu_g.lookup);
	free(pcpu_geo.unit_node);
	pcpu_g.chunk_lists = NULL;
	pcpu_g.pages = NULL;
	pcpu_g.scratch = NULL;
	pcpu_g.lookup = NULL;
	pcpu_geo.unit_node = NULL;
	pcpu_g.lookup_cap = pcpu_g.lookup_used = 0;
}

/* The slot lists, the backend's page array, the cleaner's scratch map,
 * the reverse lookup and the NUMA map.  Return: 0 or -ENOMEM. */
static int pcpu_setup_tables(void)
{
	int i;

	if (pcpu_geo.nr_slots > BITS_PER_LONG)
		return -EINVAL; /* pcpu_g.slot_mask has a bit per slot */
	pcpu_g.chunk_lists =
		calloc(pcpu_geo.nr_slots, sizeof(struct list_head));
	pcpu_g.pages = calloc((size_t)pcpu_geo.nr_units * pcpu_geo.unit_pages,
			      sizeof(void *));
	pcpu_g.scratch =
		calloc(BITS_TO_LONGS(pcpu_geo.unit_map_bits), sizeof(long));
	pcpu_g.lookup_cap = 64;
	pcpu_g.lookup = calloc(pcpu_g.lookup_cap, sizeof(*pcpu_g.lookup));
	if (!pcpu_g.chunk_lists || !pcpu_g.pages || !pcpu_g.scratch ||
	    !pcpu_g.lookup || pcpu_setup_units()) {
		pcpu_free_tables();
		return -ENOMEM;
	}
	for (i = 0; i < pcpu_geo.nr_slots; i++)
		INIT_LIST_HEAD(&pcpu_g.chunk_lists[i]);
	pcpu_g.slot_mask = 0;
	return 0;
}

/* The fork handlers and the exit hook, once per process. */
static void pcpu_setup_hooks(void)
{
	static bool done;

	if (done)
		return;
	pthread_atfork(pcpu_atfork_prepare, pcpu_atfork_parent,
		       pcpu_atfork_child);
	atexit(pcpu_exit_stats);
	done = true;
}

/*
 * pcpu_setup - start the allocator: probe the system, settle the options,
 * derive the geometry, make the tables, install the hooks, choose the
 * this-CPU operations.  Context: the start-up lock.  Return: 0 or -errno
 * (nothing is left allocated).
 */
static int pcpu_setup(const struct pcpu_config *cfg)
{
	int ret;

	pcpu_track_init(); /* before the probes: they read what the kernel wrote
			    */
	ret = pcpu_os_init(&pcpu_geo.caps);
	if (ret)
		return ret;
	pcpu_geo.page_size = pcpu_geo.caps.page_size;
	pcpu_geo.page_shift = __builtin_ctzl(pcpu_geo.page_size);
	ret = pcpu_options_load(cfg, &pcpu_geo);
	if (ret)
		return ret;
	pcpu_setup_geometry();
	ret = pcpu_setup_tables();
	if (ret)
		return ret;
	pcpu_setup_hooks();
	/* memory trackers must see every allocation: no thread caches */
	if (pcpu_geo.tcache && (pcpu_san_active() || pcpu_tcache_setup()))
		pcpu_geo.tcache = false;
	pcpu_unit_stride = pcpu_geo.unit_size;
	pcpu_ops_init();
	__atomic_store_n(&pcpu_g.initialized, true, __ATOMIC_RELEASE);
	return 0;
}

/* Start the allocator with @cfg unless it runs already (then @busy). */
static int pcpu_setup_once(const struct pcpu_config *cfg, int busy)
{
	int ret = busy;

	pcpu_init_lock();
	if (!pcpu_g.initialized)
		ret = pcpu_setup(cfg);
	pcpu_init_unlock();
	return ret;
}

/**
 * pcpu_init - configure the allocator before its first use
 * @cfg: the settings, or NULL for the environment and the defaults
 *
 * Optional: the first allocation starts the allocator from the environment
 * (PCPU_NR_UNITS, PCPU_UNIT_SIZE, PCPU_BALANCE, PCPU_STRICT,
 * PCPU_SHOW_STATS) if pcpu_init() was not called.  A field of @cfg left at
 * its "unset" value (0, or -1 for the tristates) takes the environment's.
 *
 * Context: takes the start-up lock; makes system calls.
 * Return: 0; -EBUSY once the allocator is in use; -EINVAL for a bad field
 * of @cfg; -ENOMEM.
 */
int pcpu_init(const struct pcpu_config *cfg)
{
	return pcpu_setup_once(cfg, -EBUSY);
}

/**
 * pcpu_ensure_init - start the allocator from the environment if needed
 *
 * Context: takes the start-up lock the first time.
 * Return: 0, or a negative errno.
 */
int pcpu_ensure_init(void)
{
	if (likely(__atomic_load_n(&pcpu_g.initialized, __ATOMIC_ACQUIRE)))
		return 0;
	return pcpu_setup_once(NULL, 0);
}

/**
 * pcpu_test_reset - tear the allocator down completely (tests only)
 *
 * Stops the balance thread, destroys every chunk and forgets the
 * configuration, so that a test can start again with pcpu_init().  Every
 * per-CPU pointer becomes invalid.
 *
 * Context: no other thread may be using libpcpu.
 */
void pcpu_test_reset(void)
{
	size_t i;

	if (!pcpu_g.initialized)
		return;
	pcpu_balance_stop_thread();
	pcpu_tcache_forget();
	pcpu_mutex_lock();
	for (i = 0; i < pcpu_g.lookup_cap; i++)
		if (pcpu_g.lookup[i])
			pcpu_destroy_chunk(pcpu_g.lookup[i]);
	pcpu_mutex_unlock();
	pcpu_free_tables();
	pcpu_g.initialized = false;
	pcpu_g.nr_empty_pop_pages = pcpu_g.nr_populated = 0;
	pcpu_g.dirty_bytes = pcpu_g.used_bytes = 0;
	pcpu_g.atomic_alloc_failed = false;
	pcpu_g.numa_fallback_err = 0;
	pcpu_g.balance_pending = 0;
	memset(&pcpu_g.stats, 0, sizeof(pcpu_g.stats));
	pcpu_unit_stride = 0;
	__atomic_store_n(&pcpu_rseq_limit, 0, __ATOMIC_SEQ_CST);
}

/**
 * pcpu_version - the release of the library that runs
 *
 * Compare it with PCPU_VERSION, the release of the headers a program was
 * built with: a program built against 0.2 needs pcpu_version() >=
 * PCPU_VERSION_NUMBER(0, 2, 0).
 *
 * Context: any, including a signal handler; starts nothing.
 * Return: PCPU_VERSION_NUMBER(major, minor, patch) of the library.
 */
unsigned int pcpu_version(void)
{
	return PCPU_VERSION;
}
