/* SPDX-License-Identifier: MIT */
/*
 * track.h - what libpcpu tells memory checkers, header-only, for every
 * layer (the os layer included) to use.
 *
 * AddressSanitizer is compiled in when the library is built with it
 * (PCPU_ASAN); valgrind's memcheck is found at run time (client requests
 * are a few no-op instructions when nothing watches, and pcpu_track_valgrind
 * caches the answer, set once at start-up by pcpu_track_init()).  Every
 * function here is a no-op in a plain build run natively.
 */
#ifndef PCPU_TRACK_H
#define PCPU_TRACK_H

#include <stdbool.h>
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define PCPU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PCPU_ASAN 1
#endif
#endif
#ifndef PCPU_ASAN
#define PCPU_ASAN 0
#endif

#if PCPU_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define PCPU_HAVE_VALGRIND 1
#endif
#endif

/* Nonzero when memcheck watches the process (set by pcpu_track_init()). */
extern bool pcpu_track_valgrind;

/* Find out, once, whether memcheck watches.  Context: start-up. */
static inline void pcpu_track_init(void)
{
#ifdef PCPU_HAVE_VALGRIND
	pcpu_track_valgrind = RUNNING_ON_VALGRIND != 0;
#endif
}

/* Is any checker watching?  One predicted branch in plain builds. */
static inline bool pcpu_track_active(void)
{
	return PCPU_ASAN || __builtin_expect(pcpu_track_valgrind, 0);
}

/* Mark [addr, addr + len) accessible (its bytes defined) or not. */
static inline void pcpu_track_mark(char *addr, size_t len, bool live)
{
#if PCPU_ASAN
	/* writing the shadow, even zeros, costs a page of it: only where
	 * something is poisoned */
	if (live && __asan_region_is_poisoned(addr, len))
		ASAN_UNPOISON_MEMORY_REGION(addr, len);
	else if (!live)
		ASAN_POISON_MEMORY_REGION(addr, len);
#endif
#ifdef PCPU_HAVE_VALGRIND
	if (pcpu_track_valgrind) {
		if (live)
			(void)VALGRIND_MAKE_MEM_DEFINED(addr, len);
		else
			(void)VALGRIND_MAKE_MEM_NOACCESS(addr, len);
	}
#endif
	(void)addr;
	(void)len;
	(void)live;
}

/* The kernel filled [addr, addr + len) through an ioctl memcheck does not
 * know (PAGEMAP_SCAN): the bytes are defined. */
static inline void pcpu_track_kernel_wrote(void *addr, size_t len)
{
#ifdef PCPU_HAVE_VALGRIND
	if (pcpu_track_valgrind)
		(void)VALGRIND_MAKE_MEM_DEFINED(addr, len);
#endif
	(void)addr;
	(void)len;
}

#endif /* PCPU_TRACK_H */
