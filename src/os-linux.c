// SPDX-License-Identifier: MIT
/*
 * os-linux.c - every system call libpcpu makes.
 *
 * Address space is reserved with one read-write MAP_NORESERVE mapping per
 * chunk; nothing here ever splits it except the fallbacks for kernels
 * without guard regions, which use mprotect() and say so.  Capabilities are
 * probed once, at pcpu_os_init(), never chosen at build time.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "os.h"
#include "track.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif
#ifndef MPOL_PREFERRED
#define MPOL_PREFERRED 1
#endif

/* The PAGEMAP_SCAN ioctl (Linux 6.7); the installed headers may lack it. */
struct pcpu_page_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

struct pcpu_pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

#define PCPU_PAGEMAP_SCAN _IOWR('f', 16, struct pcpu_pm_scan_arg)
#define PCPU_PAGE_IS_PRESENT (1ULL << 3)
#define PCPU_PAGE_IS_SWAPPED (1ULL << 4)
#define PCPU_PAGE_IS_GUARD (1ULL << 8) /* Linux 6.14 */
#define PCPU_PM_PRESENT (1ULL << 63)
#define PCPU_PM_SWAPPED (1ULL << 62)
#define PCPU_PM_GUARD (1ULL << 58) /* Linux 6.14; zero before */

static struct pcpu_os_caps os_caps;
/* track.h's flag: kept by the lowest layer, which every other one uses */
bool pcpu_track_valgrind;
/* PAGEMAP_SCAN can leave out guard markers (which it reports as swapped) */
static bool os_scan_guard_category;
static int os_pagemap_fd = -1;
static int os_pidfd = -1;

static unsigned long os_calls[PCPU_OS_NR_CALLS];
static unsigned long os_fail_at[PCPU_OS_NR_CALLS];
static int os_fail_err[PCPU_OS_NR_CALLS];
static void (*os_scan_hook)(void);
/* where sysfs is: "/sys", or a test's directory of the same shape */
static const char *os_sysfs = "/sys";

void pcpu_os_set_sysfs_root(const char *root)
{
	os_sysfs = root ? root : "/sys";
}

/**
 * pcpu_os_set_scan_hook - run @hook inside every presence scan (tests)
 * @hook: called before the scan's system call, or NULL to disarm
 *
 * Lets a test hold a thread inside the system call of a presence scan.
 *
 * Context: any.
 */
void pcpu_os_set_scan_hook(void (*hook)(void))
{
	__atomic_store_n(&os_scan_hook, hook, __ATOMIC_RELEASE);
}

static int os_inject(enum pcpu_os_call call)
{
	unsigned long n =
		__atomic_add_fetch(&os_calls[call], 1, __ATOMIC_RELAXED);

	if (__builtin_expect(os_fail_at[call] != 0, 0) && n == os_fail_at[call])
		return -os_fail_err[call];
	return 0;
}

void pcpu_os_inject_fault(enum pcpu_os_call call, unsigned long nth, int err)
{
	os_calls[call] = 0;
	os_fail_err[call] = err;
	os_fail_at[call] = nth;
}

unsigned long pcpu_os_calls(enum pcpu_os_call call)
{
	return __atomic_load_n(&os_calls[call], __ATOMIC_RELAXED);
}

void pcpu_os_force_caps(struct pcpu_os_caps *caps)
{
	os_caps = *caps;
}

static bool os_aligned(const void *addr, size_t len)
{
	size_t mask = os_caps.page_size - 1;

	return len && !((uintptr_t)addr & mask) && !(len & mask);
}

/* Highest number in a sysfs CPU/node list such as "0-3,8-11", plus one. */
static int os_read_list_count(const char *name)
{
	char buf[4096], path[PATH_MAX];
	int fd, count = -ENOENT;
	ssize_t n;
	char *p;

	snprintf(path, sizeof(path), "%s/devices/system/%s", os_sysfs, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	for (p = buf; *p && *p != '\n';) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p || v < 0 || v >= INT_MAX)
			return -EINVAL;
		if (v + 1 > count)
			count = (int)v + 1;
		p = end;
		if (*p == '-' || *p == ',')
			p++;
	}
	return count;
}

