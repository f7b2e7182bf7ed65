/* SPDX-License-Identifier: MIT */
/*
 * trace.h - USDT probes named and shaped like the kernel's percpu
 * tracepoints, when <sys/sdt.h> (Debian's systemtap-sdt-dev) was there at
 * build time; nothing otherwise.  List them with `readelf -n libpcpu.so`,
 * trace them with bpftrace (usdt:...:libpcpu:percpu_alloc_percpu) or perf.
 */
#ifndef PCPU_TRACE_H
#define PCPU_TRACE_H

#if defined(__has_include)
#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#define PCPU_HAVE_SDT 1
#endif
#endif

#ifdef PCPU_HAVE_SDT
#define pcpu_trace1(name, a) STAP_PROBE1(libpcpu, name, a)
#define pcpu_trace2(name, a, b) STAP_PROBE2(libpcpu, name, a, b)
#define pcpu_trace3(name, a, b, c) STAP_PROBE3(libpcpu, name, a, b, c)
#define pcpu_trace4(name, a, b, c, d) STAP_PROBE4(libpcpu, name, a, b, c, d)
#else
/* The arguments are named (unevaluated) so that they stay "used". */
#define pcpu_trace1(name, a) ((void)sizeof(a))
#define pcpu_trace2(name, a, b) ((void)sizeof(a), (void)sizeof(b))
#define pcpu_trace3(name, a, b, c) (pcpu_trace2(name, a, b), (void)sizeof(c))
#define pcpu_trace4(name, a, b, c, d) \
	(pcpu_trace2(name, a, b), pcpu_trace2(name, c, d))
#endif

#endif /* PCPU_TRACE_H */
