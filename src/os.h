/* SPDX-License-Identifier: MIT */
/*
 * os.h - the operating-system layer of libpcpu.
 *
 * os-linux.c makes every system call of libpcpu that maps, advises,
 * protects or asks about memory, CPUs and nodes (mmap, madvise,
 * process_madvise, mprotect, PAGEMAP_SCAN, membarrier, getcpu, NUMA
 * bindings).  Elsewhere libpcpu reaches the kernel only through the C
 * library: the balance thread's pthread_create() and timed waits, and
 * diagnostics written to stderr.  Every function here returns 0 or a
 * negative errno.  Addresses and lengths are
 * page aligned unless said otherwise; a call with an unaligned argument
 * returns -EINVAL without doing anything.
 *
 * For tests, pcpu_os_inject_fault() makes the Nth call of one kind fail
 * with a chosen errno before it reaches the kernel.
 */
#ifndef PCPU_OS_H
#define PCPU_OS_H

#include <stdbool.h>
#include <stddef.h>

/* The kinds of call the fault-injection hook can fail. */
enum pcpu_os_call {
	PCPU_OS_RESERVE, /* pcpu_os_reserve() */
	PCPU_OS_RELEASE, /* pcpu_os_release() */
	PCPU_OS_GUARD_INSTALL, /* pcpu_os_guard() */
	PCPU_OS_GUARD_REMOVE, /* pcpu_os_unguard() */
	PCPU_OS_ZAP, /* pcpu_os_zap() */
	PCPU_OS_NOHUGEPAGE, /* pcpu_os_nohugepage() */
	PCPU_OS_BIND, /* pcpu_os_bind() */
	PCPU_OS_SCAN, /* pcpu_os_scan_present() */
	PCPU_OS_SAN_SCAN, /* pcpu_os_scan_for_checker() */
	PCPU_OS_NR_CALLS,
};

/* What the running system offers, found once by pcpu_os_init(). */
struct pcpu_os_caps {
	size_t page_size;
	unsigned int nr_possible_cpus;
	int nr_nodes; /* online NUMA nodes; 1 on most machines */
	bool guard_regions; /* MADV_GUARD_INSTALL/REMOVE work */
	bool batch_advice; /* process_madvise() on ourselves works */
	bool pagemap_scan; /* the PAGEMAP_SCAN ioctl works */
	bool pagemap_read; /* reading /proc/self/pagemap works */
};

/*
 * A strided range: @count ranges of @len bytes, the k-th at
 * @addr + k * @stride.  This is the shape of "pages [a, b) in every unit".
 */
struct pcpu_os_range {
	char *addr;
	size_t len;
	size_t stride;
	unsigned int count;
};

int pcpu_os_init(struct pcpu_os_caps *caps);
void pcpu_os_after_fork_child(void);

int pcpu_os_reserve(size_t len, size_t align, void **addrp);
int pcpu_os_release(void *addr, size_t len);
int pcpu_os_guard(const struct pcpu_os_range *r);
int pcpu_os_unguard(const struct pcpu_os_range *r);
int pcpu_os_zap(const struct pcpu_os_range *r);
int pcpu_os_nohugepage(void *addr, size_t len);
int pcpu_os_bind(void *addr, size_t len, int node);
int pcpu_os_cpu_to_node(unsigned int cpu);
int pcpu_os_membarrier(int cmd);
int pcpu_os_getcpu(void);

/*
 * pcpu_os_scan_present - report the pages of [addr, addr + len) that exist
 * (present in memory or swapped out): @fn is called once per run of such
 * pages with the run's bounds.  Pages never touched are not reported.
 */
typedef void (*pcpu_os_present_fn)(char *start, char *end, void *arg);
int pcpu_os_scan_present(char *addr, size_t len, pcpu_os_present_fn fn,
			 void *arg);
/* The same, for the memory-checker hooks of sanitize.c: counted apart, so
 * that fault injection into the allocator's own scans is unaffected by
 * whether a checker is built in. */
int pcpu_os_scan_for_checker(char *addr, size_t len, pcpu_os_present_fn fn,
			     void *arg);

/* Test-only: make system call number @nth (1-based, counted from now) of
 * kind @call fail with -@err before it reaches the kernel; @nth == 0
 * disarms.  A function that makes several system calls (one per unit, when
 * the kernel cannot batch) counts each. */
void pcpu_os_inject_fault(enum pcpu_os_call call, unsigned long nth, int err);
/* Test-only: system calls of kind @call since it was last armed. */
unsigned long pcpu_os_calls(enum pcpu_os_call call);
/* Test-only: call @hook inside each presence scan of the allocator. */
void pcpu_os_set_scan_hook(void (*hook)(void));
/* Test-only: read the CPU and node lists under @root instead of /sys
 * (NULL: /sys again), as a container's virtualised sysfs would show. */
void pcpu_os_set_sysfs_root(const char *root);
/* Test-only: pretend the kernel lacks guard regions / batched advice. */
void pcpu_os_force_caps(struct pcpu_os_caps *caps);

#endif /* PCPU_OS_H */