/*
 * os_cached_fd - keep @fd (just opened, or negative with errno set) in
 * @slot unless another thread got there first; then close ours and use
 * theirs.  Return: the descriptor, or -errno.
 */
static int os_cached_fd(int *slot, int fd)
{
	int expected = -1;

	if (fd < 0)
		return -errno;
	if (!__atomic_compare_exchange_n(slot, &expected, fd, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		close(fd);
		fd = expected;
	}
	return fd;
}

static int os_pagemap(void)
{
	int fd = __atomic_load_n(&os_pagemap_fd, __ATOMIC_ACQUIRE);

	if (fd >= 0)
		return fd;
	return os_cached_fd(&os_pagemap_fd,
			    open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
}

static int os_self_pidfd(void)
{
	int fd = __atomic_load_n(&os_pidfd, __ATOMIC_ACQUIRE);

	if (fd >= 0)
		return fd;
	return os_cached_fd(&os_pidfd,
			    (int)syscall(SYS_pidfd_open, getpid(), 0));
}

/*
 * os_each_unit - @call (madvise or mprotect) on each of @r's ranges, one
 * system call each, stopping at the first failure.
 * Return: 0 or -errno.
 */
static int os_each_unit(const struct pcpu_os_range *r,
			int (*call)(void *, size_t, int), int arg,
			enum pcpu_os_call kind)
{
	unsigned int i;

	for (i = 0; i < r->count; i++) {
		int ret = os_inject(kind);

		if (ret)
			return ret;
		if (call(r->addr + i * r->stride, r->len, arg))
			return -errno;
	}
	return 0;
}

/*
 * os_advise - apply @advice to every range of @r, in as few system calls as
 * the kernel allows: one madvise() when the ranges touch, one
 * process_madvise() per 64 ranges when that works on ourselves, one
 * madvise() per range otherwise.
 */
static int os_advise(const struct pcpu_os_range *r, int advice,
		     enum pcpu_os_call kind)
{
	struct iovec iov[64];
	unsigned int i, done;

	if (!os_aligned(r->addr, r->len) || !r->count ||
	    (r->count > 1 && !os_aligned(r->addr, r->stride)))
		return -EINVAL;
	if (r->count == 1 || r->stride == r->len) {
		int ret = os_inject(kind);

		if (ret)
			return ret;
		return madvise(r->addr, r->len * r->count, advice) ? -errno : 0;
	}
	if (os_caps.batch_advice) {
		int pidfd = os_self_pidfd();

		for (done = 0; pidfd >= 0 && done < r->count;) {
			unsigned int n = r->count - done;
			size_t want = 0;
			ssize_t got;

			if (n > 64)
				n = 64;
			for (i = 0; i < n; i++) {
				iov[i].iov_base =
					r->addr + (done + i) * r->stride;
				iov[i].iov_len = r->len;
				want += r->len;
			}
			got = os_inject(kind);
			if (got)
				return (int)got;
			got = syscall(SYS_process_madvise, pidfd, iov, n,
				      advice, 0);
			if (got < 0)
				return -errno;
			if ((size_t)got != want)
				return -EAGAIN;
			done += n;
		}
		if (pidfd >= 0)
			return 0;
	}
	return os_each_unit(r, madvise, advice, kind);
}

static int os_protect(const struct pcpu_os_range *r, int prot,
		      enum pcpu_os_call kind)
{
	if (!os_aligned(r->addr, r->len) || !r->count)
		return -EINVAL;
	return os_each_unit(r, mprotect, prot, kind);
}

/*
 * Does the kernel refuse to read the page at @p?  A write() from it into a
 * pipe fails with EFAULT when it is guarded; a guard that is not really
 * there (qemu-user answers MADV_GUARD_INSTALL with 0) lets it through.
 */
static bool os_page_faults(const void *p)
{
	int fd[2];
	bool faults;

	if (pipe2(fd, O_CLOEXEC))
		return false;
	faults = write(fd[1], p, 1) < 0 && errno == EFAULT;
	close(fd[0]);
	close(fd[1]);
	return faults;
}

/* Guard regions that really guard, and really go away again. */
static bool os_probe_guard(char *p)
{
	if (madvise(p, os_caps.page_size, MADV_GUARD_INSTALL))
		return false;
	if (!os_page_faults(p)) {
		(void)madvise(p, os_caps.page_size, MADV_GUARD_REMOVE);
		return false;
	}
	return !madvise(p, os_caps.page_size, MADV_GUARD_REMOVE) &&
	       !os_page_faults(p);
}

/* process_madvise() on ourselves that really drops two pages. */
static bool os_probe_batch(char *p)
{
	size_t ps = os_caps.page_size;
	struct iovec iov[2] = {{p, ps}, {p + 2 * ps, ps}};
	int pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	bool ok;

	if (pidfd < 0)
		return false;
	p[0] = p[2 * ps] = 1;
	ok = syscall(SYS_process_madvise, pidfd, iov, 2, MADV_DONTNEED, 0) ==
		     (ssize_t)(2 * ps) &&
	     !p[0] && !p[2 * ps];
	close(pidfd);
	return ok;
}

/* The probe's present pages: exactly the second of four. */
struct os_probe_seen {
	char *p;
	int runs;
	bool right;
};

static void os_probe_run(char *start, char *end, void *arg)
{
	struct os_probe_seen *seen = arg;

	seen->right = !seen->runs++ && start == seen->p + os_caps.page_size &&
		      end == seen->p + 2 * os_caps.page_size;
}

static bool os_probe_scan(char *p, int (*scan)(char *, size_t,
					       pcpu_os_present_fn, void *))
{
	struct os_probe_seen seen = {p, 0, false};

	return !scan(p, 4 * os_caps.page_size, os_probe_run, &seen) &&
	       seen.right;
}

static int os_scan_ioctl(char *addr, size_t len, pcpu_os_present_fn fn,
			 void *arg);
static int os_scan_pagemap_read(char *addr, size_t len, pcpu_os_present_fn fn,
				void *arg);

/* PAGEMAP_SCAN that leaves guard markers out (Linux 6.14's PAGE_IS_GUARD),
 * tried on a guarded page 0. */
static bool os_probe_guard_category(char *p)
{
	bool ok;

	if (madvise(p, os_caps.page_size, MADV_GUARD_INSTALL))
		return false;
	os_scan_guard_category = true;
	ok = os_probe_scan(p, os_scan_ioctl);
	os_scan_guard_category = false;
	(void)madvise(p, os_caps.page_size, MADV_GUARD_REMOVE);
	return ok;
}

/*
 * os_probe - what the kernel offers, each capability verified by its
 * effect on four probe pages, not by a return value.
 */
static void os_probe(struct pcpu_os_caps *caps)
{
	size_t ps = caps->page_size;
	char *p = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return;
	caps->guard_regions = os_probe_guard(p);
	caps->batch_advice = os_probe_batch(p);
	/* the presence scans: only page 1 exists now */
	(void)madvise(p, 4 * ps, MADV_DONTNEED);
	p[ps] = 1;
	caps->pagemap_read = os_probe_scan(p, os_scan_pagemap_read);
	caps->pagemap_scan = os_probe_scan(p, os_scan_ioctl);
	os_scan_guard_category = caps->pagemap_scan && caps->guard_regions &&
				 os_probe_guard_category(p);
	munmap(p, 4 * ps);
	if (os_pagemap_fd >= 0 && !caps->pagemap_read && !caps->pagemap_scan) {
		close(os_pagemap_fd);
		os_pagemap_fd = -1;
	}
}

/**
 * pcpu_os_init - find what the system offers
 * @caps: filled with the page size, possible CPUs, NUMA nodes and the
 *        kernel features libpcpu can use
 *
 * Context: called once, under the start-up lock.
 * Return: 0, or a negative errno when the page size cannot be read.
 */
int pcpu_os_init(struct pcpu_os_caps *caps)
{
	long ps = sysconf(_SC_PAGESIZE);
	int n;

	memset(caps, 0, sizeof(*caps));
	if (ps <= 0)
		return -EINVAL;
	caps->page_size = (size_t)ps;
	n = os_read_list_count("cpu/possible");
	if (n <= 0)
		n = (int)sysconf(_SC_NPROCESSORS_CONF);
	caps->nr_possible_cpus = n > 0 ? (unsigned int)n : 1;
	n = os_read_list_count("node/online");
	caps->nr_nodes = n > 0 ? n : 1;
	os_caps.page_size = caps->page_size;
	os_probe(caps);
	os_caps = *caps;
	return 0;
}

/**
 * pcpu_os_after_fork_child - forget descriptors that name the parent
 *
 * /proc/self/pagemap and the pidfd were opened for the parent's address
 * space; the child opens its own on first use.
 *
 * Context: the child of fork(), single threaded.
 */
void pcpu_os_after_fork_child(void)
{
	if (os_pagemap_fd >= 0)
		close(os_pagemap_fd);
	if (os_pidfd >= 0)
		close(os_pidfd);
	os_pagemap_fd = -1;
	os_pidfd = -1;
}

/**
 * pcpu_os_reserve - reserve address space
 * @len: bytes, page aligned
 * @align: power-of-two alignment of the start, at least the page size
 * @addrp: receives the start
 *
 * One private, anonymous, read-write, MAP_NORESERVE mapping: it costs
 * address space only until a page is touched.
 *
 * Return: 0, -EINVAL for a bad argument, -ENOMEM when no space is left.
 */
int pcpu_os_reserve(size_t len, size_t align, void **addrp)
{
	size_t span, head, tail;
	char *p, *start;
	int ret = os_inject(PCPU_OS_RESERVE);

	if (ret)
		return ret;
	if (!os_aligned(NULL, len) || align < os_caps.page_size ||
	    (align & (align - 1)) || len + align < len)
		return -EINVAL;
	span = len + align - os_caps.page_size;
	p = mmap(NULL, span, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	start = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	head = (size_t)(start - p);
	tail = span - head - len;
	if (head)
		munmap(p, head);
	if (tail)
		munmap(start + len, tail);
	*addrp = start;
	return 0;
}

/**
 * pcpu_os_release - give back address space from pcpu_os_reserve()
 * @addr: start
 * @len: bytes
 *
 * Return: 0, or a negative errno from munmap().
 */
int pcpu_os_release(void *addr, size_t len)
{
	int ret = os_inject(PCPU_OS_RELEASE);

	if (ret)
		return ret;
	if (!os_aligned(addr, len))
		return -EINVAL;
	return munmap(addr, len) ? -errno : 0;
}

/**
 * pcpu_os_guard - make ranges inaccessible and drop their contents
 * @r: the ranges
 *
 * With guard regions (Linux 6.13+) this edits page tables only: the VMA
 * count does not change.  Without them it falls back to mprotect(PROT_NONE)
 * plus MADV_DONTNEED, which splits the mapping (one more VMA per range).
 *
 * Return: 0, or a negative errno; on failure some ranges may be guarded.
 */
int pcpu_os_guard(const struct pcpu_os_range *r)
{
	int ret;

	if (os_caps.guard_regions)
		return os_advise(r, MADV_GUARD_INSTALL, PCPU_OS_GUARD_INSTALL);
	ret = os_protect(r, PROT_NONE, PCPU_OS_GUARD_INSTALL);
	return ret ? ret : os_advise(r, MADV_DONTNEED, PCPU_OS_GUARD_INSTALL);
}

/**
 * pcpu_os_unguard - make guarded ranges accessible again (reading zero)
 * @r: the ranges
 *
 * Return: 0, or a negative errno; on failure some ranges may be unguarded.
 */
int pcpu_os_unguard(const struct pcpu_os_range *r)
{
	if (os_caps.guard_regions)
		return os_advise(r, MADV_GUARD_REMOVE, PCPU_OS_GUARD_REMOVE);
	return os_protect(r, PROT_READ | PROT_WRITE, PCPU_OS_GUARD_REMOVE);
}

/**
 * pcpu_os_zap - return the memory behind ranges to the system
 * @r: the ranges; they stay mapped and read back zero
 *
 * Return: 0, or a negative errno from madvise(MADV_DONTNEED).
 */
int pcpu_os_zap(const struct pcpu_os_range *r)
{
	return os_advise(r, MADV_DONTNEED, PCPU_OS_ZAP);
}

/**
 * pcpu_os_nohugepage - keep transparent huge pages out of a range
 * @addr: start
 * @len: bytes
 *
 * Return: 0, or a negative errno; -EINVAL from a kernel without THP is
 * reported as success since there is nothing to keep out.
 */
int pcpu_os_nohugepage(void *addr, size_t len)
{
	int ret = os_inject(PCPU_OS_NOHUGEPAGE);

	if (ret)
		return ret;
	if (!os_aligned(addr, len))
		return -EINVAL;
	if (madvise(addr, len, MADV_NOHUGEPAGE))
		return errno == EINVAL ? 0 : -errno;
	return 0;
}

/**
 * pcpu_os_bind - prefer NUMA node @node for the pages of a range
 * @addr: start
 * @len: bytes
 * @node: the node, < the number of online nodes
 *
 * A raw mbind(MPOL_PREFERRED); no libnuma.
 *
 * Return: 0, or a negative errno.
 */
int pcpu_os_bind(void *addr, size_t len, int node)
{
	unsigned long mask[16] = {0};
	int ret = os_inject(PCPU_OS_BIND);

	if (ret)
		return ret;
	if (!os_aligned(addr, len) || node < 0 ||
	    node >= (int)(sizeof(mask) * 8))
		return -EINVAL;
	mask[node / (8 * sizeof(long))] = 1UL << (node % (8 * sizeof(long)));
	if (syscall(SYS_mbind, addr, len, MPOL_PREFERRED, mask,
		    sizeof(mask) * 8 + 1, 0))
		return -errno;
	return 0;
}

/**
 * pcpu_os_cpu_to_node - the NUMA node of a CPU
 * @cpu: CPU number
 *
 * Return: the node (0 on single-node machines, without looking), or a
 * negative errno when sysfs does not say.
 */
int pcpu_os_cpu_to_node(unsigned int cpu)
{
	char path[64];
	struct dirent *de;
	DIR *dir;
	int node = -ENOENT;

	if (os_caps.nr_nodes <= 1)
		return 0;
	snprintf(path, sizeof(path), "%s/devices/system/cpu/cpu%u", os_sysfs,
		 cpu);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir)))
		if (!strncmp(de->d_name, "node", 4) && de->d_name[4] >= '0' &&
		    de->d_name[4] <= '9') {
			node = atoi(de->d_name + 4);
			break;
		}
	closedir(dir);
	return node;
}

