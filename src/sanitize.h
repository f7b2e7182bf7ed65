/* SPDX-License-Identifier: MIT */
/*
 * sanitize.h - telling memory checkers which per-CPU bytes are live.
 *
 * A freed area is poisoned in every unit whose page exists, and made
 * accessible again in every unit when it is handed out, so that a use
 * after free through pcpu_ptr() is reported by the tool watching:
 * AddressSanitizer (compiled in when the library is built with it) or
 * valgrind's memcheck (client requests, found at run time).
 *
 * Pages that do not exist are never poisoned: with no shared zero page,
 * ASan's shadow of an idle unit would otherwise cost memory on every
 * free.  Hence the invariant "poisoned shadow only over pages that exist",
 * kept by clearing the shadow before pages are zapped or released.
 *
 * Every hook is a no-op in a plain build run natively; callers test
 * pcpu_san_active() first so the fast paths pay one predicted branch.
 */
#ifndef PCPU_SANITIZE_H
#define PCPU_SANITIZE_H

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

extern bool pcpu_san_valgrind;

static inline bool pcpu_san_active(void)
{
	return PCPU_ASAN || __builtin_expect(pcpu_san_valgrind, 0);
}

void pcpu_san_init(void);
void pcpu_san_alloc(char *ptr, size_t size, bool nowait);
void pcpu_san_free(char *ptr, size_t size);
void pcpu_san_forget(char *ptr, size_t size);
void pcpu_san_open(char *addr, size_t len);
void pcpu_san_close(char *addr, size_t len);
void pcpu_san_kernel_wrote(void *addr, size_t len);

#endif /* PCPU_SANITIZE_H */
