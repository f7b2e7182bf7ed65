// SPDX-License-Identifier: MIT
/*
 * unload_plugin.c - a plugin that inlines this-CPU operations and is
 * dlclose()d by tests/unload.c while the threads that ran them live on.
 * Built twice: with PCPU_UNLOADABLE (every section disarms itself) and
 * without (each thread calls pcpu_rseq_clear() before the unload).
 */
#include <pcpu.h>
#include <pcpu/ops.h>

/* Only the plugin's own critical sections (and their descriptors, in its
 * own __rseq_cs section) run here. */
__attribute__((visibility("default"))) void plugin_bump(unsigned long *p,
							unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		pcpu_inc(p);
}