static int os_scan_pagemap_read(char *addr, size_t len, pcpu_os_present_fn fn,
				void *arg)
{
	uint64_t ent[512];
	size_t ps = os_caps.page_size, npages = len / ps, i = 0;
	char *run = NULL;
	int fd = os_pagemap();

	if (fd < 0)
		return fd;
	while (i < npages) {
		size_t n = npages - i, k;
		off_t off =
			(off_t)(((uintptr_t)addr / ps + i) * sizeof(ent[0]));
		ssize_t got;

		if (n > 512)
			n = 512;
		got = pread(fd, ent, n * sizeof(ent[0]), off);
		if (got < (ssize_t)sizeof(ent[0]))
			return got < 0 ? -errno : -EIO;
		n = (size_t)got / sizeof(ent[0]);
		for (k = 0; k < n; k++, i++) {
			char *page = addr + i * ps;
			bool here = (ent[k] &
				     (PCPU_PM_PRESENT | PCPU_PM_SWAPPED)) &&
				    !(ent[k] & PCPU_PM_GUARD);

			if (here && !run)
				run = page;
			else if (!here && run) {
				fn(run, page, arg);
				run = NULL;
			}
		}
	}
	if (run)
		fn(run, addr + len, arg);
	return 0;
}

static int os_scan_ioctl(char *addr, size_t len, pcpu_os_present_fn fn,
			 void *arg)
{
	struct pcpu_page_region reg[32];
	struct pcpu_pm_scan_arg a;
	uint64_t end = (uintptr_t)(addr + len);
	int fd = os_pagemap();

	if (fd < 0)
		return fd;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.start = (uintptr_t)addr;
	a.end = end;
	a.vec = (uintptr_t)reg;
	a.vec_len = 32;
	a.category_anyof_mask = PCPU_PAGE_IS_PRESENT | PCPU_PAGE_IS_SWAPPED;
	a.return_mask = a.category_anyof_mask;
	if (os_scan_guard_category) {
		a.category_inverted = PCPU_PAGE_IS_GUARD;
		a.category_mask = PCPU_PAGE_IS_GUARD;
	}
	for (;;) {
		int i, n = ioctl(fd, PCPU_PAGEMAP_SCAN, &a);

		if (n < 0)
			return -errno;
		pcpu_track_kernel_wrote(reg, (size_t)n * sizeof(reg[0]));
		pcpu_track_kernel_wrote(&a, sizeof(a));
		for (i = 0; i < n; i++)
			fn((char *)(uintptr_t)reg[i].start,
			   (char *)(uintptr_t)reg[i].end, arg);
		if (a.walk_end >= end)
			return 0;
		if (a.walk_end <= a.start)
			return -EIO; /* no progress: not a working scan */
		a.start = a.walk_end;
	}
}

