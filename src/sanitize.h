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

#include "track.h"

static inline bool pcpu_san_active(void)
{
	return pcpu_track_active();
}

void pcpu_san_alloc(char *ptr, size_t size, bool nowait);
void pcpu_san_free(char *ptr, size_t size);
void pcpu_san_forget(char *ptr, size_t size);
void pcpu_san_open(char *addr, size_t len);
void pcpu_san_close(char *addr, size_t len);

#endif /* PCPU_SANITIZE_H */
