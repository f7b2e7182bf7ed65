/* SPDX-License-Identifier: MIT */
/*
 * pcpu/stats.h - allocator statistics in the kernel's percpu_stats format.
 */
#ifndef PCPU_STATS_H
#define PCPU_STATS_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef PCPU_API
#define PCPU_API __attribute__((visibility("default")))
#endif

PCPU_API int pcpu_stats_print(FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* PCPU_STATS_H */