/* The scan behind both entry points; @kind is counted for injection. */
static int os_scan(enum pcpu_os_call kind, char *addr, size_t len,
		   pcpu_os_present_fn fn, void *arg)
{
	int ret = os_inject(kind);
	void (*hook)(void) = __atomic_load_n(&os_scan_hook, __ATOMIC_ACQUIRE);

	if (ret)
		return ret;
	if (!os_aligned(addr, len))
		return -EINVAL;
	if (__builtin_expect(hook != NULL, 0) && kind == PCPU_OS_SCAN)
		hook();
	if (os_caps.pagemap_scan)
		return os_scan_ioctl(addr, len, fn, arg);
	if (os_caps.pagemap_read)
		return os_scan_pagemap_read(addr, len, fn, arg);
	/* the kernel cannot say: every page may hold something */
	fn(addr, addr + len, arg);
	return 0;
}

/**
 * pcpu_os_scan_present - which pages of a range exist
 * @addr: start
 * @len: bytes
 * @fn: called for each run of present-or-swapped pages, in address order
 * @arg: passed to @fn
 *
 * Uses the PAGEMAP_SCAN ioctl where the kernel has it, else reads
 * /proc/self/pagemap; where neither works (a seccomp filter, no /proc) it
 * reports the whole range, so callers read every page: correct, and it
 * costs the idle units' pages.  Both report swapped-out pages too (mincore()
 * does not, so it is never used: a dirty page in swap must not be mistaken for
 * an untouched one).  Guard regions, which the kernel reports as swapped
 * entries, are left out.  Nothing is faulted in.
 *
 * Context: any.
 * Return: 0, or a negative errno.
 */
int pcpu_os_scan_present(char *addr, size_t len, pcpu_os_present_fn fn,
			 void *arg)
{
	return os_scan(PCPU_OS_SCAN, addr, len, fn, arg);
}

/**
 * pcpu_os_scan_for_checker - pcpu_os_scan_present() for sanitize.c
 * @addr: page-aligned start
 * @len: page-aligned length
 * @fn: called once per run of pages that exist
 * @arg: passed to @fn
 *
 * Context: any.
 * Return: 0 or a negative errno.
 */
int pcpu_os_scan_for_checker(char *addr, size_t len, pcpu_os_present_fn fn,
			     void *arg)
{
	return os_scan(PCPU_OS_SAN_SCAN, addr, len, fn, arg);
}

/**
 * pcpu_os_membarrier - membarrier(2) on this process
 * @cmd: a MEMBARRIER_CMD_* command
 *
 * Context: any; signal handlers included.
 * Return: what the kernel returns (0, or MEMBARRIER_CMD_QUERY's mask), or
 * a negative errno (-ENOSYS, -EINVAL, -EPERM where the kernel or a seccomp
 * filter refuses).
 */
int pcpu_os_membarrier(int cmd)
{
	long ret = syscall(SYS_membarrier, cmd, 0, 0);

	return ret < 0 ? -errno : (int)ret;
}

/**
 * pcpu_os_getcpu - the CPU the calling thread runs on, from the kernel
 *
 * For threads whose rseq area says nothing (no registration): the vDSO's
 * getcpu, or the system call.
 *
 * Context: any; signal handlers included.
 * Return: the CPU number, or a negative errno.
 */
int pcpu_os_getcpu(void)
{
	int cpu = sched_getcpu();

	return cpu < 0 ? -errno : cpu;
}
